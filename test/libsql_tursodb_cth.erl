%% @doc Common Test hook: a real tursodb 0.7.0 (`--sync-server') for each
%% suite that lists it in suite/0, `{ct_hooks, [libsql_tursodb_cth]}'.
%% Before init_per_suite it installs the server if needed (from npm, into
%% the cache outside the repo: test/setup_remote.sh), starts it on a free
%% loopback port with a fresh database in the suite's priv_dir, and adds
%% `{tursodb, Info}' and `{url, Url}' to the suite's Config; after
%% end_per_suite it stops it. A server that cannot be installed or started
%% fails the suite: remote tests never pass by being skipped.
-module(libsql_tursodb_cth).

-export([init/2, pre_init_per_suite/3, post_end_per_suite/4, terminate/1]).

-type state() :: #{atom() => map()}.

-spec init(term(), term()) -> {ok, state()}.
init(_Id, _Opts) ->
    {ok, #{}}.

-spec pre_init_per_suite(atom(), list() | tuple(), state()) ->
          {list() | {fail, term()}, state()}.
pre_init_per_suite(_Suite, {_, _} = Skip, State) ->
    {Skip, State};
pre_init_per_suite(Suite, Config, State) when is_list(Config) ->
    PrivDir = proplists:get_value(priv_dir, Config),
    case libsql_tursodb:start(PrivDir) of
        {ok, #{url := Url} = T} ->
            ct:pal("tursodb for ~p at ~s", [Suite, Url]),
            {[{tursodb, T}, {url, Url} | Config], State#{Suite => T}};
        {error, Reason} ->
            {{fail, {tursodb_not_available, Reason}}, State}
    end.

-spec post_end_per_suite(atom(), term(), term(), state()) -> {term(), state()}.
post_end_per_suite(Suite, _Config, Return, State) ->
    case maps:take(Suite, State) of
        {T, Rest} ->
            ok = libsql_tursodb:stop(T),
            {Return, Rest};
        error ->
            {Return, State}
    end.

-spec terminate(state()) -> ok.
terminate(State) ->
    [libsql_tursodb:stop(T) || T <- maps:values(State)],
    ok.
