%% A logger handler for tests: every event logged while it is on goes to
%% the process that started it, as {logged, Event}.
-module(libsql_log_capture).

-export([start/0, stop/0, logs/1, logs_until_quiet/1]).
-export([log/2]).

-define(ID, libsql_log_capture).

%% @doc Send every event from now on (all levels) to the calling process.
-spec start() -> ok.
start() ->
    _ = logger:remove_handler(?ID),
    ok = logger:add_handler(?ID, ?MODULE, #{level => all, config => #{pid => self()}}).

-spec stop() -> ok.
stop() ->
    _ = logger:remove_handler(?ID),
    ok.

%% @doc The events received so far, waiting up to Ms for the first.
-spec logs(non_neg_integer()) -> [logger:log_event()].
logs(Ms) ->
    receive {logged, E} -> [E | logs(0)] after Ms -> [] end.

%% @doc Every event logged until none came for Ms: for events that may
%% arrive a little after the call that caused them (with transport nif a
%% connection's events reach its process, and the logger, on their own).
-spec logs_until_quiet(non_neg_integer()) -> [logger:log_event()].
logs_until_quiet(Ms) ->
    receive {logged, E} -> [E | logs_until_quiet(Ms)] after Ms -> [] end.

%% @private logger's handler callback.
-spec log(logger:log_event(), logger:handler_config()) -> term().
log(Event, #{config := #{pid := Pid}}) ->
    Pid ! {logged, Event}.
