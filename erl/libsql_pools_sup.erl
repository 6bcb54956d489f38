%% @private
%% @doc Supervisor of the pools started at run time (libsql:start_pool/2)
%% and from the application environment. Each pool is a temporary child:
%% a pool whose own restart intensity is exceeded stays down and says why
%% in the log, instead of restarting forever.
-module(libsql_pools_sup).
-behaviour(supervisor).

-export([start_link/0, start_pool/2, stop_pool/1, init/1]).

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

-spec start_pool(atom(), map()) -> {ok, pid()} | {error, term()}.
start_pool(Name, Opts) ->
    supervisor:start_child(?MODULE, [Name, Opts]).

-spec stop_pool(pid()) -> ok | {error, not_found}.
stop_pool(PoolSup) ->
    supervisor:terminate_child(?MODULE, PoolSup).

init([]) ->
    Pool = #{id => libsql_pool_sup,
             start => {libsql_pool_sup, start_link, []},
             restart => temporary,
             shutdown => infinity,
             type => supervisor},
    {ok, {#{strategy => simple_one_for_one, intensity => 0, period => 1}, [Pool]}}.
