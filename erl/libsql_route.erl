%% @private
%% @doc Where a call runs: what a `Db' names (a connection, a pool, or the
%% connection pinned for it in this process) and the one place a pool
%% connection is checked out and given back.
%%
%% Pinning is the pgo idiom: the process dictionary key {libsql_pin, Db}
%% holds the connection a with_conn/transaction fun runs on, so calls on
%% the same Db from the same process inside the fun use it.
-module(libsql_route).

-export([target/1, run/4, call/4, call_conn/4, with_db/3, with_conn/2, pinned/3,
         session_conn/1]).

-export_type([return/0]).

-define(PIN_KEY(Db), {libsql_pin, Db}).

%% What to do with a checked-out pool connection once the work on it is
%% done: give it back as it is, have the pool reset it first (a
%% transaction or cursors may be left open), or keep it checked out (a
%% cursor holds it until closed).
-type return() :: clean | reset | keep.

%% @doc What Db names: the connection pinned for it in this process, a
%% connection, or a pool.
-spec target(term()) -> {conn, pid()} | {pool, pid()} | {error, libsql:error()}.
target(Db) ->
    case get(?PIN_KEY(Db)) of
        undefined ->
            case libsql_pool:lookup(Db) of
                {ok, Pool} -> {pool, Pool};
                error when is_pid(Db) -> {conn, Db};
                error -> {error, not_a_db(Db)}
            end;
        Conn ->
            {conn, Conn}
    end.

%% @doc Run Fun(Conn, Pool) on the connection Db names, or on a connection
%% checked out of the pool Db for this run (Pool is then that pool, else
%% `none'). Return(Result) says how the pool gets it back; a Fun that
%% raises gives it back to be reset, and the exception passes through.
%% A pool costs one read of its registry row here, and no message when a
%% worker is idle (libsql_pool:lease/2).
-spec run(term(), map(), fun((pid(), pid() | none) -> Result),
          fun((Result) -> return())) -> Result | {error, libsql:error()}.
run(Db, Opts, Fun, Return) ->
    case get(?PIN_KEY(Db)) of
        undefined ->
            case libsql_pool:handle(Db) of
                {ok, Pool} -> run_pool(Pool, Opts, Fun, Return);
                error when is_pid(Db) -> Fun(Db, none);
                error -> {error, not_a_db(Db)}
            end;
        Conn ->
            Fun(Conn, none)
    end.

run_pool(Pool, Opts, Fun, Return) ->
    case libsql_pool:lease(Pool, maps:get(checkout_timeout, Opts, default)) of
        {ok, Conn, Lease} ->
            try Fun(Conn, libsql_pool:manager(Pool)) of
                Result ->
                    case Return(Result) of
                        keep -> libsql_pool:keep(Conn, Lease);
                        How -> libsql_pool:release(Lease, How =:= clean)
                    end,
                    Result
            catch
                Class:Reason:Stack ->
                    libsql_pool:release(Lease, false),
                    erlang:raise(Class, Reason, Stack)
            end;
        {error, _} = E ->
            E
    end.

%% @doc One command on the connection Db names (checked out for just this
%% call on a pool).
-spec call(term(), atom(), [term()], map()) -> {ok, term()} | {error, libsql:error()}.
call(Db, Cmd, Args, Opts) ->
    with_db(Db, Opts, fun(Conn) -> call_conn(Conn, Cmd, Args, Opts) end).

%% @doc One command on a connection, with the call's `timeout'.
-spec call_conn(pid(), atom(), [term()], map()) -> {ok, term()} | {error, libsql:error()}.
call_conn(Conn, Cmd, Args, Opts) ->
    libsql_conn:request(Conn, Cmd, Args, maps:get(timeout, Opts, default)).

%% @doc Run Fun(Conn) for one call: on the connection, or on a worker
%% checked out of the pool for just this call. The worker goes back as it
%% is unless the result says it may not be healthy.
-spec with_db(term(), map(), fun((pid()) -> Result)) -> Result | {error, libsql:error()}.
with_db(Db, Opts, Fun) ->
    run(Db, Opts, fun(Conn, _Pool) -> Fun(Conn) end, fun returned/1).

%% After a dead port or a timeout (whose cancel may still be pending) a
%% worker must not go straight back: the pool resets it first, and one
%% that cannot answer the reset is never handed out again.
returned({error, #{code := Code}}) when Code =:= port_exited; Code =:= closed;
                                        Code =:= timeout -> reset;
returned(_) -> clean.

%% @doc Run Fun(Conn) with one connection pinned for Db in this process
%% (libsql:with_conn/2); a pool worker goes back reset.
-spec with_conn(term(), fun((pid()) -> Result)) -> Result | {error, libsql:error()}.
with_conn(Db, Fun) ->
    run(Db, #{}, fun(Conn, _Pool) -> pin_run(Db, Conn, Fun) end, fun(_) -> reset end).

%% @doc Run Fun(Conn) with one connection pinned for Db in this process
%% (a transaction): a pool worker goes back as it is when Fun's result is
%% `{ok, _}', reset otherwise.
-spec pinned(term(), map(), fun((pid()) -> Result)) -> Result | {error, libsql:error()}.
pinned(Db, Opts, Fun) ->
    run(Db, Opts, fun(Conn, _Pool) -> pin_run(Db, Conn, Fun) end,
        fun({ok, _}) -> clean; (_) -> reset end).

pin_run(Db, Conn, Fun) ->
    case get(?PIN_KEY(Db)) of
        Conn -> Fun(Conn);
        _ ->
            put(?PIN_KEY(Db), Conn),
            try Fun(Conn)
            after erase(?PIN_KEY(Db))
            end
    end.

%% @doc The connection for commands that only make sense on one
%% connection across calls (BEGIN, COMMIT, savepoints, interrupt, reset):
%% a pool must be pinned first.
-spec session_conn(term()) -> {ok, pid()} | {error, libsql:error()}.
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

not_a_db(Db) ->
    libsql_proto:err(bad_argument,
                     io_lib:format("~0tP is not a connection or a running pool", [Db, 5])).
