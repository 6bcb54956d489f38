%% @private
%% @doc The caller's side of a request: send it to the connection process
%% and wait for the reply, answering on the way the callbacks the port
%% makes while the request runs (port/channel.h): an Erlang SQL function
%% runs here, in the process that made the request, so that a pool routes
%% it to the right caller, and whatever the function reads of its own
%% process (its dictionary, its links) is the caller's.
%%
%% A request is sent as `{libsql_call, {self(), Ref, GiveUp}, Msg}' and
%% handled by the connection process as a call; the reply comes as `{Ref,
%% Reply}', callbacks as `{Ref, callback, Ctx, Frame}'. GiveUp is when the
%% caller stops waiting (monotonic ms, or `infinity'): the connection sends
%% nothing for the request from ?REPLY_MARGIN ms before it (libsql_conn),
%% so no late message can reach a caller that gave up, without an alias.
%% The answer to a callback goes straight to the port
%% (erlang:port_command/2 works from any process; with transport nif the
%% NIF's pipes do too), not through the connection process.
%%
%% Why a plain reference and not an alias or a monitor: on this VM either
%% costs about a microsecond a call (a monitor is two signals the
%% connection process must handle, the second after the answer; a message
%% to an alias is a signal too), where a call is answered in tens of
%% microseconds. The caller monitors the connection only once a request
%% has taken ?WATCH_AFTER ms: a connection that dies with the request
%% answers nothing (its port's death is answered, as `port_exited'; a
%% killed process is not), and the monitor's `'DOWN'' (at once, `noproc',
%% when it is already gone) ends the wait.
%%
%% An aggregate's state lives in this loop, per group number (Ctx of
%% port/functions.h), for the duration of the request.
%%
%% While a function runs, the process dictionary says so for its
%% connection ({libsql_callback, Conn}, as a transaction pins its
%% connection there): a call on that connection from inside the function
%% could only wait for itself (the statement waits for the function), so
%% it fails at once with `misuse'. Calls on other connections are fine.
-module(libsql_callback).

-export([call/3, call_watched/3, send/3, await/1]).

-export_type([req_id/0, fun_spec/0, funs/0]).

-opaque req_id() :: {reference(), pid(), give_up(), timeout()} | reentered.
%% What send/3 returns: the request's reference, the connection, when the
%% caller gives up, and how long it waits before it monitors the
%% connection.

-type give_up() :: integer() | infinity.
%% When the caller stops waiting: monotonic ms, or never.

-type fun_spec() :: {Name :: binary(), scalar, Arity :: integer(), fun()}
                  | {Name :: binary(), aggregate, Arity :: integer(),
                     {Init :: term(), Step :: fun(), Final :: fun()}}.
%% What the connection process knows of a function, by its number.

-type funs() :: #{integer() => fun_spec(), authorizer => function()}.
%% A connection's functions, and its authorizer fun if it has one.

%% An aggregate group's state: its accumulator, or the error of the step
%% that failed (the group's final then fails with it).
-type agg() :: {ok, FunId :: integer(), term()} | {error, binary()}.

%% The process dictionary key saying a function of Conn's runs here.
-define(RUNNING(Conn), {libsql_callback, Conn}).

%% How long a request waits on its reference alone before the caller
%% monitors the connection too (module doc).
-define(WATCH_AFTER, 50).
%% libsql_conn's twin: what the connection leaves between its last message
%% for a request and the caller's GiveUp.
-define(REPLY_MARGIN, 1000).

%% Longer messages are cut (the port cuts at 4096 bytes too).
-define(MAX_MESSAGE, 2000).

%% @doc Send Msg to Conn as a call and wait for its reply, answering
%% callbacks meanwhile, for at most Timeout (infinity or ms; the
%% connection enforces the request's own deadline, this is its
%% backstop): `{reply, Reply}', `{down, Reason}' when the connection
%% died, or `timeout'.
-spec call(pid(), term(), timeout()) -> {reply, term()} | {down, term()} | timeout.
call(Conn, Msg, Timeout) ->
    case get(?RUNNING(Conn)) of
        undefined -> await(send_now(Conn, Msg, Timeout));
        _ -> {reply, {error, reentered()}}
    end.

%% @doc call/3 for a caller that needs the reason if the connection
%% dies: the connection is monitored before the message goes, so its
%% `{down, Reason}' carries its exit reason unless it was gone already
%% (`noproc'). For rare paths: the monitor is what call/3 saves.
-spec call_watched(pid(), term(), timeout()) -> {reply, term()} | {down, term()} | timeout.
call_watched(Conn, Msg, Timeout) ->
    case get(?RUNNING(Conn)) of
        undefined ->
            Mon = erlang:monitor(process, Conn),
            {Ref, Conn, GiveUp, _} = send_now(Conn, Msg, Timeout),
            wait(Ref, Conn, Mon, GiveUp, #{});
        _ ->
            {reply, {error, reentered()}}
    end.

reentered() ->
    libsql_proto:err(misuse, <<"an Erlang SQL function called the connection that is running "
                               "it (the statement waits for the function: use another "
                               "connection)">>).

%% @doc Send Msg without waiting; collect the reply with await/1 within
%% Timeout of now (as call/3). From inside a function of Conn's the reply
%% is `misuse' (see call/3).
-spec send(pid(), term(), timeout()) -> req_id().
send(Conn, Msg, Timeout) ->
    case get(?RUNNING(Conn)) of
        undefined -> send_now(Conn, Msg, Timeout);
        _ -> reentered
    end.

send_now(Conn, Msg, infinity) ->
    Ref = make_ref(),
    Conn ! {libsql_call, {self(), Ref, infinity}, Msg},
    {Ref, Conn, infinity, ?WATCH_AFTER};
send_now(Conn, Msg, Timeout) ->
    Ref = make_ref(),
    GiveUp = erlang:monotonic_time(millisecond) + Timeout,
    Conn ! {libsql_call, {self(), Ref, GiveUp}, Msg},
    {Ref, Conn, GiveUp, min(?WATCH_AFTER, Timeout)}.

%% @doc The reply to a send/3, callbacks answered while it comes.
-spec await(req_id()) -> {reply, term()} | {down, term()} | timeout.
await(reentered) ->
    {reply, {error, reentered()}};
await({Ref, Conn, GiveUp, First}) ->
    wait(Ref, Conn, First, GiveUp, #{}).

%% First: how long to wait before the connection is monitored (no clock
%% read on the way of a quick answer). Then Mon, that monitor.
wait(Ref, Conn, First, GiveUp, Aggs) when is_integer(First) ->
    receive
        {Ref, Reply} ->
            {reply, Reply};
        {Ref, callback, Ctx, Frame} ->
            %% the time the callback took counts: the next wait reads the clock
            wait(Ref, Conn, 0, GiveUp, handle(Frame, Ctx, Aggs))
    after First ->
        watch(Ref, Conn, GiveUp, Aggs)
    end;
wait(Ref, Conn, Mon, GiveUp, Aggs) ->
    receive
        {Ref, Reply} ->
            erlang:demonitor(Mon, [flush]),
            {reply, Reply};
        {Ref, callback, Ctx, Frame} ->
            wait(Ref, Conn, Mon, GiveUp, handle(Frame, Ctx, Aggs));
        {'DOWN', Mon, _, _, Reason} ->
            {down, Reason}
    after left(GiveUp) ->
        erlang:demonitor(Mon, [flush]),
        timeout
    end.

watch(Ref, Conn, GiveUp, Aggs) ->
    wait(Ref, Conn, erlang:monitor(process, Conn), GiveUp, Aggs).

left(infinity) -> infinity;
left(Deadline) -> max(0, Deadline - erlang:monotonic_time(millisecond)).

%% @doc Run one callback of the port and send its answer (when it wants
%% one). Ctx: {Port, MaxFrame, Funs}.
-spec handle(binary(), {pid(), port(), pos_integer(), funs()},
             #{integer() => agg()}) -> #{integer() => agg()}.
handle(Frame, {Conn, Port, MaxFrame, Funs}, Aggs) ->
    {Ref, callback, {Id, Payload}} = binary_to_term(Frame),
    Outer = put(?RUNNING(Conn), true),
    try run(Payload, Ref, Id, Port, MaxFrame, Funs, Aggs)
    after
        case Outer of
            undefined -> erase(?RUNNING(Conn));
            _ -> ok
        end
    end.

run(Payload, Ref, Id, Port, MaxFrame, Funs, Aggs) ->
    case Payload of
        {call, FunId, Args} ->
            answer(Port, MaxFrame, Ref, Id, FunId, Funs, scalar(FunId, Args, Funs)),
            Aggs;
        {steps, Steps} ->
            Aggs1 = steps(Steps, Funs, Aggs),
            Id > 0 andalso answer(Port, MaxFrame, Ref, Id, 0, Funs, steps_answer(Aggs1)),
            Aggs1;
        {authorize, Action, Object, Detail, Db} ->
            answer(Port, MaxFrame, Ref, Id, authorizer, Funs,
                   authorize(Funs, Action, Object, Detail, Db)),
            Aggs;
        {final, FunId, Group, Steps} ->
            Aggs1 = steps(Steps, Funs, Aggs),
            {Result, Aggs2} = final(FunId, Group, Funs, Aggs1),
            answer(Port, MaxFrame, Ref, Id, FunId, Funs, Result),
            Aggs2
    end.

%% The authorizer fun's verdict; anything but ok or ignore denies (so does
%% a fun that raises, logged: a check that could not be made).
authorize(#{authorizer := Fun}, Action, Object, Detail, Db) ->
    try Fun(Action, Object, Detail, Db) of
        ok -> ok;
        ignore -> ignore;
        _ -> deny
    catch
        Class:Reason ->
            logger:warning(#{what => libsql_authorizer_raised, class => Class, reason => Reason,
                             action => Action}, #{domain => [libsql]}),
            deny
    end;
authorize(_, _, _, _, _) ->
    deny.

scalar(FunId, Args, Funs) ->
    case maps:find(FunId, Funs) of
        {ok, {Name, scalar, Arity, Fun}} -> result(Name, apply_fun(Fun, Arity, Args, []));
        _ -> {error, <<"the function was deleted">>}
    end.

%% Step every group; a group whose step failed keeps its error.
steps([{FunId, Group, Args} | Rest], Funs, Aggs) ->
    Aggs1 = case Aggs of
                #{Group := {error, _}} -> Aggs;
                _ -> Aggs#{Group => step(FunId, Group, Args, Funs, Aggs)}
            end,
    steps(Rest, Funs, Aggs1);
steps([], _Funs, Aggs) ->
    Aggs.

step(FunId, Group, Args, Funs, Aggs) ->
    case maps:find(FunId, Funs) of
        {ok, {Name, aggregate, Arity, {Init, Step, _}}} ->
            Acc = case Aggs of
                      #{Group := {ok, _, A}} -> A;
                      _ -> Init
                  end,
            case apply_fun(Step, Arity, Args, [Acc]) of
                {ok, Acc1} -> {ok, FunId, Acc1};
                {raised, _, _} = R -> {error, message(Name, R)}
            end;
        _ ->
            {error, <<"the function was deleted">>}
    end.

steps_answer(Aggs) ->
    case [M || {error, M} <- maps:values(Aggs)] of
        [M | _] -> {error, M};
        [] -> ok
    end.

final(FunId, Group, Funs, Aggs) ->
    {Agg, Rest} = case maps:take(Group, Aggs) of
                      error -> {none, Aggs};
                      Found -> Found
                  end,
    Result = case {maps:find(FunId, Funs), Agg} of
                 {_, {error, M}} -> {error, M};
                 {{ok, {Name, aggregate, _, {Init, _, Final}}}, _} ->
                     Acc = case Agg of {ok, _, A} -> A; none -> Init end,
                     result(Name, apply_fun(Final, 1, [Acc], []));
                 _ -> {error, <<"the function was deleted">>}
             end,
    {Result, Rest}.

%% Fun on the arguments (a list for a variadic one) and Extra after them.
apply_fun(Fun, Arity, Args, Extra) ->
    try
        {ok, case Arity of
                 -1 -> apply(Fun, [Args | Extra]);
                 _ -> apply(Fun, Args ++ Extra)
             end}
    catch
        Class:Reason -> {raised, Class, Reason}
    end.

result(Name, {ok, {error, Why}}) ->
    {error, cut(iolist_to_binary([Name, ": ", text(Why)]))};
result(Name, {ok, V}) ->
    case libsql_proto:value(V) of
        {ok, W} -> {ok, W};
        {error, Why} ->
            {error, cut(unicode:characters_to_binary(
                          io_lib:format("~ts returned ~0tP: ~ts", [Name, V, 8, Why])))}
    end;
result(Name, {raised, _, _} = R) ->
    {error, message(Name, R)}.

message(Name, {raised, Class, Reason}) ->
    cut(unicode:characters_to_binary(io_lib:format("~ts raised ~p:~0tP",
                                                   [Name, Class, Reason, 10]))).

text(Why) when is_binary(Why) -> Why;
text(Why) ->
    try unicode:characters_to_binary(Why) of
        B when is_binary(B) -> B;
        _ -> io_lib:format("~0tP", [Why, 10])
    catch
        error:_ -> io_lib:format("~0tP", [Why, 10])
    end.

cut(<<M:?MAX_MESSAGE/binary, _/binary>>) -> M;
cut(M) -> M.

%% The answer frame, {Ref, answer, Id, Result}, straight to the port. A
%% result over the port's frame limit fails the statement instead (the
%% port would refuse the frame, and the statement would wait for ever).
answer(Port, MaxFrame, Ref, Id, FunId, Funs, Result) ->
    {Arity, Body} = libsql_proto:encode_body(answer, [Id, Result]),
    Frame = case iolist_size(Body) + 8 > MaxFrame of
                false -> libsql_proto:frame(Ref, Arity, Body);
                true ->
                    Name = case maps:find(FunId, Funs) of
                               {ok, Spec} -> element(1, Spec);
                               error -> <<"function">>
                           end,
                    Why = iolist_to_binary([Name, ": the result is over the frame limit "
                                                  "(the max_frame option)"]),
                    {A, B} = libsql_proto:encode_body(answer, [Id, {error, Why}]),
                    libsql_proto:frame(Ref, A, B)
            end,
    %% the port or the NIF's pipes; gone: the request fails anyway
    _ = libsql_conn:write_frame(Port, Frame),
    ok.
