%% @private
%% @doc Secrets (auth tokens, encryption keys) on their way from the
%% caller's options to the open frame of the port.
%%
%% A secret travels wrapped in a fun: a fun prints as `#Fun<...>' without the
%% values it holds, so a secret in a process's start arguments, state or a
%% crash report cannot be read. The closure holds the secret XOR-ed with a
%% pad, so not even a walk through the fun's environment (or a
%% term_to_binary of a crash report) finds it in clear. It is unwrapped
%% only to build the open frame, which goes straight to the port.
-module(libsql_secret).

-export([hide/1, reveal_port_opts/1]).

-export_type([secret/0]).

-opaque secret() :: fun(() -> binary() | string()).

%% @doc Options with every secret wrapped. Done by the API before options
%% reach any process, its start arguments included.
-spec hide(map()) -> map().
hide(Opts) when is_map(Opts) ->
    maps:map(fun(K, V) ->
                     case is_secret_key(K) andalso not is_function(V, 0) of
                         true -> wrap(V);
                         false -> V
                     end
             end, Opts);
hide(Other) ->
    Other.

%% @doc Whether the value of an open option is a secret (never echoed in
%% an error, never logged).
-spec is_secret_key(term()) -> boolean().
is_secret_key(auth_token) -> true;
is_secret_key(encryption_key) -> true;
is_secret_key(_) -> false.

%% @doc The port options with every wrapped secret in clear, as a binary:
%% called only to build the open frame.
-spec reveal_port_opts([{atom(), term()}]) -> [{atom(), term()}].
reveal_port_opts(PortOpts) ->
    [case KV of
         {K, F} when is_function(F, 0) -> {K, iolist_to_binary(F())};
         _ -> KV
     end || KV <- PortOpts].

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
