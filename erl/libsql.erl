%% @doc libsql: SQLite, libSQL and Turso databases for Erlang.
%%
%% All database work runs in a separate OS process (priv/libsql_port), one
%% per connection, so nothing the database does can take the VM down: the
%% worst case is `{error, #{code := port_exited}}' for the callers of that
%% one connection.
%%
%% `Db' in every function is a connection pid returned by {@link open/1}.
%%
%% Values: NULL is `null' (`undefined' is accepted on input), INTEGER an
%% integer (64-bit; out of range is an error), REAL a float (`infinity' and
%% `neg_infinity' for the infinities), TEXT a binary (UTF-8), BLOB
%% `{blob, Binary}'; `true'/`false' bind as 1/0 and `{text, IoData}' binds
%% text. Parameters are a list (binds `?' and `?NNN' by position) or a map
%% (binds `:name', `@name', `$name'; keys are atoms or binaries).
%%
%% Errors are `{error, #{code := atom(), message := binary()}}' plus, where
%% known, `extended_code', `sql', `parameter', `exit_status';
%% {@link format_error/1} turns any of them into a sentence.
-module(libsql).

-include("libsql.hrl").

-export([open/1, close/1, ping/1, ping/2,
         query/2, query/3, query/4,
         execute/2, execute/3, execute/4,
         transaction/2, transaction/3,
         format_error/1]).
-export([prepare/2, finalize/1, stmt_info/1,
         batch/2, batch/3, execute_many/3, execute_many/4,
         execute_script/2, execute_script/3,
         cursor_open/3, cursor_open/4, fetch/2, cursor_close/1, fold/5, fold/6,
         begin_transaction/1, begin_transaction/2, commit/1, rollback/1,
         savepoint/2, release/2, rollback_to/2,
         info/1, stats/1, set_busy_timeout/2, interrupt/1, reset/1,
         limit/2, limit/3, backup/2, backup/3]).

-export_type([db/0, conn/0, open_opts/0, value/0, params/0, row/0, error/0,
              query_opts/0, transaction_opts/0, stmt/0, cursor/0, sql/0,
              batch_result/0, limit_name/0]).

-type conn() :: pid().
-type db() :: conn().
-type value() :: null | undefined | boolean() | integer() | float() | binary()
               | {blob, binary()} | {text, iodata()} | infinity | neg_infinity.
-type params() :: [value()] | #{atom() | binary() => value()}.
-type row() :: tuple() | #{binary() => value()}.
-type error() :: #{code := atom(), message := binary(), atom() => term()}.
-type open_opts() :: #{path := file:name_all(),
                       read_only => boolean(),
                       create => boolean(),
                       busy_timeout => non_neg_integer(),
                       timeout => timeout(),
                       max_frame => pos_integer(),
                       port_executable => file:filename_all(),
                       atom() => term()}.
-type query_opts() :: #{timeout => timeout(), rows => tuples | maps}.
-type stmt() :: #libsql_stmt{}.
-type cursor() :: #libsql_cursor{}.
-type sql() :: iodata() | stmt().
-type batch_result() :: #{columns := [binary()], rows := [row()],
                          changes := non_neg_integer(), last_insert_rowid := integer()}.
-type limit_name() :: length | sql_length | column | expr_depth | compound_select | vdbe_op
                    | function_arg | attached | like_pattern_length | variable_number
                    | trigger_depth | worker_threads.
-type transaction_opts() :: #{mode => deferred | immediate | exclusive | read_only,
                              timeout => timeout()}.

-define(TX_KEY(Db), {libsql_tx, Db}).

%% ---- connections ---------------------------------------------------------

%% @doc Open a connection to a local database file.
%%
%% Options: `path' (required: a file name, `":memory:"' or a `file:' URI),
%% `read_only' (default false), `create' (default true: create a missing
%% file), `busy_timeout' (ms to wait on a locked database, default 5000),
%% `timeout' (default for every call on this connection, default 15000),
%% `max_frame' (largest request in bytes, default 256 MiB).
%% The connection belongs to the calling process and closes when it exits.
-spec open(Opts :: open_opts()) -> {ok, conn()} | {error, error()}.
open(Opts) when is_map(Opts) ->
    case open_port_opts(Opts) of
        {ok, PortOpts} ->
            {ok, _} = application:ensure_all_started(libsql),
            case libsql_conn_sup:start_conn(self(), Opts) of
                {ok, Conn} ->
                    case libsql_conn:open(Conn, PortOpts, default) of
                        {ok, _Info} ->
                            {ok, Conn};
                        {error, _} = E ->
                            _ = libsql_conn:close(Conn, default),
                            E
                    end;
                {error, Reason} ->
                    {error, libsql_proto:err(
                              port_exited,
                              io_lib:format("could not start the port program: ~0tP",
                                            [Reason, 10]))}
            end;
        {error, _} = E ->
            E
    end;
open(_) ->
    {error, libsql_proto:err(bad_argument, <<"open takes a map of options">>)}.

open_port_opts(#{url := _}) ->
    {error, libsql_proto:err(not_supported,
                               <<"remote and replica connections are not available yet">>)};
open_port_opts(#{path := Path} = Opts) ->
    try
        P = path(Path),
        {ok, [{path, P} | [port_opt(K, V) || {K, V} <- maps:to_list(Opts), is_port_opt(K)]]
         ++ check_local_opts(Opts)}
    catch
        throw:{bad_option, Why} -> {error, libsql_proto:err(bad_argument, Why)}
    end;
open_port_opts(_) ->
    {error, libsql_proto:err(bad_argument, <<"open needs a path (or a url)">>)}.

path(P) when is_binary(P); is_list(P); is_atom(P) ->
    case unicode:characters_to_binary(filename:flatten(P)) of
        B when is_binary(B), B =/= <<>> -> B;
        _ -> throw({bad_option, <<"path must be a non-empty file name">>})
    end;
path(_) ->
    throw({bad_option, <<"path must be a file name">>}).

is_port_opt(K) -> lists:member(K, [read_only, create, busy_timeout, cache_size]).

port_opt(read_only, V) when is_boolean(V) -> {read_only, V};
port_opt(create, V) when is_boolean(V) -> {create, V};
port_opt(busy_timeout, V) when is_integer(V), V >= 0, V =< 16#7fffffff -> {busy_timeout, V};
port_opt(cache_size, V) when is_integer(V), V >= 0, V =< 100000 -> {cache_size, V};
port_opt(K, _) ->
    throw({bad_option, iolist_to_binary(io_lib:format("bad value for option ~p", [K]))}).

%% Options handled on the Erlang side; anything else is a mistake.
check_local_opts(Opts) ->
    Known = [path, read_only, create, busy_timeout, timeout, max_frame,
             port_executable, cancel_timeout, cache_size],
    case [K || K <- maps:keys(Opts), not lists:member(K, Known)] of
        [] -> [];
        Unknown ->
            throw({bad_option, iolist_to_binary(io_lib:format("unknown option(s) ~p",
                                                              [Unknown]))})
    end.

%% @doc Close a connection. Closing twice is fine.
-spec close(Conn :: conn()) -> ok | {error, error()}.
close(Conn) when is_pid(Conn) ->
    libsql_conn:close(Conn, default);
close(_) ->
    {error, libsql_proto:err(bad_argument, <<"close takes a connection">>)}.

%% @doc Check that the connection and its port answer.
-spec ping(Db :: db()) -> ok | {error, error()}.
ping(Db) -> ping(Db, #{}).

-spec ping(Db :: db(), Opts :: #{timeout => timeout()}) -> ok | {error, error()}.
ping(Db, Opts) ->
    case call(Db, ping, [], Opts) of
        {ok, ok} -> ok;
        {error, _} = E -> E
    end.

%% ---- statements ------------------------------------------------------------

%% @doc Run one statement and return its rows (also for `RETURNING').
-spec query(Db :: db(), Sql :: sql()) ->
          {ok, [binary()], [row()]} | {error, error()}.
query(Db, Sql) -> query(Db, Sql, [], #{}).

-spec query(Db :: db(), Sql :: sql(), Params :: params()) ->
          {ok, [binary()], [row()]} | {error, error()}.
query(Db, Sql, Params) -> query(Db, Sql, Params, #{}).

%% @doc As query/3; `#{rows => maps}' returns each row as a map keyed by
%% column name, `timeout' bounds the call.
-spec query(Db :: db(), Sql :: sql(), Params :: params(), Opts :: query_opts()) ->
          {ok, [binary()], [row()]} | {error, error()}.
query(Db, Sql, Params, Opts) ->
    case statement(Db, query, Sql, Params, Opts) of
        {ok, {Columns, Rows}} -> {ok, Columns, shape_rows(Columns, Rows, Opts)};
        {error, _} = E -> E
    end.

%% @doc Run one statement for its effect.
-spec execute(Db :: db(), Sql :: sql()) ->
          {ok, #{changes := non_neg_integer(), last_insert_rowid := integer()}}
        | {error, error()}.
execute(Db, Sql) -> execute(Db, Sql, [], #{}).

-spec execute(Db :: db(), Sql :: sql(), Params :: params()) ->
          {ok, #{changes := non_neg_integer(), last_insert_rowid := integer()}}
        | {error, error()}.
execute(Db, Sql, Params) -> execute(Db, Sql, Params, #{}).

-spec execute(Db :: db(), Sql :: sql(), Params :: params(), Opts :: query_opts()) ->
          {ok, #{changes := non_neg_integer(), last_insert_rowid := integer()}}
        | {error, error()}.
execute(Db, Sql, Params, Opts) ->
    case statement(Db, execute, Sql, Params, Opts) of
        {ok, {Changes, RowId}} -> {ok, #{changes => Changes, last_insert_rowid => RowId}};
        {error, _} = E -> E
    end.

statement(Db, Cmd, #libsql_stmt{conn = Owner, id = Id, sql = SqlBin}, Params, Opts) ->
    case resolve(Db) of
        {ok, Owner} ->
            StmtCmd = case Cmd of query -> stmt_query; execute -> stmt_execute end,
            with_sql(SqlBin, run_params(Owner, StmtCmd, [Id], Params, Opts));
        {ok, _Other} ->
            {error, libsql_proto:err(bad_argument,
                                     <<"the statement belongs to another connection">>,
                                     #{sql => SqlBin})};
        {error, _} = E ->
            E
    end;
statement(Db, Cmd, Sql, Params, Opts) ->
    case libsql_proto:sql(Sql) of
        {ok, SqlBin} ->
            case resolve(Db) of
                {ok, Conn} -> with_sql(SqlBin, run_params(Conn, Cmd, [SqlBin], Params, Opts));
                {error, _} = E -> E
            end;
        {error, _} = E ->
            E
    end.

run_params(Conn, Cmd, Args, Params, Opts) ->
    case libsql_proto:params(Params) of
        {ok, Wire} -> call_conn(Conn, Cmd, Args ++ [Wire], Opts);
        {error, _} = E -> E
    end.

%% Every error about a statement names its SQL.
with_sql(SqlBin, {error, #{sql := _}} = E) when is_binary(SqlBin) -> E;
with_sql(SqlBin, {error, #{code := Code} = E}) when Code =/= closed, Code =/= port_exited,
                                                     Code =/= timeout ->
    {error, E#{sql => SqlBin}};
with_sql(_SqlBin, Other) ->
    Other.

shape_rows(Columns, Rows, #{rows := maps}) ->
    [maps:from_list(lists:zip(Columns, tuple_to_list(R))) || R <- Rows];
shape_rows(_Columns, Rows, _Opts) ->
    Rows.

%% ---- transactions ---------------------------------------------------------

%% @doc Run Fun(Conn) in a transaction: commit when it returns (giving
%% `{ok, Result}'), roll back and re-raise when it raises, exits or throws.
%% Inside Fun, calls on the same Db from the same process use the pinned
%% connection; a transaction inside a transaction is a savepoint whose
%% failure rolls back only itself. A failing COMMIT rolls back and
%% returns `{error, Error}'.
-spec transaction(Db :: db(), Fun :: fun((conn()) -> Result)) ->
          {ok, Result} | {error, error()}.
transaction(Db, Fun) -> transaction(Db, Fun, #{}).

-spec transaction(Db :: db(), Fun :: fun((conn()) -> Result), Opts :: transaction_opts()) ->
          {ok, Result} | {error, error()}.
transaction(Db, Fun, Opts) when is_function(Fun, 1), is_map(Opts) ->
    case get(?TX_KEY(Db)) of
        undefined ->
            case begin_sql(maps:get(mode, Opts, deferred)) of
                {ok, Begin} -> top_transaction(Db, Fun, Begin, Opts);
                {error, _} = E -> E
            end;
        {Conn, Depth} ->
            savepoint(Db, Conn, Depth + 1, Fun, Opts)
    end;
transaction(_Db, _Fun, _Opts) ->
    {error, libsql_proto:err(bad_argument,
                               <<"transaction takes a fun of one argument and a map">>)}.

begin_sql(deferred) -> {ok, [<<"BEGIN DEFERRED">>]};
begin_sql(immediate) -> {ok, [<<"BEGIN IMMEDIATE">>]};
begin_sql(exclusive) -> {ok, [<<"BEGIN EXCLUSIVE">>]};
begin_sql(read_only) -> {ok, [<<"BEGIN DEFERRED">>, <<"PRAGMA query_only = 1">>]};
begin_sql(Other) ->
    {error, libsql_proto:err(bad_argument,
                             io_lib:format("unknown transaction mode ~0tP (deferred, immediate, "
                                           "exclusive or read_only)", [Other, 5]))}.

top_transaction(Db, Fun, Begin, Opts) ->
    case resolve(Db) of
        {ok, Conn} -> top_transaction(Db, Conn, Fun, Begin, Opts);
        {error, _} = E -> E
    end.

top_transaction(Db, Conn, Fun, Begin, Opts) ->
    case run_group(Conn, Begin, Opts) of
        ok ->
            pin(Db, Conn, 0),
            try Fun(Conn) of
                Result ->
                    unpin(Db, Conn),
                    case finish(Conn, <<"COMMIT">>, Opts) of
                        ok -> {ok, Result};
                        {error, _} = E ->
                            _ = finish(Conn, <<"ROLLBACK">>, Opts),
                            E
                    end
            catch
                Class:Reason:Stack ->
                    unpin(Db, Conn),
                    _ = finish(Conn, <<"ROLLBACK">>, Opts),
                    erlang:raise(Class, Reason, Stack)
            end;
        {error, _} = E ->
            _ = finish(Conn, <<"ROLLBACK">>, Opts),
            E
    end.

%% COMMIT or ROLLBACK, with query_only switched off first (a read_only
%% transaction turned it on), in one round trip.
finish(Conn, Sql, Opts) ->
    case run_group(Conn, [<<"PRAGMA query_only = 0">>, Sql], Opts) of
        ok -> ok;
        {error, E} -> {error, maps:remove(index, E)}
    end.

%% Statements without parameters, in order, in one round trip; stops at
%% the first error.
run_group(Conn, Sqls, Opts) ->
    case call_conn(Conn, batch, [[{S, []} || S <- Sqls], false], Opts) of
        {ok, _} -> ok;
        {error, _} = E -> E
    end.

savepoint(Db, Conn, Depth, Fun, Opts) ->
    Name = <<"libsql_sp_", (integer_to_binary(Depth))/binary>>,
    case execute(Conn, <<"SAVEPOINT ", Name/binary>>, [], Opts) of
        {ok, _} ->
            pin(Db, Conn, Depth),
            try Fun(Conn) of
                Result ->
                    pin(Db, Conn, Depth - 1),
                    case execute(Conn, <<"RELEASE ", Name/binary>>, [], Opts) of
                        {ok, _} -> {ok, Result};
                        {error, _} = E -> E
                    end
            catch
                Class:Reason:Stack ->
                    pin(Db, Conn, Depth - 1),
                    _ = run_group(Conn, [<<"ROLLBACK TO ", Name/binary>>,
                                         <<"RELEASE ", Name/binary>>], Opts),
                    erlang:raise(Class, Reason, Stack)
            end;
        {error, _} = E ->
            E
    end.

pin(Db, Conn, Depth) ->
    put(?TX_KEY(Db), {Conn, Depth}),
    put(?TX_KEY(Conn), {Conn, Depth}),
    ok.

unpin(Db, Conn) ->
    erase(?TX_KEY(Db)),
    erase(?TX_KEY(Conn)),
    ok.

%% ---- prepared statements ---------------------------------------------------

%% @doc Prepare a statement once and run it many times with
%% query/3,4 and execute/3,4 (pass the statement where the SQL goes).
%% The record holds its column names, declared types and parameters.
-spec prepare(Db :: db(), Sql :: iodata()) -> {ok, stmt()} | {error, error()}.
prepare(Db, Sql) ->
    case libsql_proto:sql(Sql) of
        {ok, SqlBin} ->
            case resolve(Db) of
                {ok, Conn} ->
                    case with_sql(SqlBin, call_conn(Conn, prepare, [SqlBin], #{})) of
                        {ok, {Id, Info}} ->
                            {ok, #libsql_stmt{conn = Conn, id = Id, sql = SqlBin,
                                              columns = maps:get(columns, Info),
                                              decltypes = maps:get(decltypes, Info),
                                              param_count = maps:get(param_count, Info),
                                              param_names = maps:get(param_names, Info),
                                              readonly = maps:get(readonly, Info)}};
                        {error, _} = E -> E
                    end;
                {error, _} = E -> E
            end;
        {error, _} = E -> E
    end.

%% @doc Release a prepared statement. Using it afterwards is an error.
-spec finalize(Stmt :: stmt()) -> ok | {error, error()}.
finalize(#libsql_stmt{conn = Conn, id = Id}) ->
    case call_conn(Conn, finalize, [Id], #{}) of
        {ok, ok} -> ok;
        {error, _} = E -> E
    end;
finalize(_) ->
    {error, libsql_proto:err(bad_argument, <<"finalize takes a prepared statement">>)}.

%% @doc What a prepared statement reads and takes, as a map.
-spec stmt_info(Stmt :: stmt()) ->
          #{sql := binary(), columns := [binary()], decltypes := [binary() | null],
            param_count := non_neg_integer(), param_names := [binary() | null],
            readonly := boolean()}.
stmt_info(#libsql_stmt{} = S) ->
    #{sql => S#libsql_stmt.sql, columns => S#libsql_stmt.columns,
      decltypes => S#libsql_stmt.decltypes, param_count => S#libsql_stmt.param_count,
      param_names => S#libsql_stmt.param_names, readonly => S#libsql_stmt.readonly}.

%% ---- batches and scripts ---------------------------------------------------

%% @doc Run many statements in one round trip; one result per statement.
%% Each element is `{Sql, Params}' or just `Sql'. With `transaction => true'
%% (the default) the batch is all-or-nothing (a savepoint inside an open
%% transaction); otherwise it stops at the first failure, earlier
%% statements staying applied. An error carries the failing statement's
%% 1-based `index'.
-spec batch(Db :: db(), Statements :: [{iodata(), params()} | iodata()]) ->
          {ok, [batch_result()]} | {error, error()}.
batch(Db, Statements) -> batch(Db, Statements, #{}).

-spec batch(Db :: db(), Statements :: [{iodata(), params()} | iodata()],
            Opts :: #{transaction => boolean(), timeout => timeout(),
                      rows => tuples | maps}) ->
          {ok, [batch_result()]} | {error, error()}.
batch(Db, Statements, Opts) when is_list(Statements), is_map(Opts) ->
    Tx = maps:get(transaction, Opts, true),
    case {is_boolean(Tx), batch_items(Statements, 1, [])} of
        {false, _} ->
            {error, libsql_proto:err(bad_argument, <<"the transaction option is a boolean">>)};
        {true, {ok, Items}} ->
            case call(Db, batch, [Items, Tx], Opts) of
                {ok, Results} ->
                    {ok, [#{columns => C, rows => shape_rows(C, R, Opts), changes => N,
                            last_insert_rowid => Id} || {C, R, N, Id} <- Results]};
                {error, _} = E -> E
            end;
        {true, {error, _} = E} ->
            E
    end;
batch(_Db, _Statements, _Opts) ->
    {error, libsql_proto:err(bad_argument, <<"batch takes a list of statements">>)}.

batch_items([], _I, Acc) -> {ok, lists:reverse(Acc)};
batch_items([{Sql, Params} | Rest], I, Acc) ->
    case {libsql_proto:sql(Sql), libsql_proto:params(Params)} of
        {{ok, S}, {ok, P}} -> batch_items(Rest, I + 1, [{S, P} | Acc]);
        {{error, E}, _} -> {error, E#{index => I}};
        {_, {error, E}} -> {error, E#{index => I}}
    end;
batch_items([Sql | Rest], I, Acc) ->
    batch_items([{Sql, []} | Rest], I, Acc);
batch_items(_Improper, I, _Acc) ->
    {error, libsql_proto:err(bad_argument, <<"batch takes a proper list">>, #{index => I})}.

%% @doc Bind one statement to many parameter lists in one round trip (bulk
%% insert). All or nothing: a failure rolls every row back and carries the
%% 1-based `index' of the parameter list at fault.
-spec execute_many(Db :: db(), Sql :: iodata(), ParamsList :: [params()]) ->
          {ok, #{changes := non_neg_integer(), last_insert_rowid := integer()}}
        | {error, error()}.
execute_many(Db, Sql, ParamsList) -> execute_many(Db, Sql, ParamsList, #{}).

-spec execute_many(Db :: db(), Sql :: iodata(), ParamsList :: [params()],
                   Opts :: #{timeout => timeout()}) ->
          {ok, #{changes := non_neg_integer(), last_insert_rowid := integer()}}
        | {error, error()}.
execute_many(Db, Sql, ParamsList, Opts) when is_list(ParamsList) ->
    case libsql_proto:sql(Sql) of
        {ok, SqlBin} ->
            case many_params(ParamsList, 1, []) of
                {ok, Wire} ->
                    case with_sql(SqlBin, call(Db, execute_many, [SqlBin, Wire], Opts)) of
                        {ok, {N, Id}} -> {ok, #{changes => N, last_insert_rowid => Id}};
                        {error, _} = E -> E
                    end;
                {error, E} -> {error, E#{sql => SqlBin}}
            end;
        {error, _} = E -> E
    end;
execute_many(_Db, _Sql, _ParamsList, _Opts) ->
    {error, libsql_proto:err(bad_argument, <<"execute_many takes a list of parameter lists">>)}.

many_params([], _I, Acc) -> {ok, lists:reverse(Acc)};
many_params([P | Rest], I, Acc) ->
    case libsql_proto:params(P) of
        {ok, W} -> many_params(Rest, I + 1, [W | Acc]);
        {error, E} -> {error, E#{index => I}}
    end;
many_params(_Improper, I, _Acc) ->
    {error, libsql_proto:err(bad_argument, <<"a proper list of parameter lists is needed">>,
                             #{index => I})}.

%% @doc Run a multi-statement SQL text (a migration), statement by
%% statement. The script controls its own transactions; the first error
%% stops it and names the statement (`index', `sql').
-spec execute_script(Db :: db(), Sql :: iodata()) ->
          {ok, #{statements := non_neg_integer(), changes := non_neg_integer()}}
        | {error, error()}.
execute_script(Db, Sql) -> execute_script(Db, Sql, #{}).

-spec execute_script(Db :: db(), Sql :: iodata(), Opts :: #{timeout => timeout()}) ->
          {ok, #{statements := non_neg_integer(), changes := non_neg_integer()}}
        | {error, error()}.
execute_script(Db, Sql, Opts) ->
    case libsql_proto:sql(Sql) of
        {ok, SqlBin} ->
            case call(Db, execute_script, [SqlBin], Opts) of
                {ok, {N, C}} -> {ok, #{statements => N, changes => C}};
                {error, _} = E -> E
            end;
        {error, _} = E -> E
    end.

%% ---- streaming ---------------------------------------------------------------

%% @doc Open a cursor: the statement runs as rows are fetched, so a result
%% of any size streams in bounded memory. The cursor belongs to the
%% calling process and is closed when it exits.
-spec cursor_open(Db :: db(), Sql :: iodata(), Params :: params()) ->
          {ok, cursor()} | {error, error()}.
cursor_open(Db, Sql, Params) -> cursor_open(Db, Sql, Params, #{}).

-spec cursor_open(Db :: db(), Sql :: iodata(), Params :: params(),
                  Opts :: #{timeout => timeout()}) -> {ok, cursor()} | {error, error()}.
cursor_open(Db, Sql, Params, Opts) ->
    case {libsql_proto:sql(Sql), resolve(Db)} of
        {{ok, SqlBin}, {ok, Conn}} ->
            case libsql_proto:params(Params) of
                {ok, Wire} ->
                    Timeout = maps:get(timeout, Opts, default),
                    case with_sql(SqlBin, libsql_conn:request(Conn, cursor_open, [SqlBin, Wire],
                                                              Timeout, {cursor_open, self()})) of
                        {ok, {Id, Columns}} ->
                            {ok, #libsql_cursor{conn = Conn, id = Id, columns = Columns,
                                                timeout = Timeout}};
                        {error, _} = E -> E
                    end;
                {error, E} -> {error, E#{sql => SqlBin}}
            end;
        {{error, _} = E, _} -> E;
        {_, {error, _} = E} -> E
    end.

%% @doc Fetch up to N rows: `{ok, Rows, more}' or, once the statement has
%% finished, `{ok, Rows, done}'.
-spec fetch(Cursor :: cursor(), N :: pos_integer()) ->
          {ok, [tuple()], more | done} | {error, error()}.
fetch(#libsql_cursor{conn = Conn, id = Id, timeout = T}, N) when is_integer(N), N > 0 ->
    case libsql_conn:request(Conn, cursor_fetch, [Id, N], T) of
        {ok, {Rows, true}} -> {ok, Rows, done};
        {ok, {Rows, false}} -> {ok, Rows, more};
        {error, _} = E -> E
    end;
fetch(_Cursor, _N) ->
    {error, libsql_proto:err(bad_argument, <<"fetch takes a cursor and a positive count">>)}.

%% @doc Close a cursor. Closing twice is fine.
-spec cursor_close(Cursor :: cursor()) -> ok | {error, error()}.
cursor_close(#libsql_cursor{conn = Conn, id = Id, timeout = T}) ->
    case libsql_conn:request(Conn, cursor_close, [Id], T, {cursor_close, Id}) of
        {ok, ok} -> ok;
        {error, #{code := closed}} -> ok;
        {error, _} = E -> E
    end;
cursor_close(_) ->
    {error, libsql_proto:err(bad_argument, <<"cursor_close takes a cursor">>)}.

%% @doc Fold Fun(Row, Acc) over the rows of a query, streaming them in
%% chunks of `chunk' rows (default 1000): one chunk is being read by the
%% port while the previous one is folded. If Fun raises, the cursor is
%% closed and the exception passes through.
-spec fold(Db :: db(), Sql :: iodata(), Params :: params(),
           Fun :: fun((row(), Acc) -> Acc), Acc0 :: Acc) -> {ok, Acc} | {error, error()}.
fold(Db, Sql, Params, Fun, Acc0) -> fold(Db, Sql, Params, Fun, Acc0, #{}).

-spec fold(Db :: db(), Sql :: iodata(), Params :: params(),
           Fun :: fun((row(), Acc) -> Acc), Acc0 :: Acc,
           Opts :: #{chunk => pos_integer(), timeout => timeout(), rows => tuples | maps}) ->
          {ok, Acc} | {error, error()}.
fold(Db, Sql, Params, Fun, Acc0, Opts) when is_function(Fun, 2), is_map(Opts) ->
    case maps:get(chunk, Opts, 1000) of
        Chunk when is_integer(Chunk), Chunk > 0, Chunk =< 100000000 ->
            case cursor_open(Db, Sql, Params, Opts) of
                {ok, Cursor} ->
                    try
                        fold_loop(Cursor, Fun, Acc0, Chunk, Opts, send_fetch(Cursor, Chunk))
                    after
                        cursor_close(Cursor)
                    end;
                {error, _} = E ->
                    E
            end;
        _ ->
            {error, libsql_proto:err(bad_argument, <<"chunk must be a positive integer">>)}
    end;
fold(_Db, _Sql, _Params, _Fun, _Acc0, _Opts) ->
    {error, libsql_proto:err(bad_argument, <<"fold takes a fun of two arguments">>)}.

send_fetch(#libsql_cursor{conn = Conn, id = Id, timeout = T}, N) ->
    libsql_conn:send_request(Conn, cursor_fetch, [Id, N], T, request).

fold_loop(#libsql_cursor{columns = Cols, timeout = T} = C, Fun, Acc, Chunk, Opts, ReqId) ->
    case libsql_conn:await(ReqId, T) of
        {ok, {Rows, true}} ->
            {ok, fold_rows(Fun, shape_rows(Cols, Rows, Opts), Acc)};
        {ok, {Rows, false}} ->
            Next = send_fetch(C, Chunk),
            Acc1 = try
                       fold_rows(Fun, shape_rows(Cols, Rows, Opts), Acc)
                   catch
                       Class:Reason:Stack ->
                           _ = libsql_conn:await(Next, T),   % no stray reply left behind
                           erlang:raise(Class, Reason, Stack)
                   end,
            fold_loop(C, Fun, Acc1, Chunk, Opts, Next);
        {error, _} = E ->
            E
    end.

fold_rows(Fun, [Row | Rows], Acc) -> fold_rows(Fun, Rows, Fun(Row, Acc));
fold_rows(_Fun, [], Acc) -> Acc.

%% ---- explicit transaction control -------------------------------------------

%% @doc BEGIN a transaction yourself (see transaction/2,3 for the managed
%% form). Modes as in transaction/3.
-spec begin_transaction(Db :: db()) -> ok | {error, error()}.
begin_transaction(Db) -> begin_transaction(Db, #{}).

-spec begin_transaction(Db :: db(), Opts :: transaction_opts()) -> ok | {error, error()}.
begin_transaction(Db, Opts) ->
    case {begin_sql(maps:get(mode, Opts, deferred)), resolve(Db)} of
        {{ok, Sqls}, {ok, Conn}} ->
            case run_group(Conn, Sqls, Opts) of
                ok -> ok;
                {error, E} ->
                    _ = finish(Conn, <<"ROLLBACK">>, Opts),
                    {error, maps:remove(index, E)}
            end;
        {{error, _} = E, _} -> E;
        {_, {error, _} = E} -> E
    end.

%% @doc COMMIT. Without a transaction: `{error, #{code := error}}' saying so.
-spec commit(Db :: db()) -> ok | {error, error()}.
commit(Db) -> end_transaction(Db, <<"COMMIT">>).

%% @doc ROLLBACK. Without a transaction: an error saying so.
-spec rollback(Db :: db()) -> ok | {error, error()}.
rollback(Db) -> end_transaction(Db, <<"ROLLBACK">>).

end_transaction(Db, Sql) ->
    case resolve(Db) of
        {ok, Conn} -> finish(Conn, Sql, #{});
        {error, _} = E -> E
    end.

%% @doc SAVEPOINT Name. Names are plain identifiers ([A-Za-z_][A-Za-z0-9_]*).
-spec savepoint(Db :: db(), Name :: atom() | iodata()) -> ok | {error, error()}.
savepoint(Db, Name) -> savepoint_cmd(Db, <<"SAVEPOINT ">>, Name).

%% @doc RELEASE SAVEPOINT Name. An unknown name is an error.
-spec release(Db :: db(), Name :: atom() | iodata()) -> ok | {error, error()}.
release(Db, Name) -> savepoint_cmd(Db, <<"RELEASE SAVEPOINT ">>, Name).

%% @doc ROLLBACK TO SAVEPOINT Name (the savepoint stays open).
-spec rollback_to(Db :: db(), Name :: atom() | iodata()) -> ok | {error, error()}.
rollback_to(Db, Name) -> savepoint_cmd(Db, <<"ROLLBACK TO SAVEPOINT ">>, Name).

savepoint_cmd(Db, Prefix, Name) ->
    case identifier(Name) of
        {ok, Id} ->
            case execute(Db, [Prefix, $", Id, $"]) of
                {ok, _} -> ok;
                {error, _} = E -> E
            end;
        error ->
            {error, libsql_proto:err(bad_argument,
                                     io_lib:format("savepoint name ~0tP is not a plain identifier "
                                                   "([A-Za-z_][A-Za-z0-9_]*, at most 64)",
                                                   [Name, 5]))}
    end.

identifier(A) when is_atom(A) -> identifier(atom_to_binary(A, utf8));
identifier(L) when is_list(L) ->
    try iolist_to_binary(L) of B -> identifier(B) catch error:_ -> error end;
identifier(B) when is_binary(B), byte_size(B) > 0, byte_size(B) =< 64 ->
    case re:run(B, <<"^[A-Za-z_][A-Za-z0-9_]*$">>, [{capture, none}]) of
        match -> {ok, B};
        nomatch -> error
    end;
identifier(_) -> error.

%% ---- metadata and control --------------------------------------------------------

%% @doc Facts about the connection: last_insert_rowid, changes,
%% total_changes, autocommit, file, read_only, journal_mode, mode.
-spec info(Db :: db()) -> {ok, #{atom() => term()}} | {error, error()}.
info(Db) -> call(Db, info, [], #{}).

%% @doc Counters of the connection's port: requests, errors, rows,
%% prepares, statement cache hits/misses/evictions/size/capacity, open
%% statements and cursors.
-spec stats(Db :: db()) -> {ok, #{atom() => non_neg_integer()}} | {error, error()}.
stats(Db) -> call(Db, stats, [], #{}).

%% @doc How long to wait on a locked database (ms) before `busy'.
-spec set_busy_timeout(Db :: db(), Ms :: non_neg_integer()) -> ok | {error, error()}.
set_busy_timeout(Db, Ms) when is_integer(Ms), Ms >= 0, Ms =< 16#7fffffff ->
    ok_or_error(call(Db, set_busy_timeout, [Ms], #{}));
set_busy_timeout(_Db, _Ms) ->
    {error, libsql_proto:err(bad_argument, <<"busy timeout must be 0..2147483647 ms">>)}.

%% @doc Stop the statement running on a connection now, from any process.
%% That statement's caller gets `{error, #{code := interrupted}}'; the
%% connection stays usable.
-spec interrupt(Conn :: conn()) -> ok | {error, error()}.
interrupt(Conn) -> ok_or_error(call(Conn, interrupt, [], #{})).

%% @doc Return a connection to a clean state: cursors closed, prepared
%% statements finalized, an open transaction rolled back.
-spec reset(Conn :: conn()) -> ok | {error, error()}.
reset(Conn) ->
    case resolve(Conn) of
        {ok, C} -> ok_or_error(libsql_conn:request(C, reset, [], default, reset));
        {error, _} = E -> E
    end.

%% @doc Read a runtime limit (sqlite3_limit).
-spec limit(Db :: db(), Name :: limit_name()) -> {ok, integer()} | {error, error()}.
limit(Db, Name) -> limit(Db, Name, -1).

%% @doc Set a runtime limit; returns the previous value.
-spec limit(Db :: db(), Name :: limit_name(), Value :: integer()) ->
          {ok, integer()} | {error, error()}.
limit(Db, Name, Value) when is_atom(Name), is_integer(Value) ->
    call(Db, limit, [Name, Value], #{});
limit(_Db, _Name, _Value) ->
    {error, libsql_proto:err(bad_argument, <<"limit takes an atom and an integer">>)}.

%% @doc Copy the database to DestPath with SQLite's online backup API; the
%% connection stays usable meanwhile by other processes' later calls.
-spec backup(Db :: db(), DestPath :: file:name_all()) -> ok | {error, error()}.
backup(Db, Dest) -> backup(Db, Dest, #{}).

-spec backup(Db :: db(), DestPath :: file:name_all(), Opts :: #{timeout => timeout()}) ->
          ok | {error, error()}.
backup(Db, Dest, Opts) ->
    try path(Dest) of
        D -> ok_or_error(call(Db, backup, [D], Opts))
    catch
        throw:{bad_option, Why} -> {error, libsql_proto:err(bad_argument, Why)}
    end.

ok_or_error({ok, ok}) -> ok;
ok_or_error({error, _} = E) -> E.

%% ---- errors ------------------------------------------------------------------

%% @doc A readable sentence for any error this library returns.
-spec format_error(error() | {error, error()} | term()) -> binary().
format_error({error, E}) -> format_error(E);
format_error(#{code := Code} = E) ->
    Msg = maps:get(message, E, <<>>),
    Parts = [libsql_error:describe(Code),
             case Msg of <<>> -> []; _ -> [": ", Msg] end,
             case E of
                 #{extended_code := X} -> io_lib:format(" (~s, code ~b)",
                                                        [libsql_error:extended_name(X), X]);
                 _ -> []
             end,
             case E of
                 #{sql := Sql} -> [" in SQL: ", truncate(Sql, 200)];
                 _ -> []
             end],
    unicode:characters_to_binary(Parts);
format_error(Other) ->
    unicode:characters_to_binary(io_lib:format("unknown libsql error: ~0tP", [Other, 10])).

truncate(Bin, Max) when byte_size(Bin) =< Max -> Bin;
truncate(Bin, Max) -> [binary:part(Bin, 0, Max), "..."].

%% ---- internals -------------------------------------------------------------

call(Db, Cmd, Args, Opts) ->
    case resolve(Db) of
        {ok, Conn} -> call_conn(Conn, Cmd, Args, Opts);
        {error, _} = E -> E
    end.

call_conn(Conn, Cmd, Args, Opts) ->
    libsql_conn:request(Conn, Cmd, Args, maps:get(timeout, Opts, default)).

resolve(Db) ->
    case get(?TX_KEY(Db)) of
        {Conn, _} -> {ok, Conn};
        undefined when is_pid(Db) -> {ok, Db};
        undefined ->
            {error, libsql_proto:err(bad_argument,
                                       io_lib:format("~0tP is not a connection", [Db, 5]))}
    end.
