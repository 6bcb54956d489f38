%% @private
%% @doc The manager of one pool: hands out its connection workers
%% (checkout/checkin), queues callers when all are busy, with a deadline,
%% and takes a connection back when its holder dies (after resetting it).
%%
%% Workers register themselves when they start (worker_started/2), so a
%% worker replaced by its supervisor rejoins without the manager asking.
%% The manager never waits on a worker: a reset is sent with
%% gen_server:send_request and its answer handled as a message.
-module(libsql_pool).
-behaviour(gen_server).

-export([start_link/2, checkout/2, checkin/3, worker_started/2, stats/1, functions/2,
         lookup/1, create_registry/0, config/1, any_slow_query_ms/0, supervisor/1,
         begin_startup/1, open_failed/2, end_startup/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2,
         format_status/2]).

-define(REGISTRY, libsql_pools).
-define(RESET_TIMEOUT, 5000).

-record(state, {
    name :: atom(),                                 % registered name of the pool
    size :: pos_integer(),                          % workers wanted
    workers = #{} :: #{pid() => reference()},       % live workers -> monitor
    idle = [] :: [pid()],                           % ready workers (LIFO: warm caches)
    busy = #{} :: #{pid() => {pid(), reference()}}, % worker -> holder, holder monitor
    waiting = queue:new() :: queue:queue(waiter()), % callers waiting, oldest first
    resets :: term(),                               % gen_server request ids of resets
    started = 0 :: non_neg_integer(),               % workers that ever registered
    checkouts = 0 :: non_neg_integer(),             % successful checkouts
    timeouts = 0 :: non_neg_integer(),              % checkouts that timed out
    config :: map(),                                % pool options without secrets
    sup :: pid(),                                   % the libsql_pool_sup of this pool
    startup = running :: running | {starting, libsql:error() | none},
                                                    % during startup: the first open error
    subs = #{} :: #{reference() => {libsql_subs:kind(), pid(), reference()}},
                                                    % subscriptions: ref -> subscriber, monitor
    setup = #{} :: #{term() => tuple()}             % what every worker gets when it starts
                                                    % (functions, the authorizer): key ->
                                                    % the cast (libsql_functions)
}).

-type waiter() :: {gen_server:from(), reference(), reference()}. % From, caller monitor, timer

%% ---- API -------------------------------------------------------------------

-spec start_link(atom(), map()) -> {ok, pid()} | {error, term()}.
start_link(Name, Opts) ->
    gen_server:start_link({local, Name}, ?MODULE, {Name, Opts}, []).

%% @doc A worker for the caller, waiting at most Timeout ms in the queue.
-spec checkout(pid() | atom(), timeout()) -> {ok, pid()} | {error, libsql:error()}.
checkout(Pool, Timeout) ->
    try
        gen_server:call(Pool, {checkout, self(), Timeout}, infinity)
    catch
        exit:_ -> {error, libsql_proto:err(closed, <<"the pool is not running">>)}
    end.

%% @doc Give a worker back. Clean = false: reset it first (the holder may
%% have left a transaction or cursors open).
-spec checkin(pid() | atom(), pid(), boolean()) -> ok.
checkin(Pool, Worker, Clean) ->
    gen_server:cast(Pool, {checkin, Worker, self(), Clean}).

%% @doc Called by a libsql_conn worker once its database is open.
-spec worker_started(atom(), pid()) -> ok.
worker_started(Pool, Worker) ->
    gen_server:cast(Pool, {worker_started, Worker}).

%% @doc Keep (define_function, set_authorizer, load_extension) or forget
%% (delete_function; {forget, What}: what the workers refused) what every
%% worker gets when it starts: {ok, Workers}, the workers running now,
%% which the caller applies it to (ok for a forget).
-spec functions(pid() | atom(), tuple()) -> ok | {ok, [pid()]} | {error, libsql:error()}.
functions(Pool, Msg) ->
    try
        gen_server:call(Pool, {functions, Msg}, infinity)
    catch
        exit:_ -> {error, libsql_proto:err(closed, <<"the pool is not running">>)}
    end.

%% @doc size, idle, busy, waiting, checkouts, checkout_timeouts, restarts.
-spec stats(pid() | atom()) -> {ok, map()} | {error, libsql:error()}.
stats(Pool) ->
    try
        {ok, gen_server:call(Pool, stats, 5000)}
    catch
        exit:_ -> {error, libsql_proto:err(closed, <<"the pool is not running">>)}
    end.

%% @doc The supervisor of a pool (what stop_pool terminates).
-spec supervisor(term()) -> {ok, pid()} | error.
supervisor(Pool) ->
    case lookup(Pool) of
        {ok, Pid} ->
            try gen_server:call(Pid, supervisor, 5000)
            catch exit:_ -> error
            end;
        error -> error
    end.

%% ---- startup (libsql_pool_sup) ---------------------------------------------------

%% @doc The pool's first workers are about to start: record open failures
%% (open_failed/2) instead of letting them be reported.
-spec begin_startup(atom()) -> ok.
begin_startup(Pool) ->
    gen_server:call(Pool, begin_startup, infinity).

%% @doc A worker could not open its database: `starting' if the pool is
%% starting (the failure is recorded for end_startup/1), else `running'.
-spec open_failed(atom(), libsql:error()) -> starting | running.
open_failed(Pool, Error) ->
    try gen_server:call(Pool, {open_failed, Error}, infinity)
    catch exit:_ -> running
    end.

%% @doc Startup is over: the first open error of the startup, if any.
-spec end_startup(atom()) -> ok | {error, libsql:error()}.
end_startup(Pool) ->
    gen_server:call(Pool, end_startup, infinity).

%% ---- registry: which names and pids are pools ---------------------------------

-spec create_registry() -> ok.
create_registry() ->
    _ = ets:new(?REGISTRY, [named_table, public, set, {read_concurrency, true}]),
    ok.

%% @doc The manager of a pool given by name or pid, or `error' if Db is not
%% a pool.
-spec lookup(term()) -> {ok, pid()} | error.
lookup(Db) when is_atom(Db); is_pid(Db) ->
    try ets:lookup(?REGISTRY, Db) of
        [{_, Pid, _Config}] -> {ok, Pid};
        [] -> error
    catch
        error:badarg -> error
    end;
lookup(_) ->
    error.

%% @doc A pool's settings (slow_query_ms, timeout, checkout_timeout, and
%% replica: whether its workers are embedded replicas), or #{} if unknown.
-spec config(term()) -> map().
config(Db) ->
    try ets:lookup(?REGISTRY, Db) of
        [{_, _, Config}] -> Config;
        [] -> #{}
    catch
        error:badarg -> #{}
    end.

%% @doc Whether a running pool has its own slow_query_ms (libsql_events
%% watches statements only when something asks for it).
-spec any_slow_query_ms() -> boolean().
any_slow_query_ms() ->
    try
        lists:any(fun({_, _, Config}) -> is_map_key(slow_query_ms, Config) end,
                  ets:tab2list(?REGISTRY))
    catch
        error:badarg -> false
    end.

%% ---- gen_server -----------------------------------------------------------

init({Name, Opts}) ->
    process_flag(trap_exit, true),
    Config = (maps:with([slow_query_ms, timeout, checkout_timeout], Opts))#{
               replica => is_replica(maps:get(conn_opts, Opts, #{})),
               remote => is_remote(maps:get(conn_opts, Opts, #{}))},
    true = ets:insert(?REGISTRY, [{Name, self(), Config}, {self(), self(), Config}]),
    ok = libsql_events:reload(),
    [Sup | _] = get('$ancestors'),
    {ok, #state{name = Name, size = maps:get(size, Opts), config = Config,
                resets = gen_server:reqids_new(), sup = Sup}}.

handle_call({checkout, Caller, Timeout}, From, S) ->
    case S#state.idle of
        [W | Idle] ->
            {reply, {ok, W}, give(W, Caller, S#state{idle = Idle})};
        [] when Timeout =:= 0 ->
            {reply, timeout_error(), S#state{timeouts = S#state.timeouts + 1}};
        [] ->
            Mon = erlang:monitor(process, Caller),
            Timer = case Timeout of
                        infinity -> undefined;
                        _ -> erlang:start_timer(Timeout, self(), {checkout_deadline, Mon})
                    end,
            {noreply, S#state{waiting = queue:in({From, Mon, Timer}, S#state.waiting)}}
    end;
handle_call(begin_startup, _From, S) ->
    {reply, ok, S#state{startup = {starting, none}}};
handle_call({open_failed, Error}, _From, #state{startup = {starting, none}} = S) ->
    {reply, starting, S#state{startup = {starting, Error}}};
handle_call({open_failed, _Error}, _From, #state{startup = {starting, _}} = S) ->
    {reply, starting, S};
handle_call({open_failed, _Error}, _From, S) ->
    {reply, running, S};
handle_call(end_startup, _From, #state{startup = {starting, none}} = S) ->
    {reply, ok, S#state{startup = running}};
handle_call(end_startup, _From, #state{startup = {starting, Error}} = S) ->
    {reply, {error, Error}, S#state{startup = running}};
handle_call(end_startup, _From, S) ->
    {reply, ok, S};
handle_call(supervisor, _From, S) ->
    {reply, {ok, S#state.sup}, S};
handle_call(stats, _From, S) ->
    {reply, #{size => S#state.size,
              workers => maps:size(S#state.workers),
              idle => length(S#state.idle),
              busy => maps:size(S#state.busy),
              waiting => queue:len(S#state.waiting),
              checkouts => S#state.checkouts,
              checkout_timeouts => S#state.timeouts,
              restarts => max(0, S#state.started - S#state.size)}, S};
%% A subscription to the workers' sync events: every worker now, and
%% every worker that starts later, sends to Pid under the one reference.
handle_call({subscribe, Kind, Pid}, _From, S) ->
    Ref = make_ref(),
    ok = libsql_subs:own(Ref),
    Mon = erlang:monitor(process, Pid),
    [gen_server:cast(W, {subscribe_as, Ref, Kind, Pid}) || W <- maps:keys(S#state.workers)],
    {reply, {ok, Ref}, S#state{subs = maps:put(Ref, {Kind, Pid, Mon}, S#state.subs)}};
handle_call({unsubscribe, Ref}, _From, S) ->
    {reply, ok, drop_sub(Ref, S)};
handle_call({functions, {define_function, {_, {Name, _, Arity, _}, _} = Def}}, _From, S) ->
    {reply, {ok, maps:keys(S#state.workers)},
     S#state{setup = maps:put(fun_key(Name, Arity), {define_as, Def}, S#state.setup)}};
handle_call({functions, {delete_function, Name, Arity}}, _From, S) ->
    {reply, {ok, maps:keys(S#state.workers)},
     S#state{setup = maps:remove(fun_key(Name, Arity), S#state.setup)}};
handle_call({functions, {load_extension, Path, Entry}}, _From, S) ->
    {reply, {ok, maps:keys(S#state.workers)},
     S#state{setup = maps:put({extension, Path, Entry}, {load_extension_as, Path, Entry},
                              S#state.setup)}};
handle_call({functions, {forget, Msg}}, _From, S) ->
    Key = case Msg of
              {define_function, {_, {Name, _, Arity, _}, _}} -> fun_key(Name, Arity);
              {load_extension, Path, Entry} -> {extension, Path, Entry};
              {set_authorizer, _, _} -> authorizer;
              _ -> none
          end,
    {reply, ok, S#state{setup = maps:remove(Key, S#state.setup)}};
handle_call({functions, {set_authorizer, Rules, Fun}}, _From, S) ->
    {reply, {ok, maps:keys(S#state.workers)},
     S#state{setup = maps:put(authorizer, {authorize_as, Rules, Fun}, S#state.setup)}};
handle_call(_Msg, _From, S) ->
    {reply, {error, libsql_proto:err(bad_argument, <<"unknown pool request">>)}, S}.

handle_cast({worker_started, W}, S) ->
    Mon = erlang:monitor(process, W),
    maps:foreach(fun(Ref, {Kind, Pid, _}) -> gen_server:cast(W, {subscribe_as, Ref, Kind, Pid})
                 end, S#state.subs),
    %% Before the worker is handed out: its first caller's request comes
    %% after these in its mailbox.
    maps:foreach(fun(_, Cast) -> gen_server:cast(W, Cast) end, S#state.setup),
    S1 = S#state{workers = maps:put(W, Mon, S#state.workers), started = S#state.started + 1},
    {noreply, make_ready(W, S1)};
handle_cast({checkin, W, Holder, Clean}, S) ->
    case maps:find(W, S#state.busy) of
        {ok, {Holder, HMon}} ->
            erlang:demonitor(HMon, [flush]),
            S1 = S#state{busy = maps:remove(W, S#state.busy)},
            {noreply, case Clean of
                          true -> make_ready(W, S1);
                          false -> start_reset(W, S1)
                      end};
        _ ->
            %% Not checked out by that process (double checkin): ignore.
            {noreply, S}
    end;
handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info({timeout, _Timer, {checkout_deadline, Mon}}, S) ->
    case take_waiter(Mon, S#state.waiting) of
        {{From, Mon, _}, Waiting} ->
            erlang:demonitor(Mon, [flush]),
            gen_server:reply(From, timeout_error()),
            {noreply, S#state{waiting = Waiting, timeouts = S#state.timeouts + 1}};
        none ->
            {noreply, S}
    end;
handle_info({'DOWN', Mon, process, Pid, _Reason} = Down, S) ->
    case maps:find(Pid, S#state.workers) of
        {ok, Mon} ->
            %% A worker died; its supervisor starts a new one, which registers.
            {noreply, S#state{workers = maps:remove(Pid, S#state.workers),
                              idle = lists:delete(Pid, S#state.idle),
                              busy = maps:remove(Pid, S#state.busy)}};
        _ ->
            %% A subscriber, else a holder, a waiter or a reset's reply.
            case [Ref || {Ref, {_, _, M}} <- maps:to_list(S#state.subs), M =:= Mon] of
                [Ref | _] -> {noreply, drop_sub(Ref, S)};
                [] -> other_down(Down, S)
            end
    end;
handle_info({'EXIT', _Pid, Reason}, S) when Reason =/= normal ->
    {stop, Reason, S};
handle_info(Msg, S) ->
    reset_reply(Msg, S).

%% A holder, a waiter, or a reset's reply.
other_down({'DOWN', Mon, process, Pid, _Reason} = Down, S) ->
    case holder_down(Mon, Pid, S) of
        {ok, S1} -> {noreply, S1};
        none ->
            case take_waiter(Mon, S#state.waiting) of
                {{_From, Mon, Timer}, Waiting} ->
                    cancel(Timer),
                    {noreply, S#state{waiting = Waiting}};
                none ->
                    reset_reply(Down, S)
            end
    end.

%% Workers opened with a file and a server are embedded replicas.
is_replica(#{port_opts := P}) -> lists:keymember(path, 1, P) andalso lists:keymember(url, 1, P);
is_replica(_) -> false.

%% Workers opened with a server and no file are remote connections.
is_remote(#{port_opts := P}) -> lists:keymember(url, 1, P) andalso not lists:keymember(path, 1, P);
is_remote(_) -> false.

%% End subscription Ref on every worker.
drop_sub(Ref, S) ->
    case maps:take(Ref, S#state.subs) of
        {{_Kind, _Pid, Mon}, Subs} ->
            erlang:demonitor(Mon, [flush]),
            ok = libsql_subs:disown(Ref),
            [gen_server:cast(W, {unsubscribe, Ref}) || W <- maps:keys(S#state.workers)],
            S#state{subs = Subs};
        error ->
            S
    end.

terminate(_Reason, S) ->
    try
        ets:delete(?REGISTRY, self()),
        case ets:lookup(?REGISTRY, S#state.name) of
            [{_, Self, _}] when Self =:= self() -> ets:delete(?REGISTRY, S#state.name);
            _ -> ok
        end,
        libsql_events:reload()
    catch
        error:badarg -> ok                % the registry went first
    end,
    [libsql_subs:disown(Ref) || Ref <- maps:keys(S#state.subs)],
    ok.

format_status(_Opt, [_PDict, #state{} = S]) ->
    [{data, [{"State", #{name => S#state.name, size => S#state.size,
                         idle => length(S#state.idle), busy => maps:size(S#state.busy),
                         waiting => queue:len(S#state.waiting)}}]}];
format_status(_Opt, [_PDict, Other]) ->
    [{data, [{"State", Other}]}].

%% ---- internals ---------------------------------------------------------------

give(W, Caller, S) ->
    Mon = erlang:monitor(process, Caller),
    S#state{busy = maps:put(W, {Caller, Mon}, S#state.busy), checkouts = S#state.checkouts + 1}.

%% A worker is ready: to the oldest live waiter, else idle.
make_ready(W, S) ->
    case queue:out(S#state.waiting) of
        {{value, {From, Mon, Timer}}, Waiting} ->
            cancel(Timer),
            {Caller, _} = From,
            erlang:demonitor(Mon, [flush]),
            gen_server:reply(From, {ok, W}),
            give(W, Caller, S#state{waiting = Waiting});
        {empty, _} ->
            S#state{idle = [W | S#state.idle]}
    end.

holder_down(Mon, Holder, S) ->
    case [W || {W, {H, M}} <- maps:to_list(S#state.busy), H =:= Holder, M =:= Mon] of
        [W | _] -> {ok, start_reset(W, S#state{busy = maps:remove(W, S#state.busy)})};
        [] -> none
    end.

start_reset(W, S) ->
    ReqId = libsql_conn:send_request(W, reset, [], ?RESET_TIMEOUT, reset),
    S#state{resets = gen_server:reqids_add(ReqId, W, S#state.resets)}.

reset_reply(Msg, S) ->
    case gen_server:check_response(Msg, S#state.resets, true) of
        no_request -> {noreply, S};
        no_reply -> {noreply, S};
        {Result, W, Resets} ->
            S1 = S#state{resets = Resets},
            case {Result, maps:is_key(W, S1#state.workers)} of
                {{reply, {reply, Bin}}, true} ->
                    case libsql_proto:decode_reply(Bin) of
                        {ok, ok} -> {noreply, make_ready(W, S1)};
                        _ -> {noreply, retire(W, S1)}
                    end;
                {_, true} -> {noreply, retire(W, S1)};
                {_, false} -> {noreply, S1}
            end
    end.

%% A worker that cannot be reset is not handed out again: stop it and let
%% its supervisor start a fresh one.
retire(W, S) ->
    logger:warning(#{what => libsql_worker_retired, pool => S#state.name},
                   #{domain => [libsql]}),
    exit(W, kill),
    S.

take_waiter(Mon, Waiting) ->
    case lists:keytake(Mon, 2, queue:to_list(Waiting)) of
        {value, W, Rest} -> {W, queue:from_list(Rest)};
        false -> none
    end.

cancel(undefined) -> ok;
cancel(Timer) -> _ = erlang:cancel_timer(Timer), ok.

timeout_error() ->
    {error, libsql_proto:err(timeout, <<"no connection of the pool became free in time">>)}.

%% SQLite's function names are ASCII case-insensitive.
fun_key(Name, Arity) ->
    {<< <<(if C >= $A, C =< $Z -> C + 32; true -> C end)>> || <<C>> <= Name >>, Arity}.
