%% @doc The libsql application: starts the top supervisor.
-module(libsql_app).
-behaviour(application).

-export([start/2, stop/1]).

-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    libsql_sup:start_link().

-spec stop(term()) -> ok.
stop(_State) ->
    ok.
