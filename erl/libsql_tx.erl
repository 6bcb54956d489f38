%% @private
%% @doc Transactions: the managed form (libsql:transaction/2,3, nested
%% ones as savepoints) and the explicit one (begin_transaction, commit,
%% rollback, savepoint, release, rollback_to). libsql checks the options;
%% everything here runs on one connection, pinned by libsql_route, as the
%% port's transaction commands (begin, commit, rollback, savepoint): the
%% backend decides what they mean; no transaction SQL is written here.
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
            {undefined, _} -> top_transaction(Conn, Fun, Mode, Opts);
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
        {ok, Conn} -> tx(Conn, 'begin', [maps:get(mode, Opts, deferred)], Opts);
        {error, _} = E -> E
    end.

%% @doc COMMIT on the session connection of Db.
-spec commit(libsql:db()) -> ok | {error, libsql:error()}.
commit(Db) -> end_transaction(Db, commit).

%% @doc ROLLBACK on the session connection of Db.
-spec rollback(libsql:db()) -> ok | {error, libsql:error()}.
rollback(Db) -> end_transaction(Db, rollback).

%% @doc SAVEPOINT, RELEASE SAVEPOINT or ROLLBACK TO SAVEPOINT Name on the
%% session connection of Db. Names are plain identifiers.
-spec savepoint(libsql:db(), savepoint | release | rollback_to, term()) ->
          ok | {error, libsql:error()}.
savepoint(Db, Op, Name) ->
    case {identifier(Name), libsql_route:session_conn(Db)} of
        {{ok, Id}, {ok, Conn}} ->
            tx(Conn, savepoint, [Op, Id], #{});
        {{ok, _}, {error, _} = E} ->
            E;
        {error, _} ->
            {error, libsql_proto:err(bad_argument,
                                     io_lib:format("savepoint name ~0tP is not a plain identifier "
                                                   "([A-Za-z_][A-Za-z0-9_]*, at most 64)",
                                                   [Name, 5]))}
    end.

%% ---- internals ---------------------------------------------------------------

%% One transaction command of the port (begin, commit, rollback,
%% savepoint): the backend knows what a transaction is; no SQL is written
%% here.
tx(Conn, Cmd, Args, Opts) ->
    case libsql_route:call_conn(Conn, Cmd, Args, maps:with([timeout], Opts)) of
        {ok, ok} -> ok;
        {error, _} = E -> E
    end.

top_transaction(Conn, Fun, Mode, Opts) ->
    case tx(Conn, 'begin', [Mode], Opts) of
        ok ->
            put(?TX_KEY(Conn), 0),
            try Fun(Conn) of
                Result ->
                    erase(?TX_KEY(Conn)),
                    case tx(Conn, commit, [], Opts) of
                        ok -> {ok, Result};
                        {error, _} = E ->
                            _ = tx(Conn, rollback, [], Opts),
                            E
                    end
            catch
                Class:Reason:Stack ->
                    erase(?TX_KEY(Conn)),
                    _ = tx(Conn, rollback, [], Opts),
                    erlang:raise(Class, Reason, Stack)
            end;
        {error, _} = E ->
            E
    end.

end_transaction(Db, Cmd) ->
    case libsql_route:session_conn(Db) of
        {ok, Conn} -> tx(Conn, Cmd, [], #{});
        {error, _} = E -> E
    end.

%% A transaction inside a transaction: a savepoint whose failure rolls
%% back only itself.
nested(Conn, Depth, Fun, Opts) ->
    Name = <<"libsql_sp_", (integer_to_binary(Depth))/binary>>,
    case tx(Conn, savepoint, [savepoint, Name], Opts) of
        ok ->
            put(?TX_KEY(Conn), Depth),
            try Fun(Conn) of
                Result ->
                    put(?TX_KEY(Conn), Depth - 1),
                    case tx(Conn, savepoint, [release, Name], Opts) of
                        ok -> {ok, Result};
                        {error, _} = E -> E
                    end
            catch
                Class:Reason:Stack ->
                    put(?TX_KEY(Conn), Depth - 1),
                    _ = tx(Conn, savepoint, [rollback_to, Name], Opts),
                    _ = tx(Conn, savepoint, [release, Name], Opts),
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
