%% @doc Typed helpers for the PRAGMAs people reach for. Each returns the
%% value as Erlang data, and setters check their argument before building
%% SQL, so nothing here interpolates an unchecked string.
%%
%% `Db' is what {@link libsql} takes: a connection, a pool name or a pool
%% pid. Each function runs one statement with {@link libsql:query/4}, so
%% on a pool it runs on whichever connection is free: a setter changes that
%% one connection only (a PRAGMA setting belongs to a connection, and a
%% pool's connections keep theirs when given back). Set what every
%% connection needs on each of them, or use one connection (or
%% {@link libsql:with_conn/2}) for the setting and the work that needs it.
%%
%% Errors: `bad_argument' for an argument out of range (checked before
%% anything runs), and those of {@link libsql:query/4}: SQLite's codes
%% such as `error' and `busy', `timeout', `closed', `port_exited', and on
%% a remote server its codes.
-module(libsql_pragma).

-export([foreign_keys/1, foreign_keys/2, journal_mode/1, journal_mode/2,
         synchronous/1, synchronous/2, cache_size/1, cache_size/2,
         user_version/1, user_version/2, table_info/2, index_list/2,
         integrity_check/1, wal_checkpoint/1, wal_checkpoint/2, optimize/1,
         quote_ident/1, vector_indexes/1, vector_indexes/2]).

-type db() :: libsql:db().
%% A connection, a pool name or a pool pid, as {@link libsql} takes.
-type error() :: {error, libsql:error()}.
%% An error of {@link libsql}; see its module doc for the codes.

%% @doc Whether foreign key constraints are enforced: `{ok, Boolean}'.
%% Errors: those of libsql:query/4.
-spec foreign_keys(db()) -> {ok, boolean()} | error().
foreign_keys(Db) -> bool(one(Db, <<"PRAGMA foreign_keys">>)).

%% @doc Turn enforcement of foreign key constraints on or off: `ok'.
%% SQLite ignores this inside a transaction.
%% Errors: `bad_argument' (On not a boolean), and those of
%% libsql:query/4.
-spec foreign_keys(db(), boolean()) -> ok | error().
foreign_keys(Db, On) when is_boolean(On) ->
    set(Db, [<<"PRAGMA foreign_keys = ">>, on_off(On)]);
foreign_keys(_Db, _) -> bad(<<"foreign_keys takes a boolean">>).

%% @doc The journal mode: `{ok, Mode}', Mode one of `delete',
%% `truncate', `persist', `memory', `wal', `off'.
%% Errors: those of libsql:query/4.
-spec journal_mode(db()) -> {ok, atom()} | error().
journal_mode(Db) -> atom(one(Db, <<"PRAGMA journal_mode">>)).

%% @doc Set the journal mode: `{ok, ModeInForce}', the mode now in force
%% (SQLite may refuse a change, e.g. `wal' on `:memory:', and keep the old
%% one). Errors: `bad_argument' (an unknown mode), and those of
%% libsql:query/4, such as `busy' or `locked'.
-spec journal_mode(db(), delete | truncate | persist | memory | wal | off) ->
          {ok, atom()} | error().
journal_mode(Db, Mode) ->
    case lists:member(Mode, [delete, truncate, persist, memory, wal, off]) of
        true -> atom(one(Db, [<<"PRAGMA journal_mode = ">>, atom_to_binary(Mode, utf8)]));
        false -> bad(<<"unknown journal mode">>)
    end.

%% @doc The synchronous setting: `{ok, Level}', Level one of `off',
%% `normal', `full', `extra'. Errors: `protocol' (SQLite answered another
%% value), and those of libsql:query/4.
-spec synchronous(db()) -> {ok, off | normal | full | extra} | error().
synchronous(Db) ->
    case one(Db, <<"PRAGMA synchronous">>) of
        {ok, N} when N >= 0, N =< 3 -> {ok, lists:nth(N + 1, [off, normal, full, extra])};
        {ok, Other} -> {error, libsql_proto:err(protocol, io_lib:format("unexpected ~p", [Other]))};
        {error, _} = E -> E
    end.

%% @doc Set the synchronous level (`off', `normal', `full' or `extra'):
%% `ok'. Errors: `bad_argument' (another level), and those of
%% libsql:query/4.
-spec synchronous(db(), off | normal | full | extra) -> ok | error().
synchronous(Db, Level) ->
    case lists:member(Level, [off, normal, full, extra]) of
        true -> set(Db, [<<"PRAGMA synchronous = ">>, atom_to_binary(Level, utf8)]);
        false -> bad(<<"synchronous takes off, normal, full or extra">>)
    end.

%% @doc SQLite's page cache size (not the `cache_size' open option, which
%% is the statement cache): `{ok, N}', a positive N in pages, a negative
%% one in KiB. Errors: those of libsql:query/4.
-spec cache_size(db()) -> {ok, integer()} | error().
cache_size(Db) -> one(Db, <<"PRAGMA cache_size">>).

%% @doc Set SQLite's page cache size: N pages when positive, -N KiB when
%% negative, |N| below 2147483647: `ok'. Errors: `bad_argument' (N not an
%% integer in range), and those of libsql:query/4.
-spec cache_size(db(), -2147483646..2147483646) -> ok | error().
cache_size(Db, N) when is_integer(N), abs(N) < 16#7fffffff ->
    set(Db, [<<"PRAGMA cache_size = ">>, integer_to_binary(N)]);
cache_size(_Db, _) -> bad(<<"cache_size takes an integer">>).

%% @doc The user_version integer in the database header (for
%% migrations): `{ok, N}'. Errors: those of libsql:query/4.
-spec user_version(db()) -> {ok, integer()} | error().
user_version(Db) -> one(Db, <<"PRAGMA user_version">>).

%% @doc Set the user_version in the database header to a 32-bit signed
%% integer: `ok'. Errors: `bad_argument' (N not such an integer), and
%% those of libsql:query/4, such as `readonly' or `busy'.
-spec user_version(db(), -2147483648..2147483647) -> ok | error().
user_version(Db, N) when is_integer(N), N >= -16#80000000, N =< 16#7fffffff ->
    set(Db, [<<"PRAGMA user_version = ">>, integer_to_binary(N)]);
user_version(_Db, _) -> bad(<<"user_version takes a 32-bit integer">>).

%% @doc Columns of a table: `{ok, Columns}', one map per column with the
%% binary keys `<<"cid">>', `<<"name">>', `<<"type">>', `<<"notnull">>',
%% `<<"dflt_value">>' and `<<"pk">>'; `{ok, []}' for a table that does not
%% exist. The table name (an atom, a string or a binary) is bound as a
%% parameter. Errors: `bad_argument' (a name that is not text), and those
%% of libsql:query/4.
-spec table_info(db(), atom() | unicode:chardata()) ->
          {ok, [#{binary() => libsql:value()}]} | error().
table_info(Db, Table) -> table_pragma(Db, <<"SELECT * FROM pragma_table_info(?)">>, Table).

%% @doc Indexes of a table: `{ok, Indexes}', one map per index with the
%% binary keys `<<"seq">>', `<<"name">>', `<<"unique">>', `<<"origin">>'
%% and `<<"partial">>'; `{ok, []}' for a table without indexes or that does
%% not exist. The table name is bound as in table_info/2. Errors:
%% `bad_argument' (a name that is not text), and those of libsql:query/4.
-spec index_list(db(), atom() | unicode:chardata()) ->
          {ok, [#{binary() => libsql:value()}]} | error().
index_list(Db, Table) -> table_pragma(Db, <<"SELECT * FROM pragma_index_list(?)">>, Table).

%% A pragma table-valued function of a table, the name bound as a parameter.
table_pragma(Db, Sql, Table) ->
    with_name(Table, fun(T) -> maps_of(libsql:query(Db, Sql, [T], #{rows => maps})) end).

%% @doc Run PRAGMA integrity_check: `ok' when it finds nothing, else
%% `{error, {corrupt, Problems}}', Problems the lines it reported (at most
%% 100, as binaries). Errors: those of libsql:query/4, such as `corrupt'
%% or `notadb' when the file cannot be read at all.
-spec integrity_check(db()) -> ok | {error, {corrupt, [binary()]}} | error().
integrity_check(Db) ->
    case libsql:query(Db, <<"PRAGMA integrity_check">>) of
        {ok, _, [{<<"ok">>}]} -> ok;
        {ok, _, Rows} -> {error, {corrupt, [M || {M} <- Rows]}};
        {error, _} = E -> E
    end.

%% @doc As wal_checkpoint/2 in mode `passive': `{ok, #{busy, log,
%% checkpointed}}' or `{error, Error}' with the codes of libsql:query/4.
-spec wal_checkpoint(db()) ->
          {ok, #{busy := boolean(), log := integer(), checkpointed := integer()}} | error().
wal_checkpoint(Db) -> wal_checkpoint(Db, passive).

%% @doc Checkpoint the write-ahead log in mode `passive', `full', `restart'
%% or `truncate' (SQLite's modes): `{ok, #{busy := Busy, log := Log,
%% checkpointed := Done}}', Busy true when a `full', `restart' or
%% `truncate' checkpoint was blocked from completing, Log the pages in the
%% log and Done those copied back into the database (both -1 when the
%% database is not in WAL mode). Errors:
%% `bad_argument' (another mode), and those of libsql:query/4.
-spec wal_checkpoint(db(), passive | full | restart | truncate) ->
          {ok, #{busy := boolean(), log := integer(), checkpointed := integer()}} | error().
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

%% @doc Run PRAGMA optimize (worth running before closing a long-lived
%% connection, and now and then on one): `ok'. Errors: those of
%% libsql:query/4.
-spec optimize(db()) -> ok | error().
optimize(Db) -> set(Db, <<"PRAGMA optimize">>).

%% @doc An SQL identifier (a table, column or index name) quoted for
%% splicing into SQL text: `{ok, Quoted}', the name in double quotes
%% with each double quote in it doubled (`my "t"' becomes `"my ""t"""'),
%% so any name is safe to splice. Name is an atom, a string or a binary (UTF-8).
%% {@link libsql_vector} and {@link libsql_json} quote with it.
%% Errors: `bad_argument' for a name that is not text, is empty or holds
%% a NUL character.
-spec quote_ident(atom() | unicode:chardata()) -> {ok, binary()} | error().
quote_ident(Name) ->
    with_name(Name, fun(<<>>) -> bad(<<"an identifier must not be empty">>);
                       (B) ->
                            case binary:match(B, <<0>>) of
                                nomatch -> {ok, <<$", (binary:replace(B, <<$">>, <<"\"\"">>, [global]))/binary, $">>};
                                _ -> bad(<<"an identifier must not hold a NUL character">>)
                            end
                    end).

%% @doc The vector indexes (libSQL's `libsql_vector_idx' indexes, see
%% {@link libsql_vector:create_index/4}) of every table: as
%% vector_indexes/2, for all tables. Errors: those of libsql:query/4.
-spec vector_indexes(db()) ->
          {ok, [#{name := binary(), table := binary(), sql := binary()}]} | error().
vector_indexes(Db) ->
    index_maps(libsql:query(Db, [vector_index_sql(), <<" ORDER BY tbl_name, name">>], [])).

%% @doc The vector indexes of one table, read from `sqlite_master':
%% `{ok, Indexes}', one map per index whose SQL calls
%% `libsql_vector_idx', with the keys `name', `table' and `sql' (binaries;
%% `sql' as it was written), in name order; `{ok, []}' for a table without
%% them or that does not exist. The table name is bound as in
%% table_info/2. Errors: `bad_argument' (a name that is not text), and
%% those of libsql:query/4.
-spec vector_indexes(db(), atom() | unicode:chardata()) ->
          {ok, [#{name := binary(), table := binary(), sql := binary()}]} | error().
vector_indexes(Db, Table) ->
    with_name(Table, fun(T) ->
                             index_maps(libsql:query(Db, [vector_index_sql(),
                                                          <<" AND tbl_name = ? ORDER BY name">>],
                                                     [T]))
                     end).

index_maps({ok, _, Rows}) -> {ok, [#{name => N, table => T, sql => S} || {N, T, S} <- Rows]};
index_maps({error, _} = E) -> E.

vector_index_sql() ->
    <<"SELECT name, tbl_name, sql FROM sqlite_master "
      "WHERE type = 'index' AND instr(lower(sql), 'libsql_vector_idx') > 0">>.

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
