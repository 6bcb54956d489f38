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

-export([open/1, close/1, ping/1, ping/2,
         query/2, query/3, query/4,
         execute/2, execute/3, execute/4,
         transaction/2, transaction/3,
         format_error/1]).

-export_type([db/0, conn/0, open_opts/0, value/0, params/0, row/0, error/0,
              query_opts/0, transaction_opts/0]).

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

is_port_opt(K) -> lists:member(K, [read_only, create, busy_timeout]).

port_opt(read_only, V) when is_boolean(V) -> {read_only, V};
port_opt(create, V) when is_boolean(V) -> {create, V};
port_opt(busy_timeout, V) when is_integer(V), V >= 0, V =< 16#7fffffff -> {busy_timeout, V};
port_opt(K, _) ->
    throw({bad_option, iolist_to_binary(io_lib:format("bad value for option ~p", [K]))}).

%% Options handled on the Erlang side; anything else is a mistake.
check_local_opts(Opts) ->
    Known = [path, read_only, create, busy_timeout, timeout, max_frame,
             port_executable, cancel_timeout],
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
-spec query(Db :: db(), Sql :: iodata()) ->
          {ok, [binary()], [row()]} | {error, error()}.
query(Db, Sql) -> query(Db, Sql, [], #{}).

-spec query(Db :: db(), Sql :: iodata(), Params :: params()) ->
          {ok, [binary()], [row()]} | {error, error()}.
query(Db, Sql, Params) -> query(Db, Sql, Params, #{}).

%% @doc As query/3; `#{rows => maps}' returns each row as a map keyed by
%% column name, `timeout' bounds the call.
-spec query(Db :: db(), Sql :: iodata(), Params :: params(), Opts :: query_opts()) ->
          {ok, [binary()], [row()]} | {error, error()}.
query(Db, Sql, Params, Opts) ->
    case statement(Db, query, Sql, Params, Opts) of
        {ok, {Columns, Rows}} -> {ok, Columns, shape_rows(Columns, Rows, Opts)};
        {error, _} = E -> E
    end.

%% @doc Run one statement for its effect.
-spec execute(Db :: db(), Sql :: iodata()) ->
          {ok, #{changes := non_neg_integer(), last_insert_rowid := integer()}}
        | {error, error()}.
execute(Db, Sql) -> execute(Db, Sql, [], #{}).

-spec execute(Db :: db(), Sql :: iodata(), Params :: params()) ->
          {ok, #{changes := non_neg_integer(), last_insert_rowid := integer()}}
        | {error, error()}.
execute(Db, Sql, Params) -> execute(Db, Sql, Params, #{}).

-spec execute(Db :: db(), Sql :: iodata(), Params :: params(), Opts :: query_opts()) ->
          {ok, #{changes := non_neg_integer(), last_insert_rowid := integer()}}
        | {error, error()}.
execute(Db, Sql, Params, Opts) ->
    case statement(Db, execute, Sql, Params, Opts) of
        {ok, {Changes, RowId}} -> {ok, #{changes => Changes, last_insert_rowid => RowId}};
        {error, _} = E -> E
    end.

statement(Db, Cmd, Sql, Params, Opts) ->
    case libsql_proto:sql(Sql) of
        {ok, SqlBin} ->
            case libsql_proto:params(Params) of
                {ok, Wire} ->
                    case call(Db, Cmd, [SqlBin, Wire], Opts) of
                        {error, #{sql := _}} = E -> E;
                        {error, #{code := bad_argument} = E} -> {error, E#{sql => SqlBin}};
                        Other -> Other
                    end;
                {error, E} -> {error, E#{sql => SqlBin}}
            end;
        {error, _} = E ->
            E
    end.

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
                               io_lib:format("unknown transaction mode ~0tP", [Other, 5]))}.

top_transaction(Db, Fun, Begin, Opts) ->
    case resolve(Db) of
        {ok, Conn} -> top_transaction(Db, Conn, Fun, Begin, Opts);
        {error, _} = E -> E
    end.

top_transaction(Db, Conn, Fun, Begin, Opts) ->
    ReadOnly = maps:get(mode, Opts, deferred) =:= read_only,
    case run_all(Conn, Begin, Opts) of
        ok ->
            pin(Db, Conn, 0),
            try Fun(Conn) of
                Result ->
                    unpin(Db, Conn),
                    case execute(Conn, <<"COMMIT">>, [], Opts) of
                        {ok, _} -> end_read_only(Conn, ReadOnly), {ok, Result};
                        {error, _} = E ->
                            _ = execute(Conn, <<"ROLLBACK">>, [], Opts),
                            end_read_only(Conn, ReadOnly),
                            E
                    end
            catch
                Class:Reason:Stack ->
                    unpin(Db, Conn),
                    _ = execute(Conn, <<"ROLLBACK">>, [], Opts),
                    end_read_only(Conn, ReadOnly),
                    erlang:raise(Class, Reason, Stack)
            end;
        {error, _} = E ->
            _ = execute(Conn, <<"ROLLBACK">>, [], Opts),
            end_read_only(Conn, ReadOnly),
            E
    end.

end_read_only(_Conn, false) -> ok;
end_read_only(Conn, true) ->
    _ = execute(Conn, <<"PRAGMA query_only = 0">>),
    ok.

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
                    _ = execute(Conn, <<"ROLLBACK TO ", Name/binary>>, [], Opts),
                    _ = execute(Conn, <<"RELEASE ", Name/binary>>, [], Opts),
                    erlang:raise(Class, Reason, Stack)
            end;
        {error, _} = E ->
            E
    end.

run_all(_Conn, [], _Opts) -> ok;
run_all(Conn, [Sql | Rest], Opts) ->
    case execute(Conn, Sql, [], Opts) of
        {ok, _} -> run_all(Conn, Rest, Opts);
        {error, _} = E -> E
    end.

pin(Db, Conn, Depth) ->
    put(?TX_KEY(Db), {Conn, Depth}),
    put(?TX_KEY(Conn), {Conn, Depth}),
    ok.

unpin(Db, Conn) ->
    erase(?TX_KEY(Db)),
    erase(?TX_KEY(Conn)),
    ok.

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
        {ok, Conn} -> libsql_conn:request(Conn, Cmd, Args, maps:get(timeout, Opts, default));
        {error, _} = E -> E
    end.

resolve(Db) ->
    case get(?TX_KEY(Db)) of
        {Conn, _} -> {ok, Conn};
        undefined when is_pid(Db) -> {ok, Db};
        undefined ->
            {error, libsql_proto:err(bad_argument,
                                       io_lib:format("~0tP is not a connection", [Db, 5]))}
    end.
