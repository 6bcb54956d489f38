%% @private
%% @doc Streaming: cursors and fold. A cursor steps its statement in the
%% port only as rows are fetched; on a pool it keeps its connection
%% checked out until it is closed. fold keeps two fetches in flight so the
%% port never waits for the caller. libsql checks the options.
-module(libsql_stream).

-include("libsql.hrl").

-export([cursor_open/4, fetch/2, cursor_close/1, fold/6]).

%% @doc Open a cursor on Db (see libsql:cursor_open/4).
-spec cursor_open(libsql:db(), term(), term(), map()) ->
          {ok, libsql:cursor()} | {error, libsql:error()}.
cursor_open(Db, Sql, Params, Opts) ->
    case {libsql_proto:sql(Sql), libsql_proto:params(Params)} of
        {{ok, SqlBin}, {ok, Wire}} ->
            Timeout = maps:get(timeout, Opts, default),
            Open = fun(Conn, Pool) ->
                       Reply = libsql_conn:request(Conn, cursor_open, [SqlBin, Wire], Timeout,
                                                   {cursor_open, self()}),
                       case libsql_proto:with_sql(SqlBin, Reply) of
                           {ok, {Id, Columns}} ->
                               {ok, #libsql_cursor{conn = Conn, id = Id, columns = Columns,
                                                   timeout = Timeout, pool = pool(Pool)}};
                           {error, _} = E ->
                               E
                       end
                   end,
            %% The cursor keeps its pool connection until cursor_close/1.
            libsql_route:run(Db, Opts, Open, fun({ok, _}) -> keep; (_) -> clean end);
        {{error, _} = E, _} -> E;
        {{ok, SqlBin}, {error, E}} -> {error, E#{sql => SqlBin}}
    end.

pool(none) -> undefined;
pool(Pool) -> Pool.

%% @doc Up to N rows (see libsql:fetch/2).
-spec fetch(libsql:cursor(), pos_integer()) ->
          {ok, [tuple()], more | done} | {error, libsql:error()}.
fetch(#libsql_cursor{conn = Conn, id = Id, timeout = T}, N) ->
    case libsql_conn:request(Conn, cursor_fetch, [Id, N], T) of
        {ok, {Rows, true}} -> {ok, Rows, done};
        {ok, {Rows, false}} -> {ok, Rows, more};
        {error, _} = E -> E
    end.

%% @doc Close a cursor; on a pool its connection goes back, once.
-spec cursor_close(libsql:cursor()) -> ok | {error, libsql:error()}.
cursor_close(#libsql_cursor{conn = Conn, id = Id, timeout = T, pool = Pool}) ->
    case libsql_conn:request(Conn, cursor_close, [Id], T, {cursor_close, Id}) of
        {ok, already_closed} ->
            %% Closed before (or by its owner's exit, or a reset): its pool
            %% connection went back then, and may be someone else's now.
            ok;
        Closed ->
            Result = case Closed of
                         {ok, ok} -> ok;
                         {error, #{code := closed}} -> ok;
                         {error, _} = E -> E
                     end,
            case Pool of
                undefined -> ok;
                _ -> libsql_pool:checkin(Pool, Conn, Result =:= ok)
            end,
            Result
    end.

%% @doc Fold Fun over the rows of a query (see libsql:fold/6).
-spec fold(libsql:db(), term(), term(), fun((libsql:row(), Acc) -> Acc), Acc, map()) ->
          {ok, Acc} | {error, libsql:error()}.
fold(Db, Sql, Params, Fun, Acc0, Opts) ->
    Chunk = maps:get(chunk, Opts, 1000),
    case cursor_open(Db, Sql, Params, maps:without([chunk, rows], Opts)) of
        {ok, Cursor} ->
            try
                First = send_fetch(Cursor, Chunk),
                fold_loop(Cursor, Fun, Acc0, Chunk, Opts, First, send_fetch(Cursor, Chunk))
            after
                _ = cursor_close(Cursor)
            end;
        {error, _} = E ->
            E
    end.

send_fetch(#libsql_cursor{conn = Conn, id = Id, timeout = T}, N) ->
    libsql_conn:send(Conn, cursor_fetch, [Id, N], T, request).

%% ReqId: the fetch to fold now; Next: the one after it, already sent. A
%% fetch past the end (or after an error) is answered {[], true} at once,
%% and every reply is collected, so none is left behind.
fold_loop(#libsql_cursor{columns = Cols} = C, Fun, Acc, Chunk, Opts, ReqId, Next) ->
    case libsql_conn:await(ReqId) of
        {ok, {Rows, true}} ->
            _ = libsql_conn:await(Next),
            {ok, fold_rows(Fun, libsql_proto:shape_rows(Cols, Rows, Opts), Acc)};
        {ok, {Rows, false}} ->
            After = send_fetch(C, Chunk),
            Acc1 = try
                       fold_rows(Fun, libsql_proto:shape_rows(Cols, Rows, Opts), Acc)
                   catch
                       Class:Reason:Stack ->
                           _ = libsql_conn:await(Next),
                           _ = libsql_conn:await(After),
                           erlang:raise(Class, Reason, Stack)
                   end,
            fold_loop(C, Fun, Acc1, Chunk, Opts, Next, After);
        {error, _} = E ->
            _ = libsql_conn:await(Next),
            E
    end.

fold_rows(Fun, [Row | Rows], Acc) -> fold_rows(Fun, Rows, Fun(Row, Acc));
fold_rows(_Fun, [], Acc) -> Acc.
