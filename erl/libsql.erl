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
-export([start_pool/2, stop_pool/1, child_spec/1, with_conn/2]).
-export([print/2, print/3]).

-export_type([db/0, conn/0, open_opts/0, value/0, params/0, row/0, error/0,
              query_opts/0, transaction_opts/0, stmt/0, cursor/0, sql/0,
              batch_result/0, limit_name/0, pool/0, pool_opts/0]).

-type conn() :: pid().
-type pool() :: atom() | pid().
-type db() :: conn() | pool().
-type value() :: null | undefined | nil | boolean() | integer() | float() | binary()
               | {blob, binary()} | {text, iodata()} | infinity | neg_infinity.
-type params() :: [value()] | #{atom() | binary() => value()}.
-type row() :: tuple() | #{binary() => value()}.
-type error() :: #{code := atom(), message := binary(), atom() => term()}.
-type open_opts() :: #{path => file:name_all(),
                       url => iodata(),
                       auth_token => iodata(),
                       ca_file => file:name_all(),
                       connect_timeout => pos_integer(),
                       request_timeout => non_neg_integer(),
                       read_only => boolean(),
                       create => boolean(),
                       busy_timeout => non_neg_integer(),
                       timeout => timeout(),
                       max_frame => pos_integer(),
                       spin_us => non_neg_integer(),
                       port_executable => file:filename_all(),
                       atom() => term()}.
-type query_opts() :: #{timeout => timeout(), rows => tuples | maps,
                        checkout_timeout => timeout()}.
-type pool_opts() :: #{path => file:name_all(), url => iodata(), size => pos_integer(),
                       checkout_timeout => timeout(), slow_query_ms => non_neg_integer(),
                       max_restarts => non_neg_integer(), name => atom(),
                       atom() => term()}.
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

%% Process dictionary keys, the pgo idiom for pinning: {libsql_pin, Db}
%% holds the connection a with_conn/transaction fun runs on, so calls on
%% the same Db from the same process use it; {libsql_tx, Conn} holds the
%% transaction depth on that connection (0 = top level).
-define(PIN_KEY(Db), {libsql_pin, Db}).
-define(TX_KEY(Conn), {libsql_tx, Conn}).
-define(DEFAULT_CHECKOUT_TIMEOUT, 5000).

%% ---- connections ---------------------------------------------------------

%% @doc Open a connection to a local database file.
%%
%% Options: `path' (required: a file name, `":memory:"' or a `file:' URI),
%% `read_only' (default false), `create' (default true: create a missing
%% file), `busy_timeout' (ms to wait on a locked database, default 5000),
%% `timeout' (default for every call on this connection, default 15000),
%% `max_frame' (largest request in bytes, default 256 MiB), `spin_us'
%% (0..10000, default 50: how long the port busy-polls for the next request
%% while requests come back to back; 0: never).
%% The connection belongs to the calling process and closes when it exits.
-spec open(Opts :: open_opts()) -> {ok, conn()} | {error, error()}.
open(Opts) when is_map(Opts) ->
    case libsql_opts:conn(libsql_secret:hide(Opts)) of
        {ok, ConnOpts} ->
            {ok, _} = application:ensure_all_started(libsql),
            case libsql_conn_sup:start_conn(self(), ConnOpts) of
                {ok, Conn} ->
                    {ok, Conn};
                {error, {shutdown, {open_failed, Error}}} ->
                    {error, Error};
                {error, Reason} ->
                    {error, libsql_proto:err(
                              port_exited,
                              io_lib:format("could not start the connection: ~0tP",
                                            [Reason, 10]))}
            end;
        {error, _} = E ->
            E
    end;
open(_) ->
    {error, libsql_proto:err(bad_argument, <<"open takes a map of options">>)}.

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
    checked(ping, Opts, fun() -> ok_or_error(call(Db, ping, [], Opts)) end).

%% ---- pools ---------------------------------------------------------------

%% @doc Start a pool of `size' connections (default 4) to one database,
%% registered as Name; every function taking a connection takes Name.
%% Options: those of open/1, plus `size', `checkout_timeout' (how long a
%% call waits for a free connection, default 5000 ms), `slow_query_ms'
%% (log statements slower than this), `max_restarts' (worker restarts
%% allowed in 10 s before the pool gives up). A database that cannot be
%% opened fails the start with its error.
-spec start_pool(Name :: atom(), Opts :: pool_opts()) -> {ok, pid()} | {error, error()}.
start_pool(Name, Opts) when is_atom(Name), is_map(Opts) ->
    {ok, _} = application:ensure_all_started(libsql),
    case libsql_pools_sup:start_pool(Name, libsql_secret:hide(Opts)) of
        {ok, _Sup} -> libsql_pool:lookup(Name);
        {error, Reason} -> {error, libsql_opts:start_error(Name, Reason)}
    end;
start_pool(_Name, _Opts) ->
    {error, libsql_proto:err(bad_argument, <<"start_pool takes an atom and a map">>)}.

%% @doc Stop a pool started with start_pool/2 (or from the application
%% environment): its connections close and their port programs exit.
-spec stop_pool(Pool :: pool()) -> ok | {error, error()}.
stop_pool(Pool) ->
    case libsql_pool:supervisor(Pool) of
        {ok, Sup} ->
            case libsql_pools_sup:stop_pool(Sup) of
                ok -> ok;
                {error, not_found} ->
                    {error, libsql_proto:err(bad_argument,
                                             <<"that pool runs under your own supervisor: "
                                               "stop it there">>)}
            end;
        error ->
            {error, libsql_proto:err(bad_argument,
                                     io_lib:format("no pool ~0tP is running", [Pool, 5]))}
    end.

%% @doc A child spec for a pool in your own supervision tree:
%% `libsql:child_spec(#{name => my_db, path => "app.db", size => 4})'.
-spec child_spec(Opts :: pool_opts()) -> supervisor:child_spec().
child_spec(#{name := Name} = Opts) when is_atom(Name) ->
    #{id => {libsql_pool, Name},
      start => {libsql_pool_sup, start_link,
                [Name, libsql_secret:hide(maps:remove(name, Opts))]},
      type => supervisor,
      shutdown => infinity}.

%% @doc Run Fun(Conn) with one connection: on a pool, a worker is checked
%% out for the whole fun (and reset when given back), and calls on the same
%% pool from this process inside the fun use it. Returns what Fun returns.
-spec with_conn(Db :: db(), Fun :: fun((conn()) -> Result)) -> Result | {error, error()}.
with_conn(Db, Fun) when is_function(Fun, 1) ->
    case target(Db) of
        {conn, Conn} -> pin_run(Db, Conn, Fun);
        {pool, Pool} ->
            case libsql_pool:checkout(Pool, checkout_timeout(Db, #{})) of
                {ok, Conn} ->
                    try pin_run(Db, Conn, Fun)
                    after libsql_pool:checkin(Pool, Conn, false)
                    end;
                {error, _} = E -> E
            end;
        {error, _} = E -> E
    end;
with_conn(_Db, _Fun) ->
    {error, libsql_proto:err(bad_argument, <<"with_conn takes a fun of one argument">>)}.

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
    checked(query, Opts, fun() ->
        case statement(Db, query, Sql, Params, Opts) of
            {ok, {Columns, Rows}} -> {ok, Columns, shape_rows(Columns, Rows, Opts)};
            {error, _} = E -> E
        end
    end).

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
    checked(execute, Opts, fun() ->
        case statement(Db, execute, Sql, Params, Opts) of
            {ok, {Changes, RowId}} -> {ok, #{changes => Changes, last_insert_rowid => RowId}};
            {error, _} = E -> E
        end
    end).

statement(Db, Cmd, #libsql_stmt{id = undefined, conn = Pool, sql = SqlBin}, Params, Opts) ->
    %% Prepared on a pool: any of its workers runs it from its statement
    %% cache; it belongs to that pool only.
    case Db =:= Pool orelse libsql_pool:lookup(Db) =:= libsql_pool:lookup(Pool) of
        true -> statement(Db, Cmd, SqlBin, Params, Opts);
        false -> {error, libsql_proto:err(bad_argument,
                                          <<"the statement belongs to another pool">>,
                                          #{sql => SqlBin})}
    end;
statement(Db, Cmd, #libsql_stmt{conn = Owner, id = Id, sql = SqlBin}, Params, Opts) ->
    libsql_events:span(Db, Cmd, SqlBin, fun() ->
        with_db(Db, Opts, fun(Conn) when Conn =:= Owner ->
                                  StmtCmd = case Cmd of query -> stmt_query;
                                                        execute -> stmt_execute end,
                                  with_sql(SqlBin, run_params(Owner, StmtCmd, [Id], Params, Opts));
                             (_Other) ->
                                  {error, libsql_proto:err(
                                            bad_argument,
                                            <<"the statement belongs to another connection">>,
                                            #{sql => SqlBin})}
                          end)
    end);
statement(Db, Cmd, Sql, Params, Opts) ->
    case libsql_proto:sql(Sql) of
        {ok, SqlBin} ->
            case libsql_proto:params(Params) of
                {ok, Wire} ->
                    libsql_events:span(Db, Cmd, SqlBin, fun() ->
                        with_sql(SqlBin, call(Db, Cmd, [SqlBin, Wire], Opts))
                    end);
                {error, E} ->
                    {error, E#{sql => SqlBin}}
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
transaction(Db, Fun, Opts) when is_function(Fun, 1) ->
    checked(transaction, Opts, fun() ->
        Mode = maps:get(mode, Opts, deferred),
        pinned(Db, Opts, fun(Conn) ->
            case {get(?TX_KEY(Conn)), Mode} of
                {undefined, _} -> top_transaction(Conn, Fun, begin_sql(Mode), Opts);
                {_Depth, read_only} ->
                    %% A savepoint cannot stop writes the outer
                    %% transaction may already have made or still make.
                    {error, libsql_proto:err(
                              bad_argument,
                              <<"a nested transaction cannot be read_only: open the "
                                "outer transaction with mode read_only instead">>)};
                {Depth, _} -> savepoint(Conn, Depth + 1, Fun, Opts)
            end
        end)
    end);
transaction(_Db, _Fun, _Opts) ->
    {error, libsql_proto:err(bad_argument,
                               <<"transaction takes a fun of one argument and a map">>)}.

%% The modes were checked by libsql_opts:call/2.
begin_sql(deferred) -> [<<"BEGIN DEFERRED">>];
begin_sql(immediate) -> [<<"BEGIN IMMEDIATE">>];
begin_sql(exclusive) -> [<<"BEGIN EXCLUSIVE">>];
begin_sql(read_only) -> [<<"BEGIN DEFERRED">>, <<"PRAGMA query_only = 1">>].

%% Returns {Result, Clean}: Clean tells a pool whether the connection can
%% go back as it is or needs a reset.
top_transaction(Conn, Fun, Begin, Opts) ->
    case run_group(Conn, Begin, Opts) of
        ok ->
            put(?TX_KEY(Conn), 0),
            try Fun(Conn) of
                Result ->
                    erase(?TX_KEY(Conn)),
                    case finish(Conn, <<"COMMIT">>, Opts) of
                        ok -> {ok, Result};
                        {error, _} = E ->
                            _ = finish(Conn, <<"ROLLBACK">>, Opts),
                            E
                    end
            catch
                Class:Reason:Stack ->
                    erase(?TX_KEY(Conn)),
                    _ = finish(Conn, <<"ROLLBACK">>, Opts),
                    erlang:raise(Class, Reason, Stack)
            end;
        {error, E} ->
            begin_failed(Conn, E, Opts)
    end.

%% BEGIN itself failed (index 1): nothing of ours to undo, and a ROLLBACK
%% would throw away a transaction the caller opened by hand. A later
%% statement of the group failed: undo our BEGIN.
begin_failed(Conn, #{index := I} = E, Opts) when I > 1 ->
    _ = finish(Conn, <<"ROLLBACK">>, Opts),
    {error, maps:remove(index, E)};
begin_failed(_Conn, E, _Opts) ->
    {error, maps:remove(index, E)}.

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

savepoint(Conn, Depth, Fun, Opts) ->
    Name = <<"libsql_sp_", (integer_to_binary(Depth))/binary>>,
    case execute(Conn, <<"SAVEPOINT ", Name/binary>>, [], Opts) of
        {ok, _} ->
            put(?TX_KEY(Conn), Depth),
            try Fun(Conn) of
                Result ->
                    put(?TX_KEY(Conn), Depth - 1),
                    case execute(Conn, <<"RELEASE ", Name/binary>>, [], Opts) of
                        {ok, _} -> {ok, Result};
                        {error, _} = E -> E
                    end
            catch
                Class:Reason:Stack ->
                    put(?TX_KEY(Conn), Depth - 1),
                    _ = run_group(Conn, [<<"ROLLBACK TO ", Name/binary>>,
                                         <<"RELEASE ", Name/binary>>], Opts),
                    erlang:raise(Class, Reason, Stack)
            end;
        {error, _} = E ->
            E
    end.

%% ---- prepared statements ---------------------------------------------------

%% @doc Prepare a statement once and run it many times with
%% query/3,4 and execute/3,4 (pass the statement where the SQL goes).
%% The record holds its column names, declared types and parameters.
-spec prepare(Db :: db(), Sql :: iodata()) -> {ok, stmt()} | {error, error()}.
prepare(Db, Sql) ->
    case libsql_proto:sql(Sql) of
        {ok, SqlBin} ->
            Bound = is_pid(Db) andalso libsql_pool:lookup(Db) =:= error
                        orelse get(?PIN_KEY(Db)) =/= undefined,
            with_db(Db, #{}, fun(Conn) ->
                case with_sql(SqlBin, call_conn(Conn, prepare, [SqlBin], #{})) of
                    {ok, {Id, Info}} when Bound ->
                        {ok, stmt_record(Conn, Id, SqlBin, Info)};
                    {ok, {Id, Info}} ->
                        %% On a pool: learn the statement's shape, then let any
                        %% worker run it from its cache.
                        _ = call_conn(Conn, finalize, [Id], #{}),
                        {ok, stmt_record(Db, undefined, SqlBin, Info)};
                    {error, _} = E ->
                        E
                end
            end);
        {error, _} = E -> E
    end.

stmt_record(Owner, Id, SqlBin, Info) ->
    #libsql_stmt{conn = Owner, id = Id, sql = SqlBin,
                 columns = maps:get(columns, Info),
                 decltypes = maps:get(decltypes, Info),
                 param_count = maps:get(param_count, Info),
                 param_names = maps:get(param_names, Info),
                 readonly = maps:get(readonly, Info)}.

%% @doc Release a prepared statement. Using it afterwards is an error.
%% A statement prepared on a pool (outside with_conn/transaction) is not
%% tied to one connection: it is run by SQL text from the statement cache
%% of whichever worker serves the call, so finalize has nothing to release
%% and it stays usable.
-spec finalize(Stmt :: stmt()) -> ok | {error, error()}.
finalize(#libsql_stmt{id = undefined}) ->
    ok;
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
batch(Db, Statements, Opts) when is_list(Statements) ->
    checked(batch, Opts, fun() ->
        Tx = maps:get(transaction, Opts, true),
        case batch_items(Statements, 1, []) of
            {ok, Items} ->
                case libsql_events:span(Db, batch, undefined,
                                        fun() -> call(Db, batch, [Items, Tx], Opts) end) of
                    {ok, Results} ->
                        {ok, [#{columns => C, rows => shape_rows(C, R, Opts), changes => N,
                                last_insert_rowid => Id} || {C, R, N, Id} <- Results]};
                    {error, _} = E -> E
                end;
            {error, _} = E ->
                E
        end
    end);
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
    checked(execute_many, Opts, fun() -> run_many(Db, Sql, ParamsList, Opts) end);
execute_many(_Db, _Sql, _ParamsList, _Opts) ->
    {error, libsql_proto:err(bad_argument, <<"execute_many takes a list of parameter lists">>)}.

run_many(Db, Sql, ParamsList, Opts) ->
    case libsql_proto:sql(Sql) of
        {ok, SqlBin} ->
            case many_params(ParamsList, 1, []) of
                {ok, Wire} ->
                    case libsql_events:span(Db, execute_many, SqlBin, fun() ->
                             with_sql(SqlBin, call(Db, execute_many, [SqlBin, Wire], Opts))
                         end) of
                        {ok, {N, Id}} -> {ok, #{changes => N, last_insert_rowid => Id}};
                        {error, _} = E -> E
                    end;
                {error, E} -> {error, E#{sql => SqlBin}}
            end;
        {error, _} = E -> E
    end.

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
    checked(execute_script, Opts, fun() ->
        case libsql_proto:sql(Sql) of
            {ok, SqlBin} ->
                case libsql_events:span(Db, execute_script, SqlBin,
                                        fun() -> call(Db, execute_script, [SqlBin], Opts) end) of
                    {ok, {N, C}} -> {ok, #{statements => N, changes => C}};
                    {error, _} = E -> E
                end;
            {error, _} = E -> E
        end
    end).

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
    checked(cursor_open, Opts, fun() -> open_cursor(Db, Sql, Params, Opts) end).

open_cursor(Db, Sql, Params, Opts) ->
    case {libsql_proto:sql(Sql), libsql_proto:params(Params)} of
        {{ok, SqlBin}, {ok, Wire}} ->
            Timeout = maps:get(timeout, Opts, default),
            Open = fun(Conn) ->
                       libsql_conn:request(Conn, cursor_open, [SqlBin, Wire], Timeout,
                                           {cursor_open, self()})
                   end,
            case target(Db) of
                {conn, Conn} ->
                    cursor_record(with_sql(SqlBin, Open(Conn)), Conn, undefined, Timeout);
                {pool, Pool} ->
                    %% The cursor keeps its connection checked out until closed.
                    case libsql_pool:checkout(Pool, checkout_timeout(Db, Opts)) of
                        {ok, Conn} ->
                            case cursor_record(with_sql(SqlBin, Open(Conn)), Conn, Pool,
                                               Timeout) of
                                {ok, _} = Ok -> Ok;
                                {error, _} = E -> libsql_pool:checkin(Pool, Conn, true), E
                            end;
                        {error, _} = E ->
                            E
                    end;
                {error, _} = E ->
                    E
            end;
        {{error, _} = E, _} -> E;
        {{ok, SqlBin}, {error, E}} -> {error, E#{sql => SqlBin}}
    end.

cursor_record({ok, {Id, Columns}}, Conn, Pool, Timeout) ->
    {ok, #libsql_cursor{conn = Conn, id = Id, columns = Columns, timeout = Timeout,
                        pool = Pool}};
cursor_record({error, _} = E, _Conn, _Pool, _Timeout) ->
    E.

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
cursor_close(#libsql_cursor{conn = Conn, id = Id, timeout = T, pool = Pool}) ->
    Result = case libsql_conn:request(Conn, cursor_close, [Id], T, {cursor_close, Id}) of
                 {ok, ok} -> ok;
                 {error, #{code := closed}} -> ok;
                 {error, _} = E -> E
             end,
    case Pool of
        undefined -> ok;
        _ -> libsql_pool:checkin(Pool, Conn, Result =:= ok)
    end,
    Result;
cursor_close(_) ->
    {error, libsql_proto:err(bad_argument, <<"cursor_close takes a cursor">>)}.

%% @doc Fold Fun(Row, Acc) over the rows of a query, streaming them in
%% chunks of `chunk' rows (default 1000): while one chunk is folded the port
%% reads the next, and the request for the one after is already queued, so
%% the port never waits for the caller. At most three chunks exist at a
%% time. If Fun raises, the cursor is closed and the exception passes
%% through.
-spec fold(Db :: db(), Sql :: iodata(), Params :: params(),
           Fun :: fun((row(), Acc) -> Acc), Acc0 :: Acc) -> {ok, Acc} | {error, error()}.
fold(Db, Sql, Params, Fun, Acc0) -> fold(Db, Sql, Params, Fun, Acc0, #{}).

-spec fold(Db :: db(), Sql :: iodata(), Params :: params(),
           Fun :: fun((row(), Acc) -> Acc), Acc0 :: Acc,
           Opts :: #{chunk => pos_integer(), timeout => timeout(), rows => tuples | maps}) ->
          {ok, Acc} | {error, error()}.
fold(Db, Sql, Params, Fun, Acc0, Opts) when is_function(Fun, 2) ->
    checked(fold, Opts, fun() ->
        Chunk = maps:get(chunk, Opts, 1000),
        case open_cursor(Db, Sql, Params, maps:without([chunk, rows], Opts)) of
            {ok, Cursor} ->
                try
                    First = send_fetch(Cursor, Chunk),
                    fold_loop(Cursor, Fun, Acc0, Chunk, Opts, First,
                              send_fetch(Cursor, Chunk))
                after
                    _ = cursor_close(Cursor)
                end;
            {error, _} = E ->
                E
        end
    end);
fold(_Db, _Sql, _Params, _Fun, _Acc0, _Opts) ->
    {error, libsql_proto:err(bad_argument, <<"fold takes a fun of two arguments">>)}.

send_fetch(#libsql_cursor{conn = Conn, id = Id, timeout = T}, N) ->
    libsql_conn:send_request(Conn, cursor_fetch, [Id, N], T, request).

%% ReqId: the fetch to fold now; Next: the one after it, already sent. A
%% fetch past the end (or after an error) is answered {[], true} at once,
%% and every reply is collected, so none is left behind.
fold_loop(#libsql_cursor{columns = Cols, timeout = T} = C, Fun, Acc, Chunk, Opts, ReqId, Next) ->
    case libsql_conn:await(ReqId, T) of
        {ok, {Rows, true}} ->
            _ = libsql_conn:await(Next, T),
            {ok, fold_rows(Fun, shape_rows(Cols, Rows, Opts), Acc)};
        {ok, {Rows, false}} ->
            After = send_fetch(C, Chunk),
            Acc1 = try
                       fold_rows(Fun, shape_rows(Cols, Rows, Opts), Acc)
                   catch
                       Class:Reason:Stack ->
                           _ = libsql_conn:await(Next, T),
                           _ = libsql_conn:await(After, T),
                           erlang:raise(Class, Reason, Stack)
                   end,
            fold_loop(C, Fun, Acc1, Chunk, Opts, Next, After);
        {error, _} = E ->
            _ = libsql_conn:await(Next, T),
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
    checked(begin_transaction, Opts, fun() ->
        case session_conn(Db) of
            {ok, Conn} ->
                case run_group(Conn, begin_sql(maps:get(mode, Opts, deferred)), Opts) of
                    ok -> ok;
                    {error, E} -> begin_failed(Conn, E, Opts)
                end;
            {error, _} = E -> E
        end
    end).

%% @doc COMMIT. Without a transaction: `{error, #{code := error}}' saying so.
-spec commit(Db :: db()) -> ok | {error, error()}.
commit(Db) -> end_transaction(Db, <<"COMMIT">>).

%% @doc ROLLBACK. Without a transaction: an error saying so.
-spec rollback(Db :: db()) -> ok | {error, error()}.
rollback(Db) -> end_transaction(Db, <<"ROLLBACK">>).

end_transaction(Db, Sql) ->
    case session_conn(Db) of
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
    case {identifier(Name), session_conn(Db)} of
        {{ok, Id}, {ok, Conn}} ->
            case execute(Conn, [Prefix, $", Id, $"]) of
                {ok, _} -> ok;
                {error, _} = E -> E
            end;
        {{ok, _}, {error, _} = E} ->
            E;
        {error, _} ->
            {error, libsql_proto:err(bad_argument,
                                     io_lib:format("savepoint name ~0tP is not a plain identifier "
                                                   "([A-Za-z_][A-Za-z0-9_]*, at most 64)",
                                                   [Name, 5]))}
    end.

identifier(A) when is_atom(A) -> identifier(atom_to_binary(A, utf8));
identifier(L) when is_list(L) ->
    try iolist_to_binary(L) of B -> identifier(B) catch error:_ -> error end;
identifier(B) when is_binary(B), byte_size(B) > 0, byte_size(B) =< 64 ->
    %% \z, not $: $ also matches before a final newline.
    case re:run(B, <<"^[A-Za-z_][A-Za-z0-9_]*\\z">>, [{capture, none}]) of
        match -> {ok, B};
        nomatch -> error
    end;
identifier(_) -> error.

%% ---- metadata and control --------------------------------------------------------

%% @doc Facts about the connection: last_insert_rowid, changes,
%% total_changes, autocommit, file, read_only, journal_mode, mode.
-spec info(Db :: db()) -> {ok, #{atom() => term()}} | {error, error()}.
info(Db) -> call(Db, info, [], #{}).

%% @doc Counters. Of a connection: requests, errors, rows, prepares,
%% statement cache hits/misses/evictions/size/capacity, open statements and
%% cursors (counted by its port), and port_time_us, the time requests spent
%% in the port as seen by the connection process. Of a pool: size,
%% workers, idle, busy, waiting, checkouts, checkout_timeouts, restarts.
-spec stats(Db :: db()) -> {ok, #{atom() => non_neg_integer()}} | {error, error()}.
stats(Db) ->
    case target(Db) of
        {pool, Pool} -> libsql_pool:stats(Pool);
        {conn, Conn} ->
            case call_conn(Conn, stats, [], #{}) of
                {ok, Port} ->
                    case libsql_conn:stats(Conn) of
                        {ok, Own} -> {ok, maps:merge(Port, Own)};
                        {error, _} = E -> E
                    end;
                {error, _} = E -> E
            end;
        {error, _} = E -> E
    end.

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
interrupt(Conn) ->
    case session_conn(Conn) of
        {ok, C} -> ok_or_error(call_conn(C, interrupt, [], #{}));
        {error, _} = E -> E
    end.

%% @doc Return a connection to a clean state: cursors closed, prepared
%% statements finalized, an open transaction rolled back.
-spec reset(Conn :: conn()) -> ok | {error, error()}.
reset(Conn) ->
    case session_conn(Conn) of
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
    checked(backup, Opts, fun() ->
        case libsql_opts:path(Dest) of
            {ok, D} -> ok_or_error(call(Db, backup, [D], Opts));
            {error, _} = E -> E
        end
    end).

ok_or_error({ok, ok}) -> ok;
ok_or_error({error, _} = E) -> E.

%% ---- the shell ----------------------------------------------------------------

%% @doc Run a query and print its result as an aligned table (for the
%% shell); errors are printed with format_error/1 and returned.
-spec print(Db :: db(), Sql :: sql()) -> ok | {error, error()}.
print(Db, Sql) -> print(Db, Sql, []).

-spec print(Db :: db(), Sql :: sql(), Params :: params()) -> ok | {error, error()}.
print(Db, Sql, Params) ->
    case query(Db, Sql, Params) of
        {ok, Columns, Rows} -> io:put_chars(libsql_table:format(Columns, Rows));
        {error, _} = E -> io:format("~ts~n", [format_error(E)]), E
    end.

%% ---- errors ------------------------------------------------------------------

%% @doc A readable sentence for any error this library returns.
-spec format_error(error() | {error, error()} | term()) -> binary().
format_error({error, E}) -> format_error(E);
format_error(#{code := Code} = E) ->
    Parts = [headline(libsql_error:describe(Code), maps:get(message, E, <<>>)),
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

%% The code's phrase and the message, without saying the same thing twice
%% ("the connection is closed: the connection is closed").
headline(Phrase, Msg) when not is_binary(Msg); Msg =:= <<>> -> Phrase;
headline(Phrase, Msg) ->
    case string:prefix(string:casefold(Msg), string:casefold(Phrase)) of
        nomatch -> [Phrase, ": ", Msg];
        _ -> Msg
    end.

truncate(Bin, Max) when byte_size(Bin) =< Max -> Bin;
truncate(Bin, Max) -> [binary:part(Bin, 0, Max), "..."].

%% ---- internals -------------------------------------------------------------

%% Run Body() if Opts are good options of API function Fun; nothing is
%% sent and no timer armed otherwise.
checked(Fun, Opts, Body) ->
    case libsql_opts:call(Fun, Opts) of
        ok -> Body();
        {error, _} = E -> E
    end.

call(Db, Cmd, Args, Opts) ->
    with_db(Db, Opts, fun(Conn) -> call_conn(Conn, Cmd, Args, Opts) end).

call_conn(Conn, Cmd, Args, Opts) ->
    libsql_conn:request(Conn, Cmd, Args, maps:get(timeout, Opts, default)).

%% What Db names: the connection pinned for it in this process, a
%% connection, or a pool.
target(Db) ->
    case get(?PIN_KEY(Db)) of
        undefined ->
            case libsql_pool:lookup(Db) of
                {ok, Pool} -> {pool, Pool};
                error when is_pid(Db) -> {conn, Db};
                error -> {error, libsql_proto:err(
                                   bad_argument,
                                   io_lib:format("~0tP is not a connection or a running pool",
                                                 [Db, 5]))}
            end;
        Conn ->
            {conn, Conn}
    end.

%% Run Fun(Conn) for one call: on the connection, or on a worker checked
%% out of the pool for just this call.
with_db(Db, Opts, Fun) ->
    case target(Db) of
        {conn, Conn} -> Fun(Conn);
        {pool, Pool} ->
            case libsql_pool:checkout(Pool, checkout_timeout(Db, Opts)) of
                {ok, Conn} ->
                    try Fun(Conn) of
                        Result ->
                            libsql_pool:checkin(Pool, Conn, healthy(Result)),
                            Result
                    catch
                        Class:Reason:Stack ->
                            libsql_pool:checkin(Pool, Conn, false),
                            erlang:raise(Class, Reason, Stack)
                    end;
                {error, _} = E -> E
            end;
        {error, _} = E -> E
    end.

%% Whether a worker can go straight back to the pool after this result.
%% After a dead port or a timeout (whose cancel may still be pending) it
%% must not: the pool resets it first, and a worker that cannot answer
%% the reset is never handed out again.
healthy({error, #{code := Code}}) when Code =:= port_exited; Code =:= closed;
                                       Code =:= timeout -> false;
healthy(_) -> true.

%% Commands that only make sense on one connection across calls (BEGIN,
%% COMMIT, savepoints, interrupt, reset): a pool must be pinned first.
session_conn(Db) ->
    case target(Db) of
        {conn, Conn} -> {ok, Conn};
        {pool, _} ->
            {error, libsql_proto:err(
                      bad_argument,
                      <<"this needs one connection across calls: use it inside "
                        "libsql:with_conn/2 or libsql:transaction/2 on a pool">>)};
        {error, _} = E -> E
    end.

checkout_timeout(Db, Opts) ->
    case Opts of
        #{checkout_timeout := T} -> T;
        _ -> maps:get(checkout_timeout, libsql_pool:config(Db), ?DEFAULT_CHECKOUT_TIMEOUT)
    end.

%% Run Fun(Conn) with one connection pinned for Db in this process. Fun
%% returns {Result, Clean}: a pool gets the worker back as it is when
%% Clean, reset otherwise (and always when Fun raises).
pinned(Db, Opts, Fun) ->
    case target(Db) of
        {conn, Conn} -> pin_run(Db, Conn, Fun);
        {pool, Pool} ->
            case libsql_pool:checkout(Pool, checkout_timeout(Db, Opts)) of
                {ok, Conn} ->
                    Clean = fun(R) -> libsql_pool:checkin(Pool, Conn, R), ok end,
                    try pin_run(Db, Conn, Fun) of
                        {ok, _} = Ok -> Clean(true), Ok;
                        Other -> Clean(false), Other
                    catch
                        Class:Reason:Stack ->
                            Clean(false),
                            erlang:raise(Class, Reason, Stack)
                    end;
                {error, _} = E -> E
            end;
        {error, _} = E -> E
    end.

pin_run(Db, Conn, Fun) ->
    case get(?PIN_KEY(Db)) of
        Conn -> Fun(Conn);
        _ ->
            put(?PIN_KEY(Db), Conn),
            try Fun(Conn)
            after erase(?PIN_KEY(Db))
            end
    end.
