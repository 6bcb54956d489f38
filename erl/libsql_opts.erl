%% @doc Checking of the options of libsql:open/1 and libsql:start_pool/2:
%% one place that says which keys exist, their defaults and their types.
%% Nothing here talks to a process.
-module(libsql_opts).

-export([conn/1, pool/1, path/1, start_error/2, hide_secrets/1, secret/1]).

-export_type([secret/0]).

%% A secret (auth token, encryption key) travels wrapped in a fun: a fun
%% prints as #Fun<...> without the values it holds, so a secret in a
%% process's start arguments, state or a crash report cannot be read.
-opaque secret() :: fun(() -> binary() | string()).

-define(SECRET_KEYS, [auth_token, encryption_key]).

-define(DEFAULT_POOL_SIZE, 4).

%% Keys for the port program (sent with `open'); their defaults live in the
%% port (port/commands.c decode_open_opts) and are documented in libsql.
-define(PORT_KEYS, [read_only, create, busy_timeout, cache_size]).
%% Keys the connection process uses itself.
-define(CONN_KEYS, [timeout, max_frame, port_executable, cancel_timeout]).
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

%% The closure holds the secret XOR-ed with a pad, so not even a walk through the fun's environment (or a
%% term_to_binary of a crash report) finds the secret in clear.
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
