%% @doc Typed helpers for the PRAGMAs people reach for. Each returns the
%% value as Erlang data, and setters check their argument before building
%% SQL, so nothing here interpolates an unchecked string.
-module(libsql_pragma).

-export([foreign_keys/1, foreign_keys/2, journal_mode/1, journal_mode/2,
         synchronous/1, synchronous/2, cache_size/1, cache_size/2,
         user_version/1, user_version/2, table_info/2, index_list/2,
         integrity_check/1, wal_checkpoint/1, wal_checkpoint/2, optimize/1]).

-type db() :: libsql:db().
-type error() :: {error, libsql:error()}.

%% @doc Whether foreign key constraints are enforced.
-spec foreign_keys(db()) -> {ok, boolean()} | error().
foreign_keys(Db) -> bool(one(Db, <<"PRAGMA foreign_keys">>)).

-spec foreign_keys(db(), boolean()) -> ok | error().
foreign_keys(Db, On) when is_boolean(On) ->
    set(Db, [<<"PRAGMA foreign_keys = ">>, on_off(On)]);
foreign_keys(_Db, _) -> bad(<<"foreign_keys takes a boolean">>).

%% @doc The journal mode (delete, truncate, persist, memory, wal, off).
-spec journal_mode(db()) -> {ok, atom()} | error().
journal_mode(Db) -> atom(one(Db, <<"PRAGMA journal_mode">>)).

%% @doc Set the journal mode; returns the mode now in force (SQLite may
%% refuse a change, e.g. wal on :memory:, and keep the old one).
-spec journal_mode(db(), delete | truncate | persist | memory | wal | off) ->
          {ok, atom()} | error().
journal_mode(Db, Mode) ->
    case lists:member(Mode, [delete, truncate, persist, memory, wal, off]) of
        true -> atom(one(Db, [<<"PRAGMA journal_mode = ">>, atom_to_binary(Mode, utf8)]));
        false -> bad(<<"unknown journal mode">>)
    end.

%% @doc The synchronous setting: off, normal, full or extra.
-spec synchronous(db()) -> {ok, off | normal | full | extra} | error().
synchronous(Db) ->
    case one(Db, <<"PRAGMA synchronous">>) of
        {ok, N} when N >= 0, N =< 3 -> {ok, lists:nth(N + 1, [off, normal, full, extra])};
        {ok, Other} -> {error, libsql_proto:err(protocol, io_lib:format("unexpected ~p", [Other]))};
        {error, _} = E -> E
    end.

-spec synchronous(db(), off | normal | full | extra) -> ok | error().
synchronous(Db, Level) ->
    case lists:member(Level, [off, normal, full, extra]) of
        true -> set(Db, [<<"PRAGMA synchronous = ">>, atom_to_binary(Level, utf8)]);
        false -> bad(<<"synchronous takes off, normal, full or extra">>)
    end.

%% @doc Page cache size: positive = pages, negative = KiB.
-spec cache_size(db()) -> {ok, integer()} | error().
cache_size(Db) -> one(Db, <<"PRAGMA cache_size">>).

-spec cache_size(db(), integer()) -> ok | error().
cache_size(Db, N) when is_integer(N), abs(N) < 16#7fffffff ->
    set(Db, [<<"PRAGMA cache_size = ">>, integer_to_binary(N)]);
cache_size(_Db, _) -> bad(<<"cache_size takes an integer">>).

%% @doc The user_version integer in the database header (for migrations).
-spec user_version(db()) -> {ok, integer()} | error().
user_version(Db) -> one(Db, <<"PRAGMA user_version">>).

-spec user_version(db(), integer()) -> ok | error().
user_version(Db, N) when is_integer(N), N >= -16#80000000, N =< 16#7fffffff ->
    set(Db, [<<"PRAGMA user_version = ">>, integer_to_binary(N)]);
user_version(_Db, _) -> bad(<<"user_version takes a 32-bit integer">>).

%% @doc Columns of a table: one map per column (cid, name, type, notnull,
%% dflt_value, pk). The table name is bound as a parameter.
-spec table_info(db(), iodata()) -> {ok, [map()]} | error().
table_info(Db, Table) ->
    with_name(Table, fun(T) ->
        maps_of(libsql:query(Db, <<"SELECT * FROM pragma_table_info(?)">>, [T], #{rows => maps}))
    end).

%% @doc Indexes of a table: one map per index (seq, name, unique, origin, partial).
-spec index_list(db(), iodata()) -> {ok, [map()]} | error().
index_list(Db, Table) ->
    with_name(Table, fun(T) ->
        maps_of(libsql:query(Db, <<"SELECT * FROM pragma_index_list(?)">>, [T], #{rows => maps}))
    end).

%% @doc `ok' when PRAGMA integrity_check finds nothing, else the problems.
-spec integrity_check(db()) -> ok | {error, {corrupt, [binary()]}} | error().
integrity_check(Db) ->
    case libsql:query(Db, <<"PRAGMA integrity_check">>) of
        {ok, _, [{<<"ok">>}]} -> ok;
        {ok, _, Rows} -> {error, {corrupt, [M || {M} <- Rows]}};
        {error, _} = E -> E
    end.

%% @doc Checkpoint the WAL (passive): #{busy, log, checkpointed}.
-spec wal_checkpoint(db()) -> {ok, map()} | error().
wal_checkpoint(Db) -> wal_checkpoint(Db, passive).

-spec wal_checkpoint(db(), passive | full | restart | truncate) -> {ok, map()} | error().
wal_checkpoint(Db, Mode) ->
    case lists:member(Mode, [passive, full, restart, truncate]) of
        true ->
            case libsql:query(Db, [<<"PRAGMA wal_checkpoint(">>, atom_to_binary(Mode, utf8), ")"]) of
                {ok, _, [{Busy, Log, Done}]} ->
                    {ok, #{busy => Busy =/= 0, log => Log, checkpointed => Done}};
                {error, _} = E -> E
            end;
        false ->
            bad(<<"wal_checkpoint takes passive, full, restart or truncate">>)
    end.

%% @doc PRAGMA optimize (run before closing long-lived connections).
-spec optimize(db()) -> ok | error().
optimize(Db) -> set(Db, <<"PRAGMA optimize">>).

%% ---- internals ----------------------------------------------------------------

one(Db, Sql) ->
    case libsql:query(Db, Sql) of
        {ok, _, [{V} | _]} -> {ok, V};
        {ok, _, []} -> {ok, null};
        {error, _} = E -> E
    end.

set(Db, Sql) ->
    case libsql:query(Db, Sql) of
        {ok, _, _} -> ok;
        {error, _} = E -> E
    end.

bool({ok, N}) when is_integer(N) -> {ok, N =/= 0};
bool(Other) -> Other.

atom({ok, B}) when is_binary(B) -> {ok, binary_to_atom(B, utf8)};
atom(Other) -> Other.

maps_of({ok, _, Rows}) -> {ok, Rows};
maps_of({error, _} = E) -> E.

on_off(true) -> <<"ON">>;
on_off(false) -> <<"OFF">>.

%% A table name (atom, string, binary) as a bound parameter, never spliced.
with_name(T, Fun) when is_atom(T) -> Fun(atom_to_binary(T, utf8));
with_name(T, Fun) when is_binary(T); is_list(T) ->
    try unicode:characters_to_binary(T) of
        B when is_binary(B) -> Fun(B);
        _ -> bad(<<"a table name must be text">>)
    catch
        error:_ -> bad(<<"a table name must be text">>)
    end;
with_name(_T, _Fun) ->
    bad(<<"a table name must be an atom, a string or a binary">>).

bad(Why) -> {error, libsql_proto:err(bad_argument, Why)}.
