%% @private
%% @doc Top supervisor of the libsql application. It also owns the pool
%% registry table (libsql_pool:lookup/1 reads it) and the table of
%% connections' NIF lanes (libsql_conn), which live as long as the
%% application.
-module(libsql_sup).
-behaviour(supervisor).

-export([start_link/0, init/1]).

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    libsql_pool:create_registry(),
    libsql_subs:create_registry(),
    libsql_conn:create_lane_registry(),
    ConnSup = #{id => libsql_conn_sup,
                start => {libsql_conn_sup, start_link, []},
                type => supervisor,
                shutdown => infinity},
    PoolsSup = #{id => libsql_pools_sup,
                 start => {libsql_pools_sup, start_link, []},
                 type => supervisor,
                 shutdown => infinity},
    {ok, {#{strategy => one_for_one, intensity => 5, period => 10}, [ConnSup, PoolsSup]}}.
