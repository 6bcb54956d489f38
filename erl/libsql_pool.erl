%% @private
%% @doc The manager of one pool: its connection workers, the queue of
%% callers waiting for one (with a deadline), and the connections of
%% callers that die holding them (reset, then handed out again).
%%
%% <h3>Checkout without a process hop</h3>
%% Every slot of the pool (one per worker) is an entry of an `atomics'
%% array, and the workers' pids are a tuple in the pool's registry row,
%% which every call reads anyway to learn that `Db' is a pool. A slot is
%% `0' (idle), `-1' (the manager's: no worker yet, being reset, being
%% handed to a waiter) or a caller id (held by that caller). A caller
%% takes an idle worker with `atomics:compare_exchange/4' and gives it back
%% with another: while nobody waits, checkout and checkin send no message.
%% The manager is involved only when no worker is idle (the queue), when a
%% worker must be reset first, and when workers start and die.
%%
%% <h3>Callers that die holding a worker</h3>
%% A caller id is a number the pool gives each calling process once (kept
%% in its process dictionary), announced to the manager in a message sent
%% <em>before</em> the caller's first claim. The manager monitors the
%% process; when it dies, every slot still holding its id is taken back
%% and its worker reset. Since the slot itself names its holder, there is
%% no moment between a claim and the message that would let a kill leak a
%% worker, and no monitor is set or removed per checkout: one per calling
%% process for as long as it lives.
%%
%% <h3>The queue is fair</h3>
%% The rule: newcomers take an idle worker directly only while nobody is
%% queued (the count of waiters is the array's first entry, written by the
%% manager); otherwise they queue behind the others. A caller giving a
%% worker back while someone is queued gives it to the manager, which
%% hands it to the oldest waiter; so a worker released while callers wait
%% goes to them, never to a newcomer. The only exception is a caller that
%% read the queue as empty an instant before a waiter joined it and claims
%% a worker released in that same instant: it was there first. A caller
%% that frees a worker and then sees a waiter that joined meanwhile pokes
%% the manager, and the manager, after counting a new waiter, looks for
%% idle workers itself: a waiter is never left queued beside an idle
%% worker.
%%
%% Workers register themselves when they start (worker_started/2), so a
%% worker replaced by its supervisor rejoins without the manager asking;
%% it takes the slot of the one it replaces. A slot whose worker died
%% while a caller held it stays that caller's (its calls fail with
%% `closed' or `port_exited') until given back; only the caller that holds
%% a slot can give it back, so a lease is never released twice. The
%% manager never waits on a worker: a reset is sent with
%% gen_server:send_request and its answer handled as a message.
-module(libsql_pool).
-behaviour(gen_server).

-export([start_link/2, checkout/2, checkin/3, handle/1, manager/1, lease/2, release/2, keep/2,
         worker_started/2, stats/1, functions/2, lookup/1, create_registry/0, config/1,
         any_slow_query_ms/0, supervisor/1, begin_startup/1, open_failed/2, end_startup/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2,
         format_status/2]).

-export_type([handle/0, lease/0]).

-define(REGISTRY, libsql_pools).
-define(RESET_TIMEOUT, 5000).
-define(DEFAULT_CHECKOUT_TIMEOUT, 5000).
%% The atomics array: the number of queued callers, the last caller id
%% given out, then one entry per slot.
-define(WAITING, 1).
-define(LAST_ID, 2).
-define(SLOT(I), (I + 2)).
-define(IDLE, 0).
-define(MANAGER, -1).
%% The counters: successful checkouts, checkouts that timed out.
-define(CHECKOUTS, 1).
-define(TIMEOUTS, 2).
%% The process dictionary: this process's caller id with a pool, and the
%% lease of a worker kept checked out past the call (checkout/2, cursors).
-define(ID_KEY(Pool), {?MODULE, id, Pool}).
-define(LEASE_KEY(Worker), {?MODULE, lease, Worker}).

%% The registry row of a pool, under its name and under its pid.
-record(reg, {
    key :: atom() | pid(),                  % the pool's name, or its pid
    pid :: pid(),                           % the manager
    config :: map(),                        % pool options without secrets
    atomics :: atomics:atomics_ref(),       % waiting, last id, the slots
    counters :: counters:counters_ref(),    % checkouts, timeouts
    workers :: tuple()                      % slot -> worker pid | undefined
}).

-record(state, {
    name :: atom(),                                 % registered name of the pool
    size :: pos_integer(),                          % workers wanted (= slots)
    reg :: #reg{},                                  % what the registry rows hold
    workers = #{} :: #{pid() => {reference(), pos_integer()}},
                                                    % live workers -> monitor, slot
    spare = [] :: [{pid(), reference()}],           % workers (and monitors) started
                                                    % before the death of the one they
                                                    % replace was seen
    callers = #{} :: #{reference() => integer()},   % caller monitor -> caller id
    waiting = queue:new() :: queue:queue(waiter()), % callers waiting, oldest first
    resets :: term(),                               % gen_server request ids of resets
    started = 0 :: non_neg_integer(),               % workers that ever registered
    sup :: pid(),                                   % the libsql_pool_sup of this pool
    startup = running :: running | {starting, libsql:error() | none},
                                                    % during startup: the first open error
    subs = #{} :: #{reference() => {libsql_subs:kind(), pid(), reference()}},
                                                    % subscriptions: ref -> subscriber, monitor
    setup = #{} :: #{term() => tuple()}             % what every worker gets when it starts
                                                    % (functions, the authorizer): key ->
                                                    % the cast (libsql_functions)
}).

-type waiter() :: {gen_server:from(), integer(), reference() | undefined}.
                                                    % From, caller id, deadline timer

-opaque handle() :: #reg{}.
%% A running pool as its registry row has it (handle/1).
-opaque lease() :: {pid(), atomics:atomics_ref(), pos_integer(), integer()}.
%% One checked-out worker: the manager, the array, the slot, the caller id.

%% ---- API -------------------------------------------------------------------

-spec start_link(atom(), map()) -> {ok, pid()} | {error, term()}.
start_link(Name, Opts) ->
    gen_server:start_link({local, Name}, ?MODULE, {Name, Opts}, []).

%% @doc The pool Db names (a name or a manager pid), or `error' if it is
%% not a running pool: one read of the registry.
-spec handle(term()) -> {ok, handle()} | error.
handle(Db) when is_atom(Db); is_pid(Db) ->
    try ets:lookup(?REGISTRY, Db) of
        [#reg{} = R] -> {ok, R};
        [] -> error
    catch
        error:badarg -> error
    end;
handle(_) ->
    error.

%% @doc The manager of a pool handle.
-spec manager(handle()) -> pid().
manager(#reg{pid = Pid}) -> Pid.

%% @doc A worker of the pool for the caller, waiting at most Timeout ms in
%% the queue (`default': the pool's checkout_timeout, else 5000), and the
%% lease that gives it back (release/2). An idle worker is taken without a
%% message to anyone.
-spec lease(handle(), timeout() | default) ->
          {ok, pid(), lease()} | {error, libsql:error()}.
lease(#reg{pid = Pool, atomics = A, counters = C, workers = Ws} = R, Timeout) ->
    Id = caller_id(Pool, A),
    case atomics:get(A, ?WAITING) of
        0 ->
            case claim(A, Ws, 1, Id, Pool) of
                {ok, W, I} ->
                    counters:add(C, ?CHECKOUTS, 1),
                    {ok, W, {Pool, A, I, Id}};
                none ->
                    queue_for(R, Id, Timeout)
            end;
        _ ->
            queue_for(R, Id, Timeout)
    end.

%% @doc Give a leased worker back. Clean = false: reset it first (the
%% holder may have left a transaction or cursors open). Sends nothing
%% unless the worker must be reset or someone is waiting for it.
-spec release(lease(), boolean()) -> ok.
release({Pool, A, I, Id}, true) ->
    case atomics:get(A, ?WAITING) of
        0 ->
            case atomics:compare_exchange(A, ?SLOT(I), Id, ?IDLE) of
                ok ->
                    %% A caller may have joined the queue after the first
                    %% read: the manager hands it what is idle.
                    case atomics:get(A, ?WAITING) of
                        0 -> ok;
                        _ -> Pool ! {?MODULE, released}, ok
                    end;
                _ ->
                    ok            % not ours (given back twice): nothing to do
            end;
        _ ->
            Pool ! {?MODULE, checkin, I, Id, clean},
            ok
    end;
release({Pool, _A, I, Id}, false) ->
    Pool ! {?MODULE, checkin, I, Id, reset},
    ok.

%% @doc Keep a leased worker checked out past the call that leased it
%% (a cursor): checkin/3 gives it back.
-spec keep(pid(), lease()) -> ok.
keep(Worker, Lease) ->
    _ = put(?LEASE_KEY(Worker), Lease),
    ok.

%% @doc A worker for the caller, waiting at most Timeout ms in the queue;
%% give it back with checkin/3 from the same process.
-spec checkout(pid() | atom(), timeout()) -> {ok, pid()} | {error, libsql:error()}.
checkout(Pool, Timeout) ->
    case handle(Pool) of
        {ok, R} ->
            case lease(R, Timeout) of
                {ok, W, Lease} -> keep(W, Lease), {ok, W};
                {error, _} = E -> E
            end;
        error ->
            not_running()
    end.

%% @doc Give back a worker of checkout/2 or keep/2. Clean = false: reset
%% it first. A worker this process does not hold is left alone.
-spec checkin(pid() | atom(), pid(), boolean()) -> ok.
checkin(_Pool, Worker, Clean) ->
    case erase(?LEASE_KEY(Worker)) of
        undefined -> ok;
        Lease -> release(Lease, Clean)
    end.

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
    _ = ets:new(?REGISTRY, [named_table, public, set, {keypos, #reg.key},
                            {read_concurrency, true}]),
    ok.

%% @doc The manager of a pool given by name or pid, or `error' if Db is not
%% a pool.
-spec lookup(term()) -> {ok, pid()} | error.
lookup(Db) ->
    case handle(Db) of
        {ok, #reg{pid = Pid}} -> {ok, Pid};
        error -> error
    end.

%% @doc A pool's settings (slow_query_ms, timeout, checkout_timeout, and
%% replica: whether its workers are embedded replicas), or #{} if unknown.
-spec config(term()) -> map().
config(Db) ->
    case handle(Db) of
        {ok, #reg{config = Config}} -> Config;
        error -> #{}
    end.

%% @doc Whether a running pool has its own slow_query_ms (libsql_events
%% watches statements only when something asks for it).
-spec any_slow_query_ms() -> boolean().
any_slow_query_ms() ->
    try
        lists:any(fun(#reg{config = Config}) -> is_map_key(slow_query_ms, Config) end,
                  ets:tab2list(?REGISTRY))
    catch
        error:badarg -> false
    end.

%% ---- gen_server -----------------------------------------------------------

init({Name, Opts}) ->
    process_flag(trap_exit, true),
    Size = maps:get(size, Opts),
    Config = (maps:with([slow_query_ms, timeout, checkout_timeout], Opts))#{
               replica => is_replica(maps:get(conn_opts, Opts, #{})),
               remote => is_remote(maps:get(conn_opts, Opts, #{}))},
    A = atomics:new(?SLOT(Size), [{signed, true}]),
    %% Every slot is the manager's until a worker registers in it.
    [atomics:put(A, ?SLOT(I), ?MANAGER) || I <- lists:seq(1, Size)],
    Reg = #reg{key = Name, pid = self(), config = Config, atomics = A,
               counters = counters:new(2, [write_concurrency]),
               workers = erlang:make_tuple(Size, undefined)},
    publish(Reg),
    ok = libsql_events:reload(),
    [Sup | _] = get('$ancestors'),
    {ok, #state{name = Name, size = Size, reg = Reg, resets = gen_server:reqids_new(),
                sup = Sup}}.

%% A caller found no idle worker (lease/2): take one that became idle
%% since, else queue it.
handle_call({checkout, Id, Timeout}, From, S) ->
    case queue:is_empty(S#state.waiting) andalso claim_for(Id, S) of
        {ok, W, I} ->
            {reply, {ok, W, I}, S};
        _ when Timeout =:= 0 ->
            count(?TIMEOUTS, S),
            {reply, timeout_error(), S};
        _ ->
            Timer = case Timeout of
                        infinity -> undefined;
                        _ -> erlang:start_timer(Timeout, self(), checkout_deadline)
                    end,
            S1 = S#state{waiting = queue:in({From, Id, Timer}, S#state.waiting)},
            {noreply, serve_waiters(publish_waiting(S1))}
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
handle_call(stats, _From, #state{reg = #reg{counters = C}} = S) ->
    {Idle, Busy} = idle_busy(S),
    {reply, #{size => S#state.size,
              workers => maps:size(S#state.workers),
              idle => Idle,
              busy => Busy,
              waiting => queue:len(S#state.waiting),
              checkouts => counters:get(C, ?CHECKOUTS),
              checkout_timeouts => counters:get(C, ?TIMEOUTS),
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
    S1 = S#state{started = S#state.started + 1},
    case vacant_slot(S1) of
        {ok, I} -> {noreply, fill(I, W, Mon, S1)};
        none -> {noreply, S1#state{spare = S1#state.spare ++ [{W, Mon}]}}
    end;
handle_cast(_Msg, S) ->
    {noreply, S}.

%% A caller's first use of the pool: watch it, so that what it holds when
%% it dies comes back.
handle_info({?MODULE, hello, Pid, Id}, S) ->
    Mon = erlang:monitor(process, Pid),
    {noreply, S#state{callers = maps:put(Mon, Id, S#state.callers)}};
handle_info({?MODULE, checkin, I, Id, How}, S) ->
    case take_slot(I, Id, S) of
        ok when How =:= clean -> {noreply, make_ready(I, S)};
        ok -> {noreply, start_reset(I, S)};
        not_held -> {noreply, S}          % given back twice, or taken back
    end;
handle_info({?MODULE, released}, S) ->
    {noreply, serve_waiters(S)};
%% A caller claimed a slot whose worker had died (it read the registry
%% before the manager emptied the slot): the slot waits for the new worker.
handle_info({?MODULE, vacant, I, Id}, S) ->
    case take_slot(I, Id, S) of
        ok -> {noreply, make_ready(I, S)};
        not_held -> {noreply, S}
    end;
handle_info({timeout, Timer, checkout_deadline}, S) ->
    case lists:keytake(Timer, 3, queue:to_list(S#state.waiting)) of
        {value, {From, _Id, Timer}, Rest} ->
            gen_server:reply(From, timeout_error()),
            count(?TIMEOUTS, S),
            {noreply, publish_waiting(S#state{waiting = queue:from_list(Rest)})};
        false ->
            {noreply, S}
    end;
handle_info({'DOWN', Mon, process, Pid, _Reason} = Down, S) ->
    case maps:take(Mon, S#state.callers) of
        {Id, Callers} ->
            {noreply, caller_down(Id, S#state{callers = Callers})};
        error ->
            case maps:find(Pid, S#state.workers) of
                {ok, {Mon, I}} -> {noreply, worker_down(Pid, I, S)};
                _ ->
                    case lists:keytake(Mon, 2, S#state.spare) of
                        {value, _, Spare} -> {noreply, S#state{spare = Spare}};
                        false -> other_down(Down, S)
                    end
            end
    end;
handle_info({'EXIT', _Pid, Reason}, S) when Reason =/= normal ->
    {stop, Reason, S};
handle_info(Msg, S) ->
    reset_reply(Msg, S).

%% A subscriber, else a reset's reply.
other_down({'DOWN', Mon, process, _Pid, _Reason} = Down, S) ->
    case [Ref || {Ref, {_, _, M}} <- maps:to_list(S#state.subs), M =:= Mon] of
        [Ref | _] -> {noreply, drop_sub(Ref, S)};
        [] -> reset_reply(Down, S)
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
            [#reg{pid = Self}] when Self =:= self() -> ets:delete(?REGISTRY, S#state.name);
            _ -> ok
        end,
        libsql_events:reload()
    catch
        error:badarg -> ok                % the registry went first
    end,
    [libsql_subs:disown(Ref) || Ref <- maps:keys(S#state.subs)],
    ok.

format_status(_Opt, [_PDict, #state{} = S]) ->
    {Idle, Busy} = idle_busy(S),
    [{data, [{"State", #{name => S#state.name, size => S#state.size, idle => Idle,
                         busy => Busy, waiting => queue:len(S#state.waiting)}}]}];
format_status(_Opt, [_PDict, Other]) ->
    [{data, [{"State", Other}]}].

%% Live workers idle, and held by callers (those being reset are neither).
idle_busy(#state{reg = #reg{atomics = A}} = S) ->
    Live = [atomics:get(A, ?SLOT(I)) || {_, I} <- maps:values(S#state.workers)],
    {length([V || V <- Live, V =:= ?IDLE]), length([V || V <- Live, V > 0])}.

%% ---- internals: the callers' side ----------------------------------------------

%% This process's id with the pool: made and announced to the manager on
%% first use, before any claim carries it.
caller_id(Pool, A) ->
    case get(?ID_KEY(Pool)) of
        undefined ->
            Id = atomics:add_get(A, ?LAST_ID, 1),
            Pool ! {?MODULE, hello, self(), Id},
            _ = put(?ID_KEY(Pool), Id),
            Id;
        Id ->
            Id
    end.

%% The first idle slot from I on, taken for Id: lowest slots first, so a
%% lightly loaded pool keeps using the same warm workers.
claim(A, Ws, I, Id, Pool) when I =< tuple_size(Ws) ->
    case atomics:compare_exchange(A, ?SLOT(I), ?IDLE, Id) of
        ok ->
            case element(I, Ws) of
                undefined ->
                    Pool ! {?MODULE, vacant, I, Id},
                    claim(A, Ws, I + 1, Id, Pool);
                W ->
                    {ok, W, I}
            end;
        _ ->
            claim(A, Ws, I + 1, Id, Pool)
    end;
claim(_A, _Ws, _I, _Id, _Pool) ->
    none.

%% No idle worker: wait in the manager's queue.
queue_for(#reg{counters = C}, _Id, 0) ->
    counters:add(C, ?TIMEOUTS, 1),
    timeout_error();
queue_for(#reg{pid = Pool, atomics = A, config = Config}, Id, Timeout0) ->
    Timeout = case Timeout0 of
                  default -> maps:get(checkout_timeout, Config, ?DEFAULT_CHECKOUT_TIMEOUT);
                  _ -> Timeout0
              end,
    try gen_server:call(Pool, {checkout, Id, Timeout}, infinity) of
        {ok, W, I} -> {ok, W, {Pool, A, I, Id}};
        {error, _} = E -> E
    catch
        exit:_ -> not_running()
    end.

not_running() ->
    {error, libsql_proto:err(closed, <<"the pool is not running">>)}.

timeout_error() ->
    {error, libsql_proto:err(timeout, <<"no connection of the pool became free in time">>)}.

%% ---- internals: the manager's side ----------------------------------------------

publish(Reg) ->
    true = ets:insert(?REGISTRY, [Reg, Reg#reg{key = Reg#reg.pid}]),
    ok.

publish_waiting(#state{reg = #reg{atomics = A}} = S) ->
    atomics:put(A, ?WAITING, queue:len(S#state.waiting)),
    S.

count(Which, #state{reg = #reg{counters = C}}) ->
    counters:add(C, Which, 1).

worker(I, #state{reg = #reg{workers = Ws}}) ->
    element(I, Ws).

%% Take slot I from the caller Id for the manager: ok, or not_held.
take_slot(I, Id, #state{reg = #reg{atomics = A}}) ->
    case atomics:compare_exchange(A, ?SLOT(I), Id, ?MANAGER) of
        ok -> ok;
        _ -> not_held
    end.

%% An idle slot with a live worker, taken for caller Id (the queue is
%% empty).
claim_for(Id, #state{reg = #reg{atomics = A, workers = Ws}} = S) ->
    case claim_live(A, Ws, 1, Id) of
        {ok, _W, _I} = Ok -> count(?CHECKOUTS, S), Ok;
        none -> none
    end.

claim_live(A, Ws, I, Id) when I =< tuple_size(Ws) ->
    case element(I, Ws) of
        undefined ->
            claim_live(A, Ws, I + 1, Id);
        W ->
            case atomics:compare_exchange(A, ?SLOT(I), ?IDLE, Id) of
                ok -> {ok, W, I};
                _ -> claim_live(A, Ws, I + 1, Id)
            end
    end;
claim_live(_A, _Ws, _I, _Id) ->
    none.

%% Hand idle workers to the waiters, oldest first, while both last.
serve_waiters(S) ->
    case queue:peek(S#state.waiting) of
        {value, {From, Id, Timer}} ->
            case claim_for(Id, S) of
                {ok, W, I} ->
                    cancel(Timer),
                    gen_server:reply(From, {ok, W, I}),
                    serve_waiters(publish_waiting(S#state{waiting = queue:drop(S#state.waiting)}));
                none ->
                    S
            end;
        empty ->
            S
    end.

%% Slot I is the manager's and its worker ready (or gone): to the oldest
%% waiter, else idle.
make_ready(I, S) ->
    case worker(I, S) of
        undefined ->
            S;                            % the new worker will take it
        W ->
            #state{reg = #reg{atomics = A}} = S,
            case queue:out(S#state.waiting) of
                {{value, {From, Id, Timer}}, Waiting} ->
                    cancel(Timer),
                    atomics:put(A, ?SLOT(I), Id),
                    count(?CHECKOUTS, S),
                    gen_server:reply(From, {ok, W, I}),
                    publish_waiting(S#state{waiting = Waiting});
                {empty, _} ->
                    atomics:put(A, ?SLOT(I), ?IDLE),
                    S
            end
    end.

%% A caller died: the slots it held come back through a reset, and it
%% waits no more.
caller_down(Id, S) ->
    S1 = lists:foldl(fun(I, Acc) ->
                             case take_slot(I, Id, Acc) of
                                 ok -> start_reset(I, Acc);
                                 not_held -> Acc
                             end
                     end, S, lists:seq(1, S#state.size)),
    {Gone, Waiting} = lists:partition(fun({_, WId, _}) -> WId =:= Id end,
                                      queue:to_list(S1#state.waiting)),
    [cancel(Timer) || {_, _, Timer} <- Gone],
    publish_waiting(S1#state{waiting = queue:from_list(Waiting)}).

%% The lowest slot without a worker.
vacant_slot(#state{reg = #reg{workers = Ws}}) ->
    vacant_slot(Ws, 1).

vacant_slot(Ws, I) when I > tuple_size(Ws) -> none;
vacant_slot(Ws, I) when element(I, Ws) =:= undefined -> {ok, I};
vacant_slot(Ws, I) -> vacant_slot(Ws, I + 1).

%% Worker W takes slot I. The slot may be the manager's (ready it), idle
%% (released after its old worker died: waiters may take it) or still
%% held by the caller of the old worker (who gives it back).
fill(I, W, Mon, #state{reg = #reg{atomics = A, workers = Ws} = Reg} = S) ->
    Reg1 = Reg#reg{workers = setelement(I, Ws, W)},
    publish(Reg1),
    S1 = S#state{reg = Reg1, workers = maps:put(W, {Mon, I}, S#state.workers)},
    case atomics:get(A, ?SLOT(I)) of
        ?MANAGER -> make_ready(I, S1);
        _ -> serve_waiters(S1)
    end.

%% A worker died; its supervisor starts a new one, which registers. Its
%% slot, if idle, becomes the manager's until then.
worker_down(W, I, #state{reg = #reg{atomics = A, workers = Ws} = Reg} = S) ->
    Reg1 = Reg#reg{workers = setelement(I, Ws, undefined)},
    publish(Reg1),
    _ = atomics:compare_exchange(A, ?SLOT(I), ?IDLE, ?MANAGER),
    S1 = S#state{reg = Reg1, workers = maps:remove(W, S#state.workers)},
    case S1#state.spare of
        [{Spare, Mon} | Rest] -> fill(I, Spare, Mon, S1#state{spare = Rest});
        [] -> S1
    end.

start_reset(I, S) ->
    case worker(I, S) of
        undefined ->
            S;
        W ->
            ReqId = libsql_conn:send_request(W, reset, [], ?RESET_TIMEOUT, reset),
            S#state{resets = gen_server:reqids_add(ReqId, {I, W}, S#state.resets)}
    end.

reset_reply(Msg, S) ->
    case gen_server:check_response(Msg, S#state.resets, true) of
        no_request -> {noreply, S};
        no_reply -> {noreply, S};
        {Result, {I, W}, Resets} ->
            S1 = S#state{resets = Resets},
            case {Result, worker(I, S1) =:= W} of
                {{reply, {reply, Bin}}, true} ->
                    case libsql_proto:decode_reply(Bin) of
                        {ok, ok} -> {noreply, make_ready(I, S1)};
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

cancel(undefined) -> ok;
cancel(Timer) -> _ = erlang:cancel_timer(Timer), ok.

%% SQLite's function names are ASCII case-insensitive.
fun_key(Name, Arity) ->
    {<< <<(if C >= $A, C =< $Z -> C + 32; true -> C end)>> || <<C>> <= Name >>, Arity}.
