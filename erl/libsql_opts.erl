%% @private
%% @doc Checking of every option the API takes: those of libsql:open/1
%% and libsql:start_pool/2, and the per-call options of query, execute,
%% transaction and the rest. One place says which keys exist, what values
%% they take and where they go. A bad key or value is
%% `{error, #{code := bad_argument, option := Key}}', found before anything
%% is sent to a port or a timer armed. Nothing here talks to a process.
-module(libsql_opts).

-export([conn/1, pool/1, call/2, is_timeout/1, path/1, start_error/2, new_key/1]).

-define(DEFAULT_POOL_SIZE, 4).

%% The largest timeout erlang:send_after/3 and `receive ... after' take.
-define(MAX_TIMEOUT, 16#ffffffff).
-define(INT31_MAX, 16#7fffffff).

%% Keys for the port program (sent with `open'); their defaults live in the
%% port (port/commands.c decode_open_opts) and are documented in libsql.
-define(PORT_KEYS, [read_only, create, busy_timeout, cache_size, max_result_bytes, null,
                    ca_file, connect_timeout, request_timeout,
                    sync_interval, read_your_writes, sync_timeout]).
%% Keys the connection process uses itself.
-define(CONN_KEYS, [timeout, max_frame, port_executable, cancel_timeout, spin_us, extensions,
                    transport]).
%% What the database is, and how to reach it.
-define(TARGET_KEYS, [path, url, auth_token, encryption_key]).
%% Keys of a pool.
-define(POOL_KEYS, [size, checkout_timeout, slow_query_ms, max_restarts]).
%% Keys that apply to one kind of target only.
-define(URL_ONLY, [ca_file, connect_timeout, request_timeout]).
-define(PATH_ONLY, [read_only, create, busy_timeout]).
%% Keys of an embedded replica (path and url) only, and keys it refuses
%% (its file is read-only already and never created by an open).
-define(REPLICA_ONLY, [sync_interval, read_your_writes, sync_timeout]).
-define(NOT_REPLICA, [read_only, create]).

%% ---- open and pool options ---------------------------------------------------

%% @doc Options of one connection, as libsql_conn:start_link/2 takes them:
%% `#{port_opts := [{Key, Value}], Key => Value}' for the connection's own
%% keys.
-spec conn(term()) -> {ok, map()} | {error, libsql:error()}.
conn(Opts) when is_map(Opts) ->
    checked(fun() ->
                    known(Opts, ?TARGET_KEYS ++ ?PORT_KEYS ++ ?CONN_KEYS, open),
                    conn_opts(Opts)
            end);
conn(_) ->
    {error, libsql_proto:err(bad_argument, <<"open takes a map of options">>)}.

%% @doc Options of a pool: `#{size, conn_opts, and the pool's own keys}'.
-spec pool(term()) -> {ok, map()} | {error, libsql:error()}.
pool(Opts) when is_map(Opts) ->
    checked(fun() ->
                    known(Opts, ?TARGET_KEYS ++ ?PORT_KEYS ++ ?CONN_KEYS ++ ?POOL_KEYS,
                          start_pool),
                    Own = maps:with(?POOL_KEYS, Opts),
                    maps:foreach(fun check/2, Own),
                    Own#{size => maps:get(size, Opts, ?DEFAULT_POOL_SIZE),
                         conn_opts => conn_opts(maps:without(?POOL_KEYS, Opts))}
            end);
pool(_) ->
    {error, libsql_proto:err(bad_argument, <<"pool options must be a map">>)}.

%% @doc A file name as the binary the port takes.
-spec path(term()) -> {ok, binary()} | {error, libsql:error()}.
path(P) ->
    checked(fun() -> path_bin(path, P) end).

%% @doc Turn why a pool failed to start into an error term.
-spec start_error(atom(), term()) -> libsql:error().
start_error(_Name, #{code := _} = E) ->
    E;
start_error(Name, {shutdown, {failed_to_start_child, manager, {already_started, _}}}) ->
    already_running(Name);
start_error(Name, {shutdown, {failed_to_start_child, _, Reason}}) ->
    start_error(Name, Reason);
start_error(_Name, {shutdown, {open_failed, E}}) ->
    E;
start_error(Name, {already_started, Pid}) ->
    case libsql_pool:lookup(Pid) of
        {ok, _} -> already_running(Name);
        error -> libsql_proto:err(bad_argument,
                                  io_lib:format("~p is already a registered name", [Name]))
    end;
start_error(_Name, Other) ->
    libsql_proto:err(port_exited, io_lib:format("the pool did not start: ~0tP", [Other, 10])).

already_running(Name) ->
    libsql_proto:err(bad_argument, io_lib:format("a pool named ~p is already running", [Name])).

%% ---- per-call options ------------------------------------------------------------

%% @doc Check the options of one call of the API function Fun (query,
%% execute, transaction, ...): every key must be one that Fun takes and
%% every value in range.
-spec call(atom(), term()) -> ok | {error, libsql:error()}.
call(_Fun, Opts) when Opts =:= #{} ->
    %% the common case, on every call's path: nothing to check
    ok;
call(Fun, Opts) when is_map(Opts) ->
    checked(fun() ->
                    known(Opts, call_keys(Fun), Fun),
                    maps:foreach(fun(encryption_key, V) -> _ = key(V), ok;
                                    (K, V) -> check(K, V)
                                 end, Opts)
            end);
call(Fun, _) ->
    {error, libsql_proto:err(bad_argument,
                             io_lib:format("the options of ~p must be a map", [Fun]))}.

%% The keys each API function takes.
call_keys(ping) -> [timeout, checkout_timeout];
call_keys(query) -> [timeout, checkout_timeout, rows];
call_keys(execute) -> [timeout, checkout_timeout];
call_keys(transaction) -> [mode, timeout, checkout_timeout];
call_keys(begin_transaction) -> [mode, timeout];
call_keys(batch) -> [transaction, timeout, checkout_timeout, rows];
call_keys(execute_many) -> [timeout, checkout_timeout];
call_keys(execute_script) -> [timeout, checkout_timeout];
call_keys(cursor_open) -> [timeout, checkout_timeout];
call_keys(fold) -> [chunk, timeout, checkout_timeout, rows];
call_keys(backup) -> [timeout, checkout_timeout, encryption_key];
call_keys(sync) -> [timeout, checkout_timeout].

%% @doc Whether V is a timeout the connection and pool processes can arm:
%% infinity or 0..4294967295 ms.
-spec is_timeout(term()) -> boolean().
is_timeout(infinity) -> true;
is_timeout(V) -> is_integer(V) andalso V >= 0 andalso V =< ?MAX_TIMEOUT.

%% ---- the value rules: one clause per key ----------------------------------------

%% {Whether V is a good value of Key, what a good value is}.
rule(timeout, V) -> {is_timeout(V), "infinity or an integer 0..4294967295 (ms)"};
rule(checkout_timeout, V) -> {is_timeout(V), "infinity or an integer 0..4294967295 (ms)"};
rule(rows, V) -> {V =:= tuples orelse V =:= maps, "tuples or maps"};
rule(chunk, V) -> {int_in(V, 1, 100000000), "an integer 1..100000000"};
rule(transaction, V) -> {is_boolean(V), "a boolean"};
rule(mode, V) -> {lists:member(V, [deferred, immediate, exclusive, read_only]),
                  "deferred, immediate, exclusive or read_only"};
rule(read_only, V) -> {is_boolean(V), "a boolean"};
rule(create, V) -> {is_boolean(V), "a boolean"};
rule(busy_timeout, V) -> {int_in(V, 0, ?INT31_MAX), "an integer 0..2147483647 (ms)"};
rule(cache_size, V) -> {int_in(V, 0, 100000), "an integer 0..100000"};
rule(max_result_bytes, V) -> {int_in(V, 1024, 16#70000000), "an integer 1024..1879048192"};
rule(null, V) -> {lists:member(V, [null, nil, undefined]), "null, nil or undefined"};
rule(connect_timeout, V) -> {int_in(V, 1, ?INT31_MAX), "an integer 1..2147483647 (ms)"};
rule(request_timeout, V) -> {int_in(V, 0, ?INT31_MAX), "an integer 0..2147483647 (ms)"};
rule(sync_interval, V) -> {int_in(V, 0, ?INT31_MAX), "an integer 0..2147483647 (ms; 0: none)"};
rule(read_your_writes, V) -> {is_boolean(V), "a boolean"};
rule(sync_timeout, V) -> {int_in(V, 1, ?INT31_MAX), "an integer 1..2147483647 (ms)"};
rule(max_frame, V) -> {int_in(V, 1024, ?INT31_MAX), "an integer 1024..2147483647"};
rule(cancel_timeout, V) -> {int_in(V, 1, ?MAX_TIMEOUT), "an integer 1..4294967295 (ms)"};
rule(spin_us, V) -> {int_in(V, 0, 10000), "an integer 0..10000"};
rule(transport, V) -> {V =:= port orelse V =:= nif, "port or nif"};
rule(size, V) -> {int_in(V, 1, 1000), "an integer 1..1000"};
rule(slow_query_ms, V) -> {int_in(V, 0, ?MAX_TIMEOUT), "an integer 0..4294967295"};
rule(max_restarts, V) -> {int_in(V, 0, 1000000), "an integer 0..1000000"}.

%% Secrets never reach a rule: auth_token and encryption_key are checked
%% apart, without echoing their value.
check(Key, V) ->
    case rule(Key, V) of
        {true, _} -> ok;
        {false, What} ->
            bad(Key, io_lib:format("~p must be ~ts, not ~0tP", [Key, What, V, 5]))
    end.

int_in(V, Min, Max) -> is_integer(V) andalso V >= Min andalso V =< Max.

%% ---- internals ---------------------------------------------------------------

checked(Fun) ->
    try Fun() of
        ok -> ok;
        Result -> {ok, Result}
    catch
        throw:{bad_option, Key, Why} ->
            {error, libsql_proto:err(bad_argument, Why, #{option => Key})};
        throw:{not_supported, Key, Why} ->
            {error, libsql_proto:err(not_supported, Why, #{option => Key})}
    end.

-spec bad(atom(), unicode:chardata()) -> no_return().
bad(Key, Why) ->
    throw({bad_option, Key, unicode:characters_to_binary(Why)}).

known(Opts, Known, Fun) ->
    case [K || K <- maps:keys(Opts), not lists:member(K, Known)] of
        [] -> ok;
        [K | _] = Unknown ->
            bad(K, io_lib:format("unknown option~s ~ts for ~p (it takes ~ts)",
                                 [case Unknown of [_] -> ""; _ -> "s" end,
                                  lists:join(", ", [io_lib:format("~0tP", [U, 5])
                                                    || U <- Unknown]),
                                  Fun, lists:join(", ", [atom_to_list(N) || N <- Known])]))
    end.

conn_opts(#{path := Path, url := Url} = Opts) ->
    %% A file and a server: an embedded replica (the port's table of
    %% backends says so). Its file may be encrypted.
    [bad(K, io_lib:format("~p does not apply to an embedded replica (path and url): its file "
                          "is only ever written by its sync", [K]))
     || K <- ?NOT_REPLICA, maps:is_key(K, Opts)],
    common_opts(Opts, [{path, path_bin(path, Path)}, {url, url_bin(Url)}
                       | token_opt(Opts) ++ key_opt(Opts)]);
conn_opts(#{url := Url} = Opts) ->
    [bad(K, io_lib:format("~p applies to local files only", [K]))
     || K <- [encryption_key | ?PATH_ONLY], maps:is_key(K, Opts)],
    replica_only(Opts),
    common_opts(Opts, [{url, url_bin(Url)} | token_opt(Opts)]);
conn_opts(#{path := Path} = Opts) ->
    %% An auth_token next to a path is accepted and unused, so that one
    %% configuration can switch between a file and a server.
    [bad(K, io_lib:format("~p applies to a url only", [K]))
     || K <- ?URL_ONLY, maps:is_key(K, Opts)],
    replica_only(Opts),
    _ = [token(T) || {ok, T} <- [maps:find(auth_token, Opts)]],
    common_opts(Opts, [{path, path_bin(path, Path)} | key_opt(Opts)]);
conn_opts(_) ->
    bad(path, <<"open needs a path (or a url)">>).

replica_only(Opts) ->
    [bad(K, io_lib:format("~p applies to an embedded replica only (path and url)", [K]))
     || K <- ?REPLICA_ONLY, maps:is_key(K, Opts)].

common_opts(Opts, Target) ->
    PortOpts = Target ++ [port_opt(K, V) || {K, V} <- maps:to_list(maps:with(?PORT_KEYS, Opts))],
    Conn = maps:with(?CONN_KEYS, Opts),
    maps:foreach(fun(port_executable, V) -> path_bin(port_executable, V);
                    (extensions, _) -> ok;
                    (K, V) -> check(K, V)
                 end, Conn),
    case maps:find(extensions, Conn) of
        {ok, Exts} -> Conn#{port_opts => PortOpts, extensions => extensions(Exts)};
        error -> Conn#{port_opts => PortOpts}
    end.

%% The files the connection may load extensions from, as binaries.
extensions(L) when is_list(L), length(L) =< 1000 ->
    try [path_bin(extensions, P) || P <- L]
    catch
        throw:{bad_option, _, _} -> bad_extensions(L)
    end;
extensions(L) ->
    bad_extensions(L).

-spec bad_extensions(term()) -> no_return().
bad_extensions(L) ->
    bad(extensions, io_lib:format("extensions must be a list of file names (at most 1000), "
                                  "not ~0tP", [L, 5])).

port_opt(ca_file, V) -> {ca_file, path_bin(ca_file, V)};
port_opt(K, V) -> check(K, V), {K, V}.

token_opt(Opts) ->
    case maps:find(auth_token, Opts) of
        {ok, T} -> [{auth_token, token(T)}];
        error -> []
    end.

%% The token stays wrapped (a fun, libsql_secret) until the open frame is
%% built. Its value never appears in an error.
token(F) when is_function(F, 0) ->
    try iolist_to_binary(F()) of
        <<>> -> bad(auth_token, <<"auth_token must be a non-empty binary or string">>);
        _ -> F
    catch
        error:_ -> bad(auth_token, <<"auth_token must be a binary or a string">>)
    end;
token(V) ->
    token(maps:get(auth_token, libsql_secret:hide(#{auth_token => V}))).

%% @doc A key for rekey/2 (or a backup): `null', or the key wrapped as
%% an open's is (a fun giving the binary), checked as an open's is.
-spec new_key(term()) -> {ok, null | fun(() -> binary())} | {error, libsql:error()}.
new_key(null) -> {ok, null};
new_key(V) ->
    checked(fun() ->
                    F = key(V),
                    fun() -> iolist_to_binary(F()) end
            end).

key_opt(Opts) ->
    case maps:find(encryption_key, Opts) of
        {ok, K} -> [{encryption_key, key(K)}];
        error -> []
    end.

%% The key stays wrapped as the token does; its value (or length) never
%% appears in an error. libSQL's format uses the first 32 bytes of a key
%% and ignores the rest: a longer key is refused rather than silently
%% cut (the bytes past 32 would protect nothing).
key(F) when is_function(F, 0) ->
    try iolist_to_binary(F()) of
        <<>> -> bad(encryption_key, <<"encryption_key must not be empty">>);
        B when byte_size(B) > 32 ->
            bad(encryption_key, <<"encryption_key is longer than 32 bytes: libSQL's format "
                                  "uses only the first 32 (pass those)">>);
        _ -> F
    catch
        error:_ -> bad(encryption_key, <<"encryption_key must be a binary (or iodata)">>)
    end;
key(V) ->
    key(maps:get(encryption_key, libsql_secret:hide(#{encryption_key => V}))).

url_bin(U) when is_binary(U); is_list(U) ->
    try unicode:characters_to_binary(U) of
        B when is_binary(B), B =/= <<>> -> B;
        _ -> bad(url, <<"url must be a non-empty string">>)
    catch
        error:_ -> bad(url, <<"url must be a string">>)
    end;
url_bin(_) ->
    bad(url, <<"url must be a string">>).

path_bin(Key, P) when is_binary(P); is_list(P); is_atom(P) ->
    try unicode:characters_to_binary(filename:flatten(P)) of
        B when is_binary(B), B =/= <<>> -> B;
        _ -> bad(Key, [atom_to_list(Key), " must be a non-empty file name"])
    catch
        error:_ -> bad(Key, [atom_to_list(Key), " must be a file name"])
    end;
path_bin(Key, _) ->
    bad(Key, [atom_to_list(Key), " must be a file name"]).
