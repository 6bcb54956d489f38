%% @private
%% @doc Supervisor of connections opened with libsql:open/1. Each is a
%% temporary child: it lives as long as its owner (the process that opened
%% it) and is not restarted; pools restart their own workers.
-module(libsql_conn_sup).
-behaviour(supervisor).

-export([start_link/0, start_conn/2, init/1]).

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

%% @doc Start a connection process owned by Owner.
-spec start_conn(pid(), map()) -> {ok, pid()} | {error, term()}.
start_conn(Owner, Opts) ->
    supervisor:start_child(?MODULE, [Owner, Opts]).

init([]) ->
    Conn = #{id => libsql_conn,
             start => {libsql_conn, start_link, []},
             restart => temporary,
             shutdown => 5000,
             type => worker},
    {ok, {#{strategy => simple_one_for_one, intensity => 0, period => 1}, [Conn]}}.
