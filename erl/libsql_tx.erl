%% @private
%% @doc Transactions: the managed form (libsql:transaction/2,3, nested
%% ones as savepoints) and the explicit one (begin_transaction, commit,
%% rollback, savepoint, release, rollback_to). libsql checks the options;
%% everything here runs on one connection, pinned by libsql_route.
%%
%% The process dictionary key {libsql_tx, Conn} holds the depth of the
%% managed transaction running on Conn in this process (0 = top level).
-module(libsql_tx).

-export([transaction/3, begin_transaction/2, commit/1, rollback/1, savepoint/3]).

-define(TX_KEY(Conn), {libsql_tx, Conn}).

%% @doc Run Fun(Conn) in a transaction on Db (see libsql:transaction/3):
%% `{ok, Result}', or `{error, Error}' when BEGIN or COMMIT fails; a Fun
%% that raises is rolled back and the exception passes through.
-spec transaction(libsql:db(), fun((libsql:conn()) -> Result), map()) ->
          {ok, Result} | {error, libsql:error()}.
transaction(Db, Fun, Opts) ->
    Mode = maps:get(mode, Opts, deferred),
    libsql_route:pinned(Db, Opts, fun(Conn) ->
        case {get(?TX_KEY(Conn)), Mode} of
            {undefined, _} -> top_transaction(Conn, Fun, begin_sql(Mode), Opts);
            {_Depth, read_only} ->
                %% A savepoint cannot stop writes the outer transaction
                %% may already have made or still make.
                {error, libsql_proto:err(
                          bad_argument,
                          <<"a nested transaction cannot be read_only: open the "
                            "outer transaction with mode read_only instead">>)};
            {Depth, _} -> nested(Conn, Depth + 1, Fun, Opts)
        end
    end).

%% @doc BEGIN on the session connection of Db (libsql:begin_transaction/2).
-spec begin_transaction(libsql:db(), map()) -> ok | {error, libsql:error()}.
begin_transaction(Db, Opts) ->
    case libsql_route:session_conn(Db) of
        {ok, Conn} ->
            case run_group(Conn, begin_sql(maps:get(mode, Opts, deferred)), Opts) of
                ok -> ok;
                {error, E} -> begin_failed(Conn, E, Opts)
            end;
        {error, _} = E -> E
    end.

%% @doc COMMIT on the session connection of Db.
-spec commit(libsql:db()) -> ok | {error, libsql:error()}.
commit(Db) -> end_transaction(Db, <<"COMMIT">>).

%% @doc ROLLBACK on the session connection of Db.
-spec rollback(libsql:db()) -> ok | {error, libsql:error()}.
rollback(Db) -> end_transaction(Db, <<"ROLLBACK">>).

%% @doc SAVEPOINT, RELEASE SAVEPOINT or ROLLBACK TO SAVEPOINT Name on the
%% session connection of Db. Names are plain identifiers.
-spec savepoint(libsql:db(), savepoint | release | rollback_to, term()) ->
          ok | {error, libsql:error()}.
savepoint(Db, Op, Name) ->
    case {identifier(Name), libsql_route:session_conn(Db)} of
        {{ok, Id}, {ok, Conn}} ->
            case libsql:execute(Conn, [savepoint_sql(Op), $", Id, $"]) of
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

%% ---- internals ---------------------------------------------------------------

%% The modes were checked by libsql_opts:call/2.
begin_sql(deferred) -> [<<"BEGIN DEFERRED">>];
begin_sql(immediate) -> [<<"BEGIN IMMEDIATE">>];
begin_sql(exclusive) -> [<<"BEGIN EXCLUSIVE">>];
begin_sql(read_only) -> [<<"BEGIN DEFERRED">>, <<"PRAGMA query_only = 1">>].

savepoint_sql(savepoint) -> <<"SAVEPOINT ">>;
savepoint_sql(release) -> <<"RELEASE SAVEPOINT ">>;
savepoint_sql(rollback_to) -> <<"ROLLBACK TO SAVEPOINT ">>.

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

end_transaction(Db, Sql) ->
    case libsql_route:session_conn(Db) of
        {ok, Conn} -> finish(Conn, Sql, #{});
        {error, _} = E -> E
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
    case libsql_route:call_conn(Conn, batch, [[{S, []} || S <- Sqls], false], Opts) of
        {ok, _} -> ok;
        {error, _} = E -> E
    end.

%% A transaction inside a transaction: a savepoint whose failure rolls
%% back only itself.
nested(Conn, Depth, Fun, TxOpts) ->
    Name = <<"libsql_sp_", (integer_to_binary(Depth))/binary>>,
    %% The statements take the transaction's deadline, not its mode.
    Opts = maps:with([timeout], TxOpts),
    case libsql:execute(Conn, <<"SAVEPOINT ", Name/binary>>, [], Opts) of
        {ok, _} ->
            put(?TX_KEY(Conn), Depth),
            try Fun(Conn) of
                Result ->
                    put(?TX_KEY(Conn), Depth - 1),
                    case libsql:execute(Conn, <<"RELEASE ", Name/binary>>, [], Opts) of
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
