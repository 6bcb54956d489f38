%% Test utility: the encryption peer. Runs test/js/crypt_peer.mjs, which drives npm
%% libsql 0.5.29 (sqlite3mc `aes256cbc', what libSQL's clients write with an encryption
%% key), so the tests can check our encrypted files against the real thing. See the
%% script's header for the commands and the peer's quirks; test/setup_remote.sh installs
%% the package into $LIBSQL_TEST_CACHE (default ~/.cache/libsql-test).
%%
%%   true = libsql_crypt_peer:available()
%%   ok = libsql_crypt_peer:write_rows(Path, <<"key">>, 100, delete)
%%   {ok, [{1, <<"row-1">>, 0.5, {blob, <<0,0,0,0,0,0,0,1>>}}]} =
%%       libsql_crypt_peer:query(Path, <<"key">>, <<"SELECT * FROM t WHERE id = 1">>)
%%   {error, #{code := notadb, extended_code := 26}} = libsql_crypt_peer:info(Path, <<"bad">>)
%%
%% Keys are binaries (the key's bytes) or null (no key). The peer takes the key as a JS
%% string, so only keys that are valid UTF-8 can be given to it; others make the call fail
%% (error/1). An empty key means no key to the peer.
%%
%% Values come back in the shape libsql:query/2,3 gives: rows are tuples; INTEGER
%% integer(), REAL float() (`infinity' / `neg_infinity'), TEXT binary(), BLOB
%% {blob, binary()}, NULL null. Parameters (query/4) take the same, plus undefined/nil
%% (NULL), true/false (1/0) and {text, IoData}.
%%
%% Errors: an SQL error from the peer is {error, peer_error()}, shaped like ours: `code'
%% the primary code as our lower-case atom (notadb), `extended_code' the peer's rawCode
%% (26), `message', and `peer_code' the peer's name for it (<<"SQLITE_NOTADB">>).
%% Anything else (node missing, bad arguments, the script failing) raises an error with
%% the script's stderr.
%%
%% Finding things: as libsql_sync_check (the repo root is $LIBSQL_ROOT, else the first
%% folder above this source file, its beam or the cwd that holds the script; node is
%% $NODE or `node' on the PATH).
-module(libsql_crypt_peer).

-export([available/0, root/0, script/0, run/1, run/2,
         exec/3, query/3, query/4, write_rows/4, write_rows/5,
         crash_journal/3, crash_wal/3, info/2]).

-define(SCRIPT, "test/js/crypt_peer.mjs").
-define(PEER_VERSION, <<"0.5.29">>).
-define(DEFAULT_TIMEOUT, 120000).
%% Integers beyond this travel as {"int": "<decimal>"} (a JS Number is exact up to it).
-define(MAX_SAFE, 9007199254740991).

-type key() :: binary() | null.
-type path() :: file:filename_all().
-type value() :: integer() | float() | infinity | neg_infinity | nan | binary()
               | {blob, binary()} | null.
-type in_value() :: value() | undefined | nil | boolean() | {text, iodata()}.
-type peer_error() :: #{code := atom(), extended_code := integer(),
                        message := binary(), peer_code := binary()}.
-type info() :: #{cipher := binary() | null, integrity := binary(),
                  count := non_neg_integer() | null}.
-export_type([key/0, value/0, peer_error/0, info/0]).

%% ---------------------------------------------------------------------------------------
%% API

%% @doc true when node, the script and libsql 0.5.29 are all there (the package is
%% loaded, native part included); else {false, Why}.
-spec available() -> true | {false, term()}.
available() ->
    try run(#{cmd => <<"version">>}) of
        #{<<"version">> := ?PEER_VERSION} -> true;
        #{<<"version">> := Other} -> {false, {wrong_libsql_version, Other, ?PEER_VERSION}};
        Other -> {false, {bad_output, Other}}
    catch
        error:Why -> {false, Why}
    end.

%% @doc Runs one command (a map as in the script's header; keys atoms or binaries) and
%% returns the decoded JSON object it printed, e.g. #{<<"ok">> => true} or
%% #{<<"error">> => #{<<"code">> => <<"SQLITE_NOTADB">>, ...}}. Raises an error when node
%% cannot be run, the script exits non-zero (its stderr is in the reason) or prints
%% something other than one JSON object.
-spec run(map()) -> map().
run(Cmd) ->
    run(Cmd, ?DEFAULT_TIMEOUT).

-spec run(map(), timeout()) -> map().
run(Cmd, Timeout) ->
    Node = case libsql_node:exe() of
               false -> error(node_not_found);
               N -> N
           end,
    Script = script(),
    filelib:is_regular(Script) orelse error({script_not_found, Script}),
    Json = libsql_test_json:encode(Cmd),
    case libsql_node:run(Node, Script, [Json], Timeout) of
        {ok, 0, Out, _Err} ->
            case libsql_test_json:decode(Out) of
                {ok, Map} when is_map(Map) -> Map;
                _ -> error({crypt_peer_bad_output, Out})
            end;
        {ok, Status, Out, Err} ->
            error({crypt_peer_failed, #{status => Status, stderr => Err, stdout => Out,
                                        cmd => Json}});
        {timeout, Err} ->
            error({crypt_peer_timeout, #{stderr => Err, cmd => Json}})
    end.

%% @doc Runs SQL text (several statements allowed) through the peer's db.exec.
-spec exec(path(), key(), iodata()) -> ok | {error, peer_error()}.
exec(Path, Key, Sql) ->
    ok_or_error(run(cmd(exec, Path, Key, #{sql => bin(Sql)}))).

-spec query(path(), key(), iodata()) -> {ok, [tuple()]} | {error, peer_error()}.
query(Path, Key, Sql) ->
    query(Path, Key, Sql, []).

%% @doc The rows of one statement, as tuples in our value shape (see the module doc).
-spec query(path(), key(), iodata(), [in_value()]) -> {ok, [tuple()]} | {error, peer_error()}.
query(Path, Key, Sql, Params) ->
    Cmd = cmd(query, Path, Key, #{sql => bin(Sql), params => [param(P) || P <- Params]}),
    case run(Cmd) of
        #{<<"rows">> := Rows} -> {ok, [list_to_tuple([value(V) || V <- R]) || R <- Rows]};
        Other -> other(Other)
    end.

%% @doc Creates t(id INTEGER PRIMARY KEY, name TEXT, n REAL, b BLOB) if missing and
%% inserts rows I = 1..N, {I, <<"row-I">>, I * 0.5, {blob, <<I:64/big>>}}, in one
%% transaction, in journal mode `delete' or `wal' (page size 4096 on a new file).
-spec write_rows(path(), key(), non_neg_integer(), delete | wal) -> ok | {error, peer_error()}.
write_rows(Path, Key, N, JournalMode) ->
    write_rows(Path, Key, N, JournalMode, 4096).

-spec write_rows(path(), key(), non_neg_integer(), delete | wal, pos_integer()) ->
          ok | {error, peer_error()}.
write_rows(Path, Key, N, JournalMode, PageSize) when JournalMode =:= delete; JournalMode =:= wal ->
    ok_or_error(run(cmd(write_rows, Path, Key, #{rows => N, journal_mode => bin(JournalMode),
                                                 page_size => PageSize}))).

%% @doc A crash copy with a hot journal: with an update of every row of t in progress on
%% Path (a rollback-journal database), Path and Path-journal are copied to Out and
%% Out-journal; then the peer rolls back. Returns the journal's size.
-spec crash_journal(path(), key(), path()) -> {ok, pos_integer()} | {error, peer_error()}.
crash_journal(Path, Key, Out) ->
    case run(cmd(crash_journal, Path, Key, #{out => bin(Out)})) of
        #{<<"ok">> := true, <<"journal_bytes">> := B} -> {ok, B};
        Other -> other(Other)
    end.

%% @doc A crashed WAL: a peer process makes N one-row commits to t in WAL mode (no
%% checkpoints) and is killed with SIGKILL. Returns the size of Path-wal.
-spec crash_wal(path(), key(), non_neg_integer()) -> {ok, pos_integer()} | {error, peer_error()}.
crash_wal(Path, Key, N) ->
    case run(cmd(crash_wal, Path, Key, #{commits => N})) of
        #{<<"ok">> := true, <<"wal_bytes">> := B} -> {ok, B};
        Other -> other(Other)
    end.

%% @doc PRAGMA cipher (the peer says aes256cbc even without a key), the first row of
%% PRAGMA integrity_check and the row count of t (null without a table t).
-spec info(path(), key()) -> {ok, info()} | {error, peer_error()}.
info(Path, Key) ->
    case run(cmd(info, Path, Key, #{})) of
        #{<<"cipher">> := C, <<"integrity">> := I, <<"count">> := N} ->
            {ok, #{cipher => C, integrity => I, count => N}};
        Other -> other(Other)
    end.

%% @doc The repo root (see the module header).
-spec root() -> file:filename().
root() ->
    case os:getenv("LIBSQL_ROOT") of
        Dir when is_list(Dir), Dir =/= "" -> Dir;
        _ ->
            Source = proplists:get_value(source, ?MODULE:module_info(compile), ?FILE),
            Starts = [filename:dirname(Source), filename:dirname(?FILE)]
                ++ case code:which(?MODULE) of
                       Beam when is_list(Beam) -> [filename:dirname(Beam)];
                       _ -> []
                   end
                ++ case file:get_cwd() of
                       {ok, Cwd} -> [Cwd];
                       _ -> []
                   end,
            libsql_node:find_root(?SCRIPT, [filename:absname(S) || S <- Starts])
    end.

-spec script() -> file:filename().
script() ->
    filename:join(root(), ?SCRIPT).

%% ---------------------------------------------------------------------------------------
%% Commands and values (binaries rather than atoms: libsql_test_json:json() has no atoms)

cmd(Name, Path, Key, Extra) ->
    Extra#{cmd => bin(Name), path => bin(Path), key_hex => key_hex(Key)}.

key_hex(null) -> null;
key_hex(Key) when is_binary(Key) -> binary:encode_hex(Key).

ok_or_error(#{<<"ok">> := true}) -> ok;
ok_or_error(Other) -> other(Other).

other(#{<<"error">> := #{<<"code">> := Code, <<"rawCode">> := Raw, <<"message">> := Msg}}) ->
    {error, #{code => our_code(Code), extended_code => Raw, message => Msg, peer_code => Code}};
other(Other) ->
    error({crypt_peer_bad_output, Other}).

%% "SQLITE_CONSTRAINT_UNIQUE" -> constraint, as libsql_error names primary codes
%% (SQLITE_AUTH and SQLITE_PROTOCOL are sqlite_auth and sqlite_protocol there).
our_code(<<"SQLITE_", Rest/binary>>) ->
    case hd(binary:split(Rest, <<"_">>)) of
        <<"AUTH">> -> sqlite_auth;
        <<"PROTOCOL">> -> sqlite_protocol;
        Primary -> binary_to_atom(string:lowercase(Primary), utf8)
    end;
our_code(Code) -> binary_to_atom(string:lowercase(Code), utf8).

%% The script's output values -> ours.
value(null) -> null;
value(V) when is_integer(V); is_float(V); is_binary(V) -> V;
value(#{<<"int">> := D}) -> binary_to_integer(D);
value(#{<<"real">> := <<"inf">>}) -> infinity;
value(#{<<"real">> := <<"-inf">>}) -> neg_infinity;
value(#{<<"real">> := <<"nan">>}) -> nan;
value(#{<<"blob_hex">> := H}) -> {blob, binary:decode_hex(H)};
value(Other) -> error({crypt_peer_bad_value, Other}).

%% Ours -> the script's parameters. Floats are tagged: JSON 2.0 and 2 read the same in JS,
%% and a plain integral number binds as INTEGER there.
param(P) when P =:= null; P =:= undefined; P =:= nil -> null;
param(true) -> 1;
param(false) -> 0;
param(I) when is_integer(I), abs(I) =< ?MAX_SAFE -> I;
param(I) when is_integer(I) -> #{int => integer_to_binary(I)};
param(F) when is_float(F) -> #{real => F};
param(infinity) -> #{real => <<"inf">>};
param(neg_infinity) -> #{real => <<"-inf">>};
param(B) when is_binary(B) -> B;
param({text, IoData}) -> iolist_to_binary(IoData);
param({blob, B}) when is_binary(B) -> #{blob_hex => binary:encode_hex(B)};
param(Other) -> error({bad_param, Other}).

bin(X) when is_binary(X) -> X;
bin(X) when is_atom(X) -> atom_to_binary(X, utf8);
bin(X) when is_list(X) ->
    case unicode:characters_to_binary(X) of
        B when is_binary(B) -> B;
        _ -> iolist_to_binary(X)
    end.
