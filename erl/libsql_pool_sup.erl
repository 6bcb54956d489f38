%% @doc One pool: its manager (libsql_pool, registered under the pool's
%% name) and a supervisor of its N connection workers. rest_for_one: if
%% the manager restarts, the workers restart and register with the new one.
%% Both levels have bounded restart intensity, so a database that cannot
%% be opened fails the pool with that error instead of a restart storm.
-module(libsql_pool_sup).
-behaviour(supervisor).

-export([start_link/2, init/1]).

%% @doc Start a pool from the options of libsql:start_pool/2 (checked here,
%% so that a pool in a user's own supervision tree is checked too).
-spec start_link(atom(), map()) -> {ok, pid()} | {error, term()}.
start_link(Name, RawOpts) ->
    case libsql_opts:pool(RawOpts) of
        {ok, Opts} -> supervisor:start_link(?MODULE, {pool, Name, Opts});
        {error, _} = E -> E
    end.

init({pool, Name, Opts}) ->
    Manager = #{id => manager,
                start => {libsql_pool, start_link, [Name, Opts]},
                shutdown => 5000},
    Workers = #{id => workers,
                start => {supervisor, start_link, [?MODULE, {workers, Name, Opts}]},
                type => supervisor,
                shutdown => infinity},
    {ok, {#{strategy => rest_for_one, intensity => 3, period => 10}, [Manager, Workers]}};
init({workers, Name, Opts}) ->
    Size = maps:get(size, Opts),
    ConnOpts = maps:put(pool, Name, maps:get(conn_opts, Opts)),
    Children = [#{id => {worker, I},
                  start => {libsql_conn, start_link, [none, ConnOpts]},
                  restart => permanent,
                  shutdown => 5000}
                || I <- lists:seq(1, Size)],
    %% Enough room for every worker to be replaced a few times in a burst
    %% (kill -9 of several ports), but not for a worker that cannot open.
    Intensity = maps:get(max_restarts, Opts, max(10, 3 * Size)),
    {ok, {#{strategy => one_for_one, intensity => Intensity, period => 10}, Children}}.
