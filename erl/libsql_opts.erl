%% @doc Checking of the options of libsql:open/1 and libsql:start_pool/2:
%% one place that says which keys exist, their defaults and their types.
%% Nothing here talks to a process.
-module(libsql_opts).

-export([conn/1, pool/1, path/1, start_error/2, hide_secrets/1, secret/1,
         reveal_port_opts/1]).

-export_type([secret/0]).

%% A secret (auth token, encryption key) travels wrapped in a fun: a fun
%% prints as #Fun<...> without the values it holds, so a secret in a
%% process's start arguments, state or a crash report cannot be read.
-opaque secret() :: fun(() -> binary() | string()).

-define(SECRET_KEYS, [auth_token, encryption_key]).

-define(DEFAULT_POOL_SIZE, 4).

%% Keys for the port program (sent with `open'); their defaults live in the
%% port (port/commands.c decode_open_opts) and are documented in libsql.
-define(PORT_KEYS, [read_only, create, busy_timeout, cache_size, max_result_bytes,
                    ca_file, connect_timeout, request_timeout]).
%% Keys the connection process uses itself.
-define(CONN_KEYS, [timeout, max_frame, port_executable, cancel_timeout, spin_us]).
%% Keys of a pool.
-define(POOL_KEYS, [size, checkout_timeout, slow_query_ms, max_restarts]).

%% @doc Options of one connection, as libsql_conn:start_link/2 takes them.
-spec conn(map()) -> {ok, map()} | {error, libsql:error()}.
conn(Opts) when is_map(Opts) ->
    try
        check_keys(Opts, [path | ?PORT_KEYS ++ ?CONN_KEYS]),
        {ok, conn_opts(Opts)}
    catch
        throw:{bad_option, Why} -> {error, libsql_proto:err(bad_argument, Why)};
        throw:{not_supported, Why} -> {error, libsql_proto:err(not_supported, Why)}
    end;
conn(_) ->
    {error, libsql_proto:err(bad_argument, <<"options must be a map">>)}.

%% @doc Options of a pool: #{size, conn_opts, and the pool's own keys}.
-spec pool(map()) -> {ok, map()} | {error, libsql:error()}.
pool(Opts) when is_map(Opts) ->
    try
        check_keys(Opts, [path | ?PORT_KEYS ++ ?CONN_KEYS ++ ?POOL_KEYS]),
        Size = maps:get(size, Opts, ?DEFAULT_POOL_SIZE),
        is_integer(Size) andalso Size > 0 andalso Size =< 1000
            orelse throw({bad_option, <<"size must be an integer 1..1000">>}),
        [timeout_value(K, V) || K <- [checkout_timeout], {ok, V} <- [maps:find(K, Opts)]],
        case maps:find(slow_query_ms, Opts) of
            {ok, Ms} when is_integer(Ms), Ms >= 0 -> ok;
            {ok, _} -> throw({bad_option, <<"slow_query_ms must be a non-negative integer">>});
            error -> ok
        end,
        case maps:find(max_restarts, Opts) of
            {ok, R} when is_integer(R), R >= 0 -> ok;
            {ok, _} -> throw({bad_option, <<"max_restarts must be a non-negative integer">>});
            error -> ok
        end,
        {ok, maps:put(conn_opts, conn_opts(Opts),
                      maps:put(size, Size, maps:with(?POOL_KEYS, Opts)))}
    catch
        throw:{bad_option, Why} -> {error, libsql_proto:err(bad_argument, Why)};
        throw:{not_supported, Why} -> {error, libsql_proto:err(not_supported, Why)}
    end;
pool(_) ->
    {error, libsql_proto:err(bad_argument, <<"pool options must be a map">>)}.

%% @doc Options with every secret wrapped (see secret/0). Done by the API
%% before options reach any process, its start arguments included.
-spec hide_secrets(map()) -> map().
hide_secrets(Opts) when is_map(Opts) ->
    maps:map(fun(K, V) ->
                     case lists:member(K, ?SECRET_KEYS) andalso not is_function(V, 0) of
                         true -> wrap(V);
                         false -> V
                     end
             end, Opts);
hide_secrets(Other) ->
    Other.

%% @doc The value of a wrapped secret.
-spec secret(secret()) -> binary() | string().
secret(Fun) when is_function(Fun, 0) -> Fun().

%% The closure holds the secret XOR-ed with a pad, so not even a walk
%% through the fun's environment (or a term_to_binary of a crash report)
%% finds the secret in clear.
wrap(V) when is_binary(V); is_list(V) ->
    try iolist_to_binary(V) of
        Bin ->
            Masked = mask(Bin),
            IsList = is_list(V),
            fun() ->
                    Clear = mask(Masked),
                    case IsList of true -> binary_to_list(Clear); false -> Clear end
            end
    catch
        error:badarg -> fun() -> V end
    end;
wrap(V) ->
    fun() -> V end.

mask(Bin) ->
    Pad = pad(),
    PadSize = byte_size(Pad),
    << <<(B bxor binary:at(Pad, I rem PadSize))>> || {B, I} <- indexed(Bin) >>.

indexed(Bin) ->
    lists:zip(binary_to_list(Bin), lists:seq(0, byte_size(Bin) - 1)).

%% 64 bytes that differ between VM runs and need no shared state to
%% create (so concurrent first uses agree): derived from the VM's start
%% time and node name.
pad() ->
    Seed = term_to_binary({erlang:system_info(start_time), node(), ?MODULE}),
    << <<(erlang:md5(<<I, Seed/binary>>))/binary>> || I <- [1, 2, 3, 4] >>.

%% @doc A file name as the binary the port takes.
-spec path(term()) -> {ok, binary()} | {error, libsql:error()}.
path(P) ->
    try {ok, path_bin(P)}
    catch throw:{bad_option, Why} -> {error, libsql_proto:err(bad_argument, Why)}
    end.

%% @doc Turn why a pool failed to start into an error term.
-spec start_error(atom(), term()) -> libsql:error().
start_error(_Name, #{code := _} = E) ->
    E;
start_error(Name, {shutdown, {failed_to_start_child, manager, {already_started, _}}}) ->
    libsql_proto:err(bad_argument, io_lib:format("a pool named ~p is already running", [Name]));
start_error(Name, {shutdown, {failed_to_start_child, _, Reason}}) ->
    start_error(Name, Reason);
start_error(_Name, {shutdown, {open_failed, E}}) ->
    E;
start_error(Name, {already_started, _}) ->
    libsql_proto:err(bad_argument, io_lib:format("~p is already a registered name", [Name]));
start_error(_Name, Other) ->
    libsql_proto:err(port_exited, io_lib:format("the pool did not start: ~0tP", [Other, 10])).

%% ---- internals ---------------------------------------------------------------

conn_opts(#{encryption_key := _}) ->
    %% Never echo the key: not in errors, not in logs.
    throw({not_supported, <<"encryption at rest is not available yet">>});
conn_opts(#{path := _, url := _}) ->
    throw({bad_option, <<"give either path (a local file) or url (a server), not both">>});
conn_opts(#{url := Url} = Opts) ->
    [throw({bad_option, iolist_to_binary(io_lib:format("~p applies to local files only", [K]))})
     || K <- [read_only, create, busy_timeout], maps:is_key(K, Opts)],
    Token = case maps:find(auth_token, Opts) of
                {ok, T} -> [{auth_token, token(T)}];
                error -> []
            end,
    common_opts(Opts, [{url, url_bin(Url)} | Token]);
conn_opts(#{path := Path} = Opts) ->
    %% An auth_token next to a path is accepted and unused, so that one
    %% configuration can switch between a file and a server.
    [throw({bad_option, iolist_to_binary(io_lib:format("~p applies to a url only", [K]))})
     || K <- [ca_file, connect_timeout, request_timeout], maps:is_key(K, Opts)],
    common_opts(Opts, [{path, path_bin(Path)}]);
conn_opts(_) ->
    throw({bad_option, <<"open needs a path (or a url)">>}).

common_opts(Opts, Target) ->
    PortOpts = Target ++
        [port_opt(K, V) || {K, V} <- maps:to_list(Opts), lists:member(K, ?PORT_KEYS)],
    [timeout_value(K, V) || K <- [timeout], {ok, V} <- [maps:find(K, Opts)]],
    case maps:find(max_frame, Opts) of
        {ok, M} when is_integer(M), M >= 1024, M =< 16#7fffffff -> ok;
        {ok, _} -> throw({bad_option, <<"max_frame must be an integer 1024..2147483647">>});
        error -> ok
    end,
    case maps:find(spin_us, Opts) of
        {ok, Us} when is_integer(Us), Us >= 0, Us =< 10000 -> ok;
        {ok, _} -> throw({bad_option, <<"spin_us must be an integer 0..10000">>});
        error -> ok
    end,
    maps:put(port_opts, PortOpts, maps:with(?CONN_KEYS, Opts)).

%% @doc The port options with the auth token unwrapped: called only to
%% build the open frame, which goes straight to the port.
-spec reveal_port_opts([{atom(), term()}]) -> [{atom(), term()}].
reveal_port_opts(PortOpts) ->
    [case KV of
         {auth_token, F} when is_function(F, 0) -> {auth_token, iolist_to_binary(F())};
         _ -> KV
     end || KV <- PortOpts].

%% The token stays wrapped (a fun) until the open frame is built.
token(F) when is_function(F, 0) ->
    try iolist_to_binary(F()) of
        <<>> -> throw({bad_option, <<"auth_token must be a non-empty binary or string">>});
        _ -> F
    catch
        error:_ -> throw({bad_option, <<"auth_token must be a binary or a string">>})
    end;
token(V) ->
    token(wrap(V)).

url_bin(U) when is_binary(U); is_list(U) ->
    try unicode:characters_to_binary(U) of
        B when is_binary(B), B =/= <<>> -> B;
        _ -> throw({bad_option, <<"url must be a non-empty string">>})
    catch
        error:_ -> throw({bad_option, <<"url must be a string">>})
    end;
url_bin(_) ->
    throw({bad_option, <<"url must be a string">>}).

path_bin(P) when is_binary(P); is_list(P); is_atom(P) ->
    try unicode:characters_to_binary(filename:flatten(P)) of
        B when is_binary(B), B =/= <<>> -> B;
        _ -> throw({bad_option, <<"path must be a non-empty file name">>})
    catch
        error:_ -> throw({bad_option, <<"path must be a file name">>})
    end;
path_bin(_) ->
    throw({bad_option, <<"path must be a file name">>}).

port_opt(read_only, V) when is_boolean(V) -> {read_only, V};
port_opt(create, V) when is_boolean(V) -> {create, V};
port_opt(busy_timeout, V) when is_integer(V), V >= 0, V =< 16#7fffffff -> {busy_timeout, V};
port_opt(cache_size, V) when is_integer(V), V >= 0, V =< 100000 -> {cache_size, V};
port_opt(max_result_bytes, V) when is_integer(V), V >= 1024, V =< 16#70000000 ->
    {max_result_bytes, V};
port_opt(ca_file, V) when is_binary(V); is_list(V) -> {ca_file, path_bin(V)};
port_opt(connect_timeout, V) when is_integer(V), V >= 1, V =< 16#7fffffff ->
    {connect_timeout, V};
port_opt(request_timeout, V) when is_integer(V), V >= 0, V =< 16#7fffffff ->
    {request_timeout, V};
port_opt(K, _) ->
    throw({bad_option, iolist_to_binary(io_lib:format("bad value for option ~p", [K]))}).

timeout_value(_K, infinity) -> ok;
timeout_value(_K, V) when is_integer(V), V >= 0 -> ok;
timeout_value(K, _) ->
    throw({bad_option, iolist_to_binary(io_lib:format("~p must be a timeout in ms", [K]))}).

check_keys(Opts, Known) ->
    case [K || K <- maps:keys(Opts), not lists:member(K, Known ++ [url, auth_token,
                                                                    encryption_key])] of
        [] -> ok;
        Unknown ->
            throw({bad_option, iolist_to_binary(io_lib:format("unknown option(s) ~p", [Unknown]))})
    end.
