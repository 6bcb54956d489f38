%% @private
%% @doc The libsql application: starts the top supervisor, then the pools
%% listed in the application environment:
%%
%% ```
%% {libsql, [{pools, [{main_db, #{path => "app.db", size => 4}}]}]}
%% '''
%%
%% A pool that cannot start fails the application start with its error.
-module(libsql_app).
-behaviour(application).

-export([start/2, stop/1]).

-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    show_logs(application:get_env(libsql, log_to_default_handler, true)),
    ok = libsql_events:reload(),
    case libsql_sup:start_link() of
        {ok, Sup} ->
            case start_pools(application:get_env(libsql, pools, [])) of
                ok -> {ok, Sup};
                {error, _} = E ->
                    %% Take down what did start (other pools, their ports)
                    %% before answering, so a corrected start can follow.
                    stop_sup(Sup),
                    E
            end;
        {error, _} = E ->
            E
    end.

-spec stop(term()) -> ok.
stop(_State) ->
    _ = logger:remove_handler_filter(default, libsql_domain),
    ok.

%% libsql logs in the [libsql] domain (slow queries, hung ports, retired
%% workers). The default handler drops domains other than OTP's, so let
%% ours through unless the application environment says not to
%% ({log_to_default_handler, false}: route them yourself).
show_logs(true) ->
    _ = logger:add_handler_filter(default, libsql_domain,
                                  {fun logger_filters:domain/2, {log, sub, [libsql]}}),
    ok;
show_logs(_) ->
    ok.

stop_sup(Sup) ->
    Mon = erlang:monitor(process, Sup),
    unlink(Sup),
    exit(Sup, shutdown),
    receive {'DOWN', Mon, process, Sup, _} -> ok end.

start_pools([]) -> ok;
start_pools([{Name, Opts} | Rest]) when is_atom(Name), is_map(Opts) ->
    case libsql_pools_sup:start_pool(Name, libsql_secret:hide(Opts)) of
        {ok, _} -> start_pools(Rest);
        {error, Reason} ->
            {error, {libsql_pool_failed, Name, libsql_opts:start_error(Name, Reason)}}
    end;
start_pools([Bad | _]) ->
    {error, {libsql_bad_pool_config, Bad}}.
