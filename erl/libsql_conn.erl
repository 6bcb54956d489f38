%% @private
%% @doc One database connection: a gen_server that owns one port program
%% (priv/libsql_port), hence one OS process and one SQLite connection.
%%
%% It never waits for the port inside handle_call: each request gets a
%% ref, the caller's From is kept in `pending', and the reply is sent from
%% handle_info when the port answers. Replies are handed to the caller
%% undecoded (the caller runs binary_to_term), so large results never load
%% this process. Each call has a deadline enforced here: on expiry the
%% caller gets `timeout', the port is told to cancel that request, and its
%% late answer is dropped by ref. A port that does not even answer the
%% cancel is considered hung: it is killed and this process exits.
-module(libsql_conn).
-behaviour(gen_server).

-include("libsql_protocol.hrl").

-export([start_link/2, start/2, request/4, request/5, request_secret/4, send_request/5,
         send/5, await/1, close/2, os_pid/1, stats/1, define_function/3, delete_function/3,
         set_authorizer/3, load_extension/3, write_frame/2, create_lane_registry/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2,
         format_status/2]).

-define(CALL_MARGIN, 5000).
%% libsql_callback's twin: no message goes to a caller within this many ms
%% of when it gives up, so none can arrive after it stopped waiting.
-define(REPLY_MARGIN, 1000).
-define(MAX_TIMEOUT, 16#ffffffff).
-define(DEFAULT_TIMEOUT, 15000).
%% port/open_options.h's default of sync_timeout.
-define(DEFAULT_SYNC_TIMEOUT, 60000).
-define(DEFAULT_CANCEL_TIMEOUT, 2000).
%% How long the port busy-polls for the next request after an answer, while
%% requests keep coming that quickly (port/frame_io.h): a sleeping port
%% program takes longer to wake than a whole round trip through the pipe.
-define(DEFAULT_SPIN_US, 50).
%% Request refs from here up are the NIF lane's (port/nif/libsql_nif.c);
%% ours stay below.
-define(LANE_REFS, 16#40000000).
%% The lanes of transport nif connections: {Conn, Nif, SpinUs, Timeout,
%% MaxFrame}, read by callers (request/5) without asking the connection.
-define(LANES, libsql_lanes).
-define(LANES_USED, {libsql_conn, lanes_used}).

-record(pending, {
    from :: from() | internal,             % who waits; internal: our own cancel
    timer :: reference() | undefined,      % our own cancel's timer
    deadline :: integer() | undefined,     % when a caller's request times out
                                           % (ms, monotonic; in `deadlines')
    sent :: integer(),                     % monotonic time it went to the port
    kind :: kind(),                        % what to do with the reply
    callback :: {reference(), binary()} | undefined
                                           % once it called back: the caller's
                                           % monitor and the last callback frame
}).

%% request: hand the reply to the caller; close: then stop; cancel: our
%% own cancel; {cursor_open, Owner}: watch Owner and close the cursor when
%% it dies; {cursor_close, Id}: forget it; reset: forget every cursor;
%% orphan_cursor: a cursor_open whose caller gave up (close it on reply).
-type kind() :: request | close | cancel | reset | orphan_cursor
              | {cursor_open, pid()} | {cursor_close, integer()}
              | {define, integer(), libsql_callback:fun_spec()}
              | {subscribed, reference()}
              | {authorizer, function() | undefined}
              | {undefine, binary(), integer()}.

%% Who waits for a reply: a libsql_callback caller, {Pid, Ref, GiveUp} (it
%% answers callbacks; it stops waiting at GiveUp, monotonic ms, and nothing
%% is sent to it from ?REPLY_MARGIN ms before that), or a gen_server caller.
-type from() :: {pid(), reference(), integer() | infinity} | gen_server:from().

-record(state, {
    port :: port() | undefined,            % the port program
    src :: port() | libsql_nif:handle() | undefined,
                                           % where its frames come from and go
                                           % to: the port, or the NIF's pipes
                                           % (transport nif)
    nif :: libsql_nif:handle() | undefined, % transport nif: the pipes
    nif_flags = {false, false} :: {boolean(), boolean()},
                                           % what the NIF was last told:
                                           % {we wait for frames, lane allowed}
    os_pid :: integer() | undefined,       % its OS pid (for kill on hang)
    owner_mon :: reference() | undefined,  % monitor of the opener; none in pools
    next_ref = 1 :: pos_integer(),         % next request ref (wraps at 2^31-1)
    pending = #{} :: #{pos_integer() => #pending{}},  % requests in the port
    max_frame :: pos_integer(),            % largest request frame the port accepts
    cancel_timeout :: pos_integer(),       % how long a cancel may go unanswered
    timeout :: timeout(),                  % deadline of calls that give none
    deadlines = gb_sets:new() :: gb_sets:set({integer(), pos_integer()}),
                                           % {Deadline, Ref} of every request that
                                           % has one: one timer for them all
    tick :: {reference(), integer()} | undefined,
                                           % that timer, and when it fires
    cursors = #{} :: #{integer() => reference()},   % open cursors -> owner monitor
    port_time = 0 :: non_neg_integer(),    % native time spent in the port, summed
    native_ms = 1 :: pos_integer(),        % native time units in a millisecond
    mode = local :: atom(),                % local | remote | replica, once open
    subs = #{} :: libsql_subs:subs(),      % subscribers to our events
    funs = #{} :: libsql_callback:funs(),  % Erlang SQL functions, the authorizer fun
    capture = {false, false} :: {boolean(), boolean()},  % the port captures: row
                                           % changes, commits (port/cdc.h)
    target = <<>> :: binary()              % path or URL, for error messages (no secrets)
}).

%% ---- API used by libsql ------------------------------------------------

%% @doc Start a connection process and open its database. Owner: the
%% process whose exit closes it, or `none' (pool workers: their
%% supervisor decides). Opts: port_opts (validated by libsql), timeout,
%% max_frame, port_executable, cancel_timeout, pool.
-spec start_link(pid() | none, map()) -> {ok, pid()} | {error, term()}.
start_link(Owner, Opts) ->
    gen_server:start_link(?MODULE, {Owner, Opts}, []).

%% @doc As start_link/2, without a link: a connection no supervisor owns
%% (the probe of a starting pool).
-spec start(pid() | none, map()) -> {ok, pid()} | {error, term()}.
start(Owner, Opts) ->
    gen_server:start(?MODULE, {Owner, Opts}, []).

-type call_timeout() :: timeout() | default.  % default: the connection's own

%% @doc Close the database and stop the process.
-spec close(pid(), call_timeout()) -> ok | {error, libsql:error()}.
close(Conn, Timeout) ->
    case call(Conn, {close, Timeout}, Timeout) of
        {reply, Bin} ->
            case libsql_proto:decode_reply(Bin) of
                {ok, ok} -> ok;
                {error, _} = E -> E
            end;
        {error, #{code := closed}} -> ok;
        {error, _} = E -> E
    end.

%% @doc As request/4 for a command whose arguments hold a secret (a key):
%% Args is a fun giving them, called in the connection process to build the
%% frame, so the secret is in no message a crash report could print.
-spec request_secret(pid(), atom(), fun(() -> [term()]), call_timeout()) ->
          {ok, term()} | {error, libsql:error()}.
request_secret(Conn, Cmd, Args, Timeout) when is_function(Args, 0) ->
    case call(Conn, {request_secret, Cmd, Args, Timeout}, Timeout) of
        {reply, Bin} -> libsql_proto:decode_reply(Bin);
        {error, _} = E -> E
    end.

%% @doc Run one command on the port and return its decoded result.
-spec request(pid(), atom(), [term()], call_timeout()) -> {ok, term()} | {error, libsql:error()}.
request(Conn, Cmd, Args, Timeout) ->
    request(Conn, Cmd, Args, Timeout, request).

-spec request(pid(), atom(), [term()], call_timeout(), kind()) ->
          {ok, term()} | {error, libsql:error()}.
request(Conn, Cmd, Args, Timeout, Kind) ->
    {Arity, Body} = libsql_proto:encode_body(Cmd, Args),
    case Kind =:= request andalso Arity < 256 andalso lane(Conn) of
        {_, _, _, _} = Lane -> lane_request(Conn, Lane, Arity, Body, Timeout);
        _ -> request_call(Conn, Arity, Body, Timeout, Kind)
    end.

request_call(Conn, Arity, Body, Timeout, Kind) ->
    case call(Conn, {request, Arity, Body, Timeout, Kind}, Timeout) of
        {reply, Bin} -> libsql_proto:decode_reply(Bin);
        already_closed -> {ok, already_closed};
        {error, _} = E -> E
    end.

%% @doc Send a request without waiting, as gen_server:send_request/2 does
%% (the pool collects its resets with gen_server:check_response/3). The
%% request runs no callbacks of the caller's: they are refused.
-spec send_request(pid(), atom(), [term()], call_timeout(), kind()) -> term().
send_request(Conn, Cmd, Args, Timeout, Kind) ->
    {Arity, Body} = libsql_proto:encode_body(Cmd, Args),
    gen_server:send_request(Conn, {request, Arity, Body, Timeout, Kind}).

%% @doc Send a request without waiting; collect the answer with await/1,
%% which answers the request's callbacks. Lets a caller keep requests in
%% flight while it works (fold keeps two).
-spec send(pid(), atom(), [term()], call_timeout(), kind()) -> libsql_callback:req_id().
send(Conn, Cmd, Args, Timeout, Kind) ->
    {Arity, Body} = libsql_proto:encode_body(Cmd, Args),
    libsql_callback:send(Conn, {request, Arity, Body, Timeout, Kind}, backstop(Timeout)).

%% @doc The decoded answer to a send/5, within that call's timeout.
-spec await(libsql_callback:req_id()) -> {ok, term()} | {error, libsql:error()}.
await(ReqId) ->
    case libsql_callback:await(ReqId) of
        {reply, {reply, Bin}} -> libsql_proto:decode_reply(Bin);
        {reply, {error, _} = E} -> E;
        timeout -> {error, libsql_proto:err(timeout, <<"the connection process did not answer">>)};
        {down, _} -> {error, libsql_proto:err(closed, <<"the connection is closed">>)}
    end.

%% @doc Define an Erlang SQL function on this connection (Id: its number,
%% the same on every worker of a pool) and wait until the port has it.
-spec define_function(pid(), {integer(), libsql_callback:fun_spec(), [atom()]},
                      call_timeout()) -> ok | {error, libsql:error()}.
define_function(Conn, {_Id, _Spec, _Flags} = Def, Timeout) ->
    case call(Conn, {define, Def, Timeout}, Timeout) of
        {reply, Bin} -> ok_or_error(libsql_proto:decode_reply(Bin));
        {error, _} = E -> E
    end.

%% @doc Remove the function Name of Arity (ok also when there is none).
-spec delete_function(pid(), {binary(), integer()}, call_timeout()) ->
          ok | {error, libsql:error()}.
delete_function(Conn, {Name, Arity}, Timeout) ->
    case call(Conn, {undefine, Name, Arity, Timeout}, Timeout) of
        {reply, Bin} -> ok_or_error(libsql_proto:decode_reply(Bin));
        {error, _} = E -> E
    end.

%% @doc Authorize statements by Rules (and Fun for what no rule decides,
%% or undefined) from now on.
-spec set_authorizer(pid(), {list(), function() | undefined}, call_timeout()) ->
          ok | {error, libsql:error()}.
set_authorizer(Conn, {Rules, Fun}, Timeout) ->
    case call(Conn, {set_authorizer, Rules, Fun, Timeout}, Timeout) of
        {reply, Bin} -> ok_or_error(libsql_proto:decode_reply(Bin));
        {error, _} = E -> E
    end.

%% @doc Load an extension the connection was opened to allow.
-spec load_extension(pid(), {binary(), binary() | undefined}, call_timeout()) ->
          ok | {error, libsql:error()}.
load_extension(Conn, {Path, Entry}, Timeout) ->
    ok_or_error(request(Conn, load_extension, [Path, Entry], Timeout)).

ok_or_error({ok, _}) -> ok;
ok_or_error({error, _} = E) -> E.

%% @doc What the connection process measures: port_time_us (time requests
%% spent between leaving this process and their answer), in_flight.
-spec stats(pid()) -> {ok, map()} | {error, libsql:error()}.
stats(Conn) ->
    call(Conn, stats, 5000).

%% @doc The OS pid of the port program (for tests and operators).
-spec os_pid(pid()) -> {ok, integer()} | {error, libsql:error()}.
os_pid(Conn) ->
    call(Conn, os_pid, 5000).

%% The deadline is enforced by the connection process; the call's own
%% timeout is only a backstop (the call also returns if it dies). Callbacks
%% of the request run in the caller meanwhile (libsql_callback).
call(Conn, Msg, Timeout) ->
    case libsql_callback:call(Conn, Msg, backstop(Timeout)) of
        {reply, Reply} -> Reply;
        timeout -> {error, libsql_proto:err(timeout, <<"the connection process did not answer">>)};
        {down, _} -> {error, libsql_proto:err(closed, <<"the connection is closed">>)}
    end.

%% How long a caller waits for the connection process itself: the call's
%% deadline plus a margin, or forever when that is past what a receive
%% can wait (the connection process's own deadline still applies).
backstop(T) when is_integer(T), T >= 0, T =< ?MAX_TIMEOUT - ?CALL_MARGIN -> T + ?CALL_MARGIN;
backstop(_) -> infinity.

%% ---- gen_server ----------------------------------------------------------

%% The database is opened here, before start_link returns: a connection
%% that exists is open, a supervisor restarting a worker reopens it, and a
%% database that cannot be opened fails the start with its error (as
%% {shutdown, {open_failed, Error}}, so no crash report is written).
init({Owner, Opts}) ->
    process_flag(trap_exit, true),
    Exe = maps:get(port_executable, Opts, default_executable()),
    MaxFrame = maps:get(max_frame, Opts, ?LSQ_DEFAULT_MAX_FRAME),
    Timeout = maps:get(timeout, Opts, ?DEFAULT_TIMEOUT),
    Spin = maps:get(spin_us, Opts, ?DEFAULT_SPIN_US),
    Transport = maps:get(transport, Opts, default_transport()),
    try open_port({spawn_executable, Exe},
                  [{packet, 4}, binary, exit_status, use_stdio,
                   {args, ["--max-frame", integer_to_list(MaxFrame),
                           "--spin-us", integer_to_list(Spin)] ++
                        [A || A <- ["--nif-pipes"], Transport =:= nif]}]) of
        Port ->
            {os_pid, OsPid} = erlang:port_info(Port, os_pid),
            S = #state{port = Port, src = Port, os_pid = OsPid,
                       native_ms = erlang:convert_time_unit(1, millisecond, native),
                       owner_mon = case Owner of
                                       none -> undefined;
                                       _ -> erlang:monitor(process, Owner)
                                   end,
                       max_frame = MaxFrame,
                       cancel_timeout = maps:get(cancel_timeout, Opts, ?DEFAULT_CANCEL_TIMEOUT),
                       timeout = Timeout,
                       target = target(Opts)},
            PortOpts = maps:get(port_opts, Opts, []),
            Deadline = open_deadline(Timeout, PortOpts),
            case attach(Transport, S) of
                {ok, S0} ->
                    case open_db(S0, PortOpts, Deadline, maps:get(extensions, Opts, none)) of
                        {ok, #{mode := Mode}} ->
                            S1 = S0#state{mode = Mode, next_ref = 3},
                            case maps:get(pool, Opts, undefined) of
                                undefined -> ok;
                                Pool -> libsql_pool:worker_started(Pool, self())
                            end,
                            lane_register(S1, Spin),
                            {ok, nif_flags(S1)};
                        {error, Error} ->
                            close_nif(S0),
                            catch erlang:port_close(Port),
                            {stop, {shutdown, {open_failed, Error}}}
                    end;
                {error, Error} ->
                    catch erlang:port_close(Port),
                    {stop, {shutdown, {open_failed, Error}}}
            end
    catch
        error:Reason ->
            {stop, {shutdown, {open_failed,
                               libsql_proto:err(port_exited,
                                                io_lib:format("cannot start ~ts: ~p",
                                                              [Exe, Reason]))}}}
    end.

%% transport nif: the program started with --nif-pipes says first which
%% pipes carry its frames; the NIF opens them and they carry everything
%% from the open on (the port is left with the program's life: its exit
%% status, os_pid, close).
attach(port, S) ->
    {ok, S};
attach(nif, #state{port = Port} = S) ->
    receive
        {Port, {data, Bin}} ->
            case catch binary_to_term(Bin) of
                {0, nif_pipes, {Pid, ReqFd, RespFd}} ->
                    %% Pid: the program's, which need not be OsPid (a
                    %% port_executable may be a script that starts it)
                    case catch libsql_nif:attach(Pid, ReqFd, RespFd) of
                        {ok, Nif} ->
                            ok = libsql_nif:want(Nif, true),
                            {ok, S#state{src = Nif, nif = Nif, nif_flags = {true, false}}};
                        {error, Why} ->
                            {error, libsql_proto:err(port_exited,
                                                     io_lib:format("cannot open the port program's "
                                                                   "pipes: ~0tp", [Why]))};
                        {'EXIT', {{not_loaded, _}, _}} ->
                            {error, libsql_proto:err(not_supported,
                                                     <<"transport nif: priv/libsql_nif.so is not "
                                                       "loaded">>)}
                    end;
                _ ->
                    {error, libsql_proto:err(protocol, <<"the port program did not say which "
                                                        "pipes it uses (transport nif)">>)}
            end;
        {Port, {exit_status, Status}} ->
            {error, libsql_proto:err(port_exited,
                                     io_lib:format("the port program exited (status ~b) "
                                                   "while starting", [Status]),
                                     #{exit_status => Status})}
    after ?DEFAULT_TIMEOUT ->
        {error, libsql_proto:err(timeout, <<"the port program did not start in time">>)}
    end.

%% Opening is not a call: it gets the calls' deadline, but never less than
%% the default one, so that a connection meant for short calls (timeout
%% 0..15000) still has the time to open.
%% An embedded replica's open may bootstrap the whole database and then
%% pull once: it gets two sync timeouts more.
open_deadline(infinity, _) -> infinity;
open_deadline(T, PortOpts) ->
    case lists:keymember(url, 1, PortOpts) andalso lists:keymember(path, 1, PortOpts) of
        true ->
            Sync = proplists:get_value(sync_timeout, PortOpts, ?DEFAULT_SYNC_TIMEOUT),
            max(T, ?DEFAULT_TIMEOUT) + 2 * Sync;
        false ->
            max(T, ?DEFAULT_TIMEOUT)
    end.

%% Ref 1 is the open request, ref 2 the extensions it may load (a list
%% the port takes once); nothing else is in flight yet.
open_db(#state{src = Src} = S, PortOpts, Timeout, Extensions) ->
    {Arity, Body} = libsql_proto:encode_body(open, [libsql_secret:reveal_port_opts(PortOpts)]),
    _ = port_write(Src, libsql_proto:frame(1, Arity, Body)),
    case await_open(S, Timeout) of
        {ok, _} = Open when Extensions =:= none -> Open;
        {ok, _} = Open ->
            {A, B} = libsql_proto:encode_body(allow_extensions, [Extensions]),
            _ = port_write(Src, libsql_proto:frame(2, A, B)),
            case await_open(S, Timeout) of
                {ok, _} -> Open;
                {error, _} = E -> E
            end;
        {error, _} = E -> E
    end.

await_open(#state{port = Port, src = Src, nif = Nif, target = Target} = S, Timeout) ->
    receive
        {select, Nif, undefined, ready_input} when Nif =/= undefined ->
            _ = libsql_nif:pump(Nif),
            await_open(S, Timeout);
        {Src, {data, <<?LSQ_REPLY_HEAD, 0:32, _/binary>> = Bin}} ->
            %% An event before the answer (SQLite logging why a file does
            %% not open): handled as any, and the answer still awaited.
            open_event(Bin, Target),
            await_open(S, Timeout);
        {Src, {data, Bin}} ->
            case libsql_proto:decode_reply(Bin) of
                {ok, Info} when is_map(Info); Info =:= ok -> {ok, Info};
                {error, _} = E -> E;
                {ok, Other} -> {error, libsql_proto:err(protocol, <<"unexpected open reply">>,
                                                        #{reply => Other})}
            end;
        {Port, {exit_status, Status}} ->
            {error, libsql_proto:err(port_exited,
                                     io_lib:format("the port program exited (status ~b) "
                                                   "while opening", [Status]),
                                     #{exit_status => Status})};
        {'EXIT', Port, Why} ->
            {error, libsql_proto:err(port_exited,
                                     io_lib:format("the port program died while opening (~0tp)",
                                                   [Why]))}
    after Timeout ->
        {error, libsql_proto:err(timeout, <<"opening the database timed out">>)}
    end.

%% Every callback ends by telling the NIF (transport nif) what changed:
%% whether we wait for frames, whether callers may take the lane.
handle_call(Msg, From, S) -> nif_sync(call_in(Msg, From, S)).

handle_cast(Msg, S) -> nif_sync(cast_in(Msg, S)).

handle_info(Msg, S) -> nif_sync(info_in(Msg, S)).

call_in({request, _Arity, _Body, _Timeout, {cursor_close, Id}}, _From, S)
  when not is_map_key(Id, S#state.cursors) ->
    %% Not open: closed before, by its owner's exit or by a reset. Said
    %% apart so that the caller gives a pool connection back only once.
    {reply, already_closed, S};
call_in({request, Arity, Body, Timeout, Kind}, From, S) ->
    case check_request(Body, Timeout, S) of
        ok -> {noreply, send(Arity, Body, From, Timeout, Kind, forget_cursor(Kind, S))};
        {error, _} = E -> {reply, E, S}
    end;
call_in({lane_lost, Timeout}, From, S) ->
    %% Nothing to send: the caller waits with our requests in flight for
    %% the program's exit status (or its deadline).
    {noreply, park(From, Timeout, S)};
call_in({request_secret, Cmd, Args, Timeout}, From, S) ->
    {Arity, Body} = libsql_proto:encode_body(Cmd, Args()),
    call_in({request, Arity, Body, Timeout, request}, From, S);
call_in({close, Timeout}, From, S) ->
    case check_request([], Timeout, S) of
        ok ->
            {Arity, Body} = libsql_proto:encode_body(close, []),
            {noreply, send(Arity, Body, From, Timeout, close, S)};
        {error, _} = E ->
            {reply, E, S}
    end;
call_in({define, {Id, {Name, _Kind, Arity, _} = Spec, Flags}, Timeout}, From, S) ->
    {A, Body} = libsql_proto:encode_body(create_function, [Name, Arity, Id, Flags]),
    {noreply, send(A, Body, From, Timeout, {define, Id, Spec}, S)};
call_in({set_authorizer, Rules, Fun, Timeout}, From, S) ->
    {A, Body} = libsql_proto:encode_body(set_authorizer, [Rules, Fun =/= undefined]),
    {noreply, send(A, Body, From, Timeout, {authorizer, Fun}, S)};
call_in({undefine, Name, Arity, Timeout}, From, S) ->
    {A, Body} = libsql_proto:encode_body(delete_function, [Name, Arity]),
    {noreply, send(A, Body, From, Timeout, {undefine, Name, Arity}, S)};
call_in(stats, _From, S) ->
    {LaneBusy, LaneNs} = case S#state.nif of
                             undefined -> {0, 0};
                             Nif -> libsql_nif:stats(Nif)
                         end,
    {reply, {ok, #{port_time_us => erlang:convert_time_unit(S#state.port_time, native,
                                                             microsecond) + LaneNs div 1000,
                   in_flight => maps:size(S#state.pending) + LaneBusy}}, S};
call_in({subscribe, sync, Pid}, _From, #state{mode = replica} = S) ->
    {Ref, Subs} = libsql_subs:add(sync, Pid, S#state.subs),
    {reply, {ok, Ref}, S#state{subs = Subs}};
call_in({subscribe, Kind, Pid}, From, #state{mode = local} = S)
  when Kind =:= updates; Kind =:= commits ->
    {Ref, Subs} = libsql_subs:add(Kind, Pid, S#state.subs),
    case capture(S#state{subs = Subs}, From, {subscribed, Ref}) of
        {sent, S1} -> {noreply, S1};
        {same, S1} -> {reply, {ok, Ref}, S1}
    end;
call_in({subscribe, Kind, _Pid}, _From, S) when Kind =:= updates; Kind =:= commits ->
    Why = case S#state.mode of
              replica -> "an embedded replica's file changes by syncs, not by its own SQL "
                         "(subscribe to sync)";
              Mode -> io_lib:format("a ~p connection's SQL runs on the server: its changes "
                                    "cannot be seen here", [Mode])
          end,
    {reply, {error, libsql_proto:err(not_supported, Why)}, S};
call_in({subscribe, sync, _Pid}, _From, S) ->
    {reply, {error, libsql_proto:err(not_supported,
                                     io_lib:format("only an embedded replica syncs; this "
                                                   "connection is ~p", [S#state.mode]))}, S};
call_in({unsubscribe, Ref}, _From, S) ->
    {reply, ok, recapture(S#state{subs = libsql_subs:remove(Ref, S#state.subs)})};
call_in(os_pid, _From, S) ->
    {reply, {ok, S#state.os_pid}, S};
call_in(_Other, _From, S) ->
    {reply, {error, libsql_proto:err(bad_argument, <<"unknown request">>)}, S}.

%% A pool's subscription, on every worker under the pool's reference.
cast_in({subscribe_as, Ref, sync, Pid}, #state{mode = replica} = S) ->
    {noreply, S#state{subs = libsql_subs:add(Ref, sync, Pid, S#state.subs)}};
cast_in({subscribe_as, Ref, Kind, Pid}, #state{mode = local} = S)
  when Kind =:= updates; Kind =:= commits ->
    {noreply, recapture(S#state{subs = libsql_subs:add(Ref, Kind, Pid, S#state.subs)})};
%% A pool's function, on every worker under the pool's number.
cast_in({define_as, {Id, {Name, _Kind, Arity, _} = Spec, Flags}}, S) ->
    {A, Body} = libsql_proto:encode_body(create_function, [Name, Arity, Id, Flags]),
    {noreply, send(A, Body, internal, default, {define, Id, Spec}, S)};
cast_in({authorize_as, Rules, Fun}, S) ->
    {A, Body} = libsql_proto:encode_body(set_authorizer, [Rules, Fun =/= undefined]),
    {noreply, send(A, Body, internal, default, {authorizer, Fun}, S)};
cast_in({load_extension_as, Path, Entry}, S) ->
    {A, Body} = libsql_proto:encode_body(load_extension, [Path, Entry]),
    {noreply, send(A, Body, internal, default, cancel, S)};
cast_in({undefine_as, Name, Arity}, S) ->
    {A, Body} = libsql_proto:encode_body(delete_function, [Name, Arity]),
    {noreply, send(A, Body, internal, default, {undefine, Name, Arity}, S)};
cast_in({unsubscribe, Ref}, S) ->
    {noreply, recapture(S#state{subs = libsql_subs:remove(Ref, S#state.subs)})};
cast_in(_Msg, S) ->
    {noreply, S}.

info_in({Port, {data, <<?LSQ_REPLY_HEAD, Ref:32, 119, 8, "callback", _/binary>> = Bin}},
            #state{src = Port} = S) ->
    {noreply, callback(Ref, Bin, S)};
info_in({Port, {data, Bin}}, #state{src = Port} = S) ->
    case libsql_proto:reply_ref(Bin) of
        {ok, 0} -> event(Bin, S);
        {ok, Ref} -> reply(Ref, Bin, S);
        error ->
            logger:warning(#{what => libsql_unexpected_frame, size => byte_size(Bin)},
                           #{domain => [libsql]}),
            {noreply, S}
    end;
info_in({select, Nif, undefined, ready_input}, #state{nif = Nif} = S) when Nif =/= undefined ->
    %% transport nif: frames wait in the pipe; they come as {Nif, {data, _}}
    _ = libsql_nif:pump(Nif),
    {noreply, S};
info_in({Nif, {lane_down, Ref}}, #state{nif = Nif} = S) when Nif =/= undefined ->
    %% A caller died while it waited on the lane: the pipe is ours again,
    %% and its request is cancelled (the answer is dropped by ref).
    ok = libsql_nif:lane_release(Nif),
    {noreply, send_cancel(Ref, S)};
info_in({nif_write_failed, Nif}, #state{nif = Nif} = S) when Nif =/= undefined ->
    port_died(epipe, S);
info_in({lane_timeout, Ref}, #state{nif = Nif} = S) when Nif =/= undefined ->
    %% A lane caller's deadline passed: as for a request of ours.
    {noreply, send_cancel(Ref, S)};
info_in({libsql_call, From, Msg}, S) ->
    %% A call made by libsql_callback: handled as gen_server:call's.
    case call_in(Msg, From, S) of
        {reply, Reply, S1} ->
            reply_to(From, Reply),
            {noreply, S1};
        Other ->
            Other
    end;
info_in({timeout, T, deadline_tick}, #state{tick = {T, _}} = S) ->
    expire(erlang:monotonic_time(millisecond), S#state{tick = undefined});
info_in({timeout, _Stale, deadline_tick}, S) ->
    {noreply, S};
info_in({deadline, Ref}, S) ->
    case maps:take(Ref, S#state.pending) of
        {#pending{from = From, kind = Kind} = P, Pending} ->
            reply_to(From, {error, deadline_error(P, S)}),
            S1 = drop_callback(P, drop_deadline(P, Ref, S#state{pending = Pending})),
            case Kind of
                close -> stop_port(S1, normal);
                {cursor_open, _} ->
                    %% Keep listening: if the cursor opens after all, close it.
                    P = #pending{from = internal, kind = orphan_cursor,
                                 sent = erlang:monotonic_time()},
                    {noreply, send_cancel(Ref, S1#state{pending = Pending#{Ref => P}})};
                _ -> {noreply, send_cancel(Ref, S1)}
            end;
        error ->
            {noreply, S}
    end;
info_in({cancel_deadline, Ref}, S) ->
    case maps:is_key(Ref, S#state.pending) of
        true ->
            %% The port did not answer a control command, which its reading
            %% thread handles at once: it is hung (or stopped). Kill it.
            logger:error(#{what => libsql_port_hung, os_pid => S#state.os_pid},
                         #{domain => [libsql]}),
            kill_os_process(S#state.os_pid),
            fail_all(port_exited, <<"the port program stopped answering and was killed">>,
                     #{}, S),
            {stop, {shutdown, port_hung}, S#state{pending = #{}, port = undefined}};
        false ->
            {noreply, S}
    end;
info_in({Port, {exit_status, Status}}, #state{port = Port} = S) ->
    close_nif(S),
    Reason = libsql_proto:exit_reason(Status),
    fail_all(port_exited, io_lib:format("the port program exited (status ~b)", [Status]),
             #{exit_status => Status, reason => Reason}, S),
    ExitReason = case Reason of
                     normal -> normal;
                     _ -> {port_exited, Reason}
                 end,
    {stop, ExitReason, S#state{pending = #{}, port = undefined}};
info_in({'EXIT', Port, Why}, #state{port = Port} = S) ->
    %% Normally {Port, {exit_status, _}} came first and we are gone. A port
    %% that died while we wrote to it only says so here (epipe) and never
    %% sends its exit status: it is just as dead.
    port_died(Why, S);
info_in({'DOWN', Mon, process, _, _}, #state{owner_mon = Mon} = S) ->
    stop_port(S, normal);
info_in({'DOWN', Mon, process, _, _} = Down, S) ->
    case [Ref || {Ref, #pending{callback = {M, _}}} <- maps:to_list(S#state.pending), M =:= Mon] of
        [Ref | _] ->
            %% A caller died while its request called back: nobody will
            %% answer, so the request goes as if its deadline had passed.
            info_in({deadline, Ref}, S);
        [] ->
            subscriber_down(Down, S)
    end;
info_in({'EXIT', _From, Reason}, S) ->
    %% Our supervisor (or a linked caller) is going away.
    stop_port(S, Reason);
info_in(_Other, S) ->
    {noreply, S}.

subscriber_down({'DOWN', Mon, process, _, _}, S) ->
    case libsql_subs:down(Mon, S#state.subs) of
        {true, Subs} -> {noreply, recapture(S#state{subs = Subs})};
        false -> cursor_owner_down(Mon, S)
    end.

%% The owner of a cursor died: close the cursor.
cursor_owner_down(Mon, S) ->
    case [Id || {Id, M} <- maps:to_list(S#state.cursors), M =:= Mon] of
        [Id | _] -> {noreply, send_internal(cursor_close, [Id], S#state{
                                                cursors = maps:remove(Id, S#state.cursors)})};
        [] -> {noreply, S}
    end.

terminate(_Reason, #state{port = Port, subs = Subs} = S) when is_port(Port) ->
    libsql_subs:remove_all(Subs),
    close_nif(S),
    %% Closing stdin makes the port close its database and exit.
    catch erlang:port_close(Port),
    ok;
terminate(_Reason, #state{subs = Subs} = S) ->
    libsql_subs:remove_all(Subs),
    close_nif(S),
    ok.

%% Keep sys:get_state and crash reports free of secrets and huge queues.
format_status(_Opt, [_PDict, #state{} = S]) ->
    [{data, [{"State", #{mode => S#state.mode, target => S#state.target,
                         os_pid => S#state.os_pid,
                         pending => maps:size(S#state.pending)}}]}];
format_status(_Opt, [_PDict, Other]) ->
    [{data, [{"State", Other}]}].

%% ---- internals -----------------------------------------------------------

%% A request the port can take and a deadline a timer can be armed with.
%% libsql checks every option before it calls; this keeps a bad deadline
%% from any caller from ever reaching send_after/3 in this process.
check_request(Body, Timeout, S) ->
    case Timeout =:= default orelse libsql_opts:is_timeout(Timeout) of
        false ->
            {error, libsql_proto:err(bad_argument, <<"timeout must be infinity or an integer "
                                                     "0..4294967295 (ms)">>,
                                     #{option => timeout})};
        true ->
            case iolist_size(Body) + 8 > S#state.max_frame of
                true ->
                    {error, libsql_proto:err(
                              bad_argument,
                              io_lib:format("request of ~b bytes is over the ~b-byte frame "
                                            "limit (the max_frame option)",
                                            [iolist_size(Body), S#state.max_frame]))};
                false ->
                    ok
            end
    end.

%% Write to the port. A port that is already dead raises badarg; its
%% 'EXIT' message is on its way and fails every waiting caller.
port_write(Port, Frame) when is_port(Port) ->
    try erlang:port_command(Port, Frame)
    catch error:badarg -> false
    end;
port_write(Nif, Frame) ->
    %% transport nif: a closed pipe means the program is gone; its exit
    %% status comes from the port and fails every waiting caller
    libsql_nif:send(Nif, Frame) =:= ok.

%% @doc Write a whole frame to a connection's program, from any process
%% (libsql_callback answers the port's callbacks so): Dest is what the
%% callback context names, the port or the NIF's pipes. false when the
%% program is gone.
-spec write_frame(port() | libsql_nif:handle(), iodata()) -> boolean().
write_frame(Dest, Frame) ->
    port_write(Dest, Frame).

%% Our own writes. With the port a write to a dead program comes back as
%% {'EXIT', Port, epipe}; with the NIF's pipes we say so ourselves, so the
%% connection fails its callers at once rather than when the exit status
%% comes (which a wrapper script can delay).
out(Dest, Frame) ->
    case port_write(Dest, Frame) of
        false when not is_port(Dest) -> self() ! {nif_write_failed, Dest}, ok;
        _ -> ok
    end.

port_died(Why, S) ->
    fail_all(port_exited, io_lib:format("the port program died (~0tp)", [Why]),
             #{reason => Why}, S),
    {stop, {port_exited, Why}, S#state{pending = #{}, port = undefined}}.

send(Arity, Body, From, Timeout0, Kind, #state{src = Port, next_ref = Ref} = S) ->
    ok = out(Port, libsql_proto:frame(Ref, Arity, Body)),
    pend(From, Timeout0, Kind, S).

%% A caller waiting under a ref of ours that was never sent (lane_lost).
park(From, Timeout, S) ->
    pend(From, Timeout, request, S).

pend(From, Timeout0, Kind, #state{next_ref = Ref} = S) ->
    Timeout = case Timeout0 of default -> S#state.timeout; _ -> Timeout0 end,
    Sent = erlang:monotonic_time(),
    P = #pending{from = From, kind = Kind, sent = Sent},
    S1 = S#state{next_ref = next_ref(Ref)},
    case Timeout of
        infinity ->
            S1#state{pending = maps:put(Ref, P, S#state.pending)};
        _ ->
            Now = ms(Sent, S),
            D = Now + Timeout,
            arm_tick(D, Now, S1#state{pending = maps:put(Ref, P#pending{deadline = D},
                                                         S#state.pending),
                                      deadlines = gb_sets:add({D, Ref}, S#state.deadlines)})
    end.

%% ---- deadlines: one timer per connection ------------------------------------------
%%
%% Every request with a deadline is in `deadlines'; one timer is armed for
%% the earliest. An answer only takes its entry out (the timer stays: in
%% a stream of calls with the same timeout the earliest deadline is always
%% the oldest, so the timer is set about once per timeout, not per call).
%% When it fires, what is due times out and the timer is set for the next.

arm_tick(D, _Now, #state{tick = {_, At}} = S) when At =< D ->
    S;
arm_tick(D, Now, #state{tick = Tick} = S) ->
    _ = case Tick of
            {T, _} -> erlang:cancel_timer(T, [{async, true}, {info, false}]);
            undefined -> ok
        end,
    S#state{tick = {erlang:start_timer(max(0, D - Now), self(), deadline_tick), D}}.

drop_deadline(#pending{deadline = undefined}, _Ref, S) ->
    S;
drop_deadline(#pending{deadline = D}, Ref, S) ->
    S#state{deadlines = gb_sets:delete_any({D, Ref}, S#state.deadlines)}.

%% Times out, oldest first, every request whose deadline is past.
expire(Now, S) ->
    case gb_sets:is_empty(S#state.deadlines) of
        true ->
            {noreply, S};
        false ->
            case gb_sets:take_smallest(S#state.deadlines) of
                {{D, Ref}, Rest} when D =< Now ->
                    case info_in({deadline, Ref}, S#state{deadlines = Rest}) of
                        {noreply, S1} -> expire(Now, S1);
                        Stop -> Stop
                    end;
                {{D, _}, _} ->
                    {noreply, arm_tick(D, Now, S)}
            end
    end.

send_cancel(Target, #state{src = Port, next_ref = Ref} = S) ->
    {Arity, Body} = libsql_proto:encode_body(cancel, [Target]),
    ok = out(Port, libsql_proto:frame(Ref, Arity, Body)),
    Timer = erlang:send_after(S#state.cancel_timeout, self(), {cancel_deadline, Ref}),
    P = #pending{from = internal, timer = Timer, kind = cancel, sent = erlang:monotonic_time()},
    S#state{next_ref = next_ref(Ref), pending = maps:put(Ref, P, S#state.pending)}.

%% A request of our own whose answer nobody waits for.
send_internal(Cmd, Args, #state{src = Port, next_ref = Ref} = S) ->
    {Arity, Body} = libsql_proto:encode_body(Cmd, Args),
    ok = out(Port, libsql_proto:frame(Ref, Arity, Body)),
    P = #pending{from = internal, kind = cancel, sent = erlang:monotonic_time()},
    S#state{next_ref = next_ref(Ref), pending = maps:put(Ref, P, S#state.pending)}.

watch_cursor(Bin, Owner, S) ->
    case libsql_proto:decode_reply(Bin) of
        {ok, {Id, _Columns}} ->
            S#state{cursors = maps:put(Id, erlang:monitor(process, Owner), S#state.cursors)};
        _ ->
            S
    end.

close_orphan_cursor(Bin, S) ->
    case libsql_proto:decode_reply(Bin) of
        {ok, {Id, _Columns}} -> send_internal(cursor_close, [Id], S);
        _ -> S
    end.

forget_cursor({cursor_close, Id}, S) ->
    case maps:take(Id, S#state.cursors) of
        {Mon, Cursors} -> erlang:demonitor(Mon, [flush]), S#state{cursors = Cursors};
        error -> S
    end;
forget_cursor(_, S) ->
    S.

next_ref(Ref) when Ref >= ?LANE_REFS - 1 -> 1;
next_ref(Ref) -> Ref + 1.

reply(Ref, Bin, S) ->
    case maps:take(Ref, S#state.pending) of
        {#pending{from = From, timer = Timer, kind = Kind, sent = Sent} = P, Pending} ->
            cancel_timer(Timer),
            S0 = drop_deadline(P, Ref, S),
            Now = erlang:monotonic_time(),
            S1 = drop_callback(P, S0#state{pending = Pending,
                                           port_time = S#state.port_time + Now - Sent}),
            case Kind of
                cancel -> {noreply, S1};
                {define, _, _} -> {noreply, defined(Kind, From, Bin, S1)};
                {subscribed, SubRef} -> {noreply, subscribed(SubRef, From, Bin, S1)};
                {authorizer, Fun} -> {noreply, authorizer_set(Fun, From, Bin, S1)};
                {undefine, _, _} -> {noreply, defined(Kind, From, Bin, S1)};
                close ->
                    reply_to(From, {reply, Bin}),
                    stop_port(S1, normal);
                orphan_cursor ->
                    {noreply, close_orphan_cursor(Bin, S1)};
                {cursor_open, Owner} ->
                    reply_to(From, {reply, Bin}),
                    {noreply, watch_cursor(Bin, Owner, S1)};
                reset ->
                    reply_to(From, {reply, Bin}),
                    maps:foreach(fun(_, M) -> erlang:demonitor(M, [flush]) end,
                                 S1#state.cursors),
                    {noreply, S1#state{cursors = #{}}};
                _ ->
                    reply_to(From, {reply, Bin}, ms(Now, S)),
                    {noreply, S1}
            end;
        error ->
            %% A late answer to a request that timed out: dropped.
            {noreply, S}
    end.

%% A libsql_callback caller's reply goes to it tagged with its reference,
%% while it still waits; others as gen_server's.
reply_to(From, Reply) ->
    reply_to(From, Reply, now).

%% NowMs: the monotonic time in ms when the caller has it (`now': read it).
reply_to({Pid, Ref, GiveUp}, Reply, NowMs) ->
    _ = in_time(GiveUp, NowMs) andalso (Pid ! {Ref, Reply}),
    ok;
reply_to(From, Reply, _NowMs) ->
    gen_server:reply(From, Reply).

%% Whether a libsql_callback caller still waits (and will until the message
%% is in its queue).
in_time(GiveUp) ->
    in_time(GiveUp, now).

in_time(infinity, _NowMs) -> true;
in_time(GiveUp, now) -> in_time(GiveUp, erlang:monotonic_time(millisecond));
in_time(GiveUp, NowMs) -> NowMs < GiveUp - ?REPLY_MARGIN.

%% A native monotonic time in ms, as erlang:monotonic_time(millisecond)
%% gives it (rounded down), without reading the clock again.
ms(Native, #state{native_ms = N}) when Native >= 0 -> Native div N;
ms(Native, #state{native_ms = N}) -> -((N - 1 - Native) div N).

cancel_timer(undefined) -> ok;
cancel_timer(T) -> _ = erlang:cancel_timer(T, [{async, true}, {info, false}]), ok.

%% ---- transport nif: the lane -------------------------------------------------

%% @doc The table of lanes (libsql_sup makes it; it lives as long as the
%% application).
-spec create_lane_registry() -> ok.
create_lane_registry() ->
    _ = ets:new(?LANES, [named_table, public, set, {read_concurrency, true}]),
    ok.

%% The application's `transport' (sys.config) for connections that do
%% not name one: what a test run over both transports switches.
default_transport() ->
    case application:get_env(libsql, transport) of
        {ok, nif} -> nif;
        _ -> port
    end.

lane_register(#state{nif = undefined}, _Spin) ->
    ok;
lane_register(#state{nif = Nif, timeout = T, max_frame = MaxFrame}, Spin) ->
    %% no table (the application is not running): no lane, calls still work
    try
        true = ets:insert(?LANES, {self(), Nif, Spin, T, MaxFrame}),
        %% set once in the VM's life (a persistent_term write is costly)
        persistent_term:get(?LANES_USED, false) orelse persistent_term:put(?LANES_USED, true),
        ets:info(?LANES, size) band 63 =:= 0 andalso lane_sweep()
    catch
        error:badarg -> ok
    end,
    ok.

%% A connection killed outright (no terminate) leaves its row: swept out
%% now and then, when a new one comes (its pipes were closed when it died).
lane_sweep() ->
    _ = [ets:delete(?LANES, Pid) || Pid <- ets:select(?LANES, [{{'$1', '_', '_', '_', '_'}, [], ['$1']}]),
                                    not is_process_alive(Pid)],
    ok.

close_nif(#state{nif = undefined}) ->
    ok;
close_nif(#state{nif = Nif}) ->
    catch ets:delete(?LANES, self()),
    libsql_nif:close(Nif).

%% What the NIF must know after each message: whether we wait for frames
%% (requests in flight, subscribers, a replica's own events) and whether
%% callers may take the lane (not while we wait, nor with Erlang functions
%% or an authorizer fun, whose callbacks need this process).
nif_sync({reply, R, S}) -> {reply, R, nif_flags(S)};
nif_sync({noreply, S}) -> {noreply, nif_flags(S)};
nif_sync(Other) -> Other.

nif_flags(#state{nif = undefined} = S) ->
    S;
nif_flags(#state{nif = Nif, nif_flags = {OldWant, OldLane} = Old} = S) ->
    Quiet = map_size(S#state.subs) =:= 0 andalso S#state.mode =/= replica,
    Want = map_size(S#state.pending) > 0 orelse not Quiet,
    Lane = Quiet andalso map_size(S#state.funs) =:= 0,
    case {Want, Lane} of
        Old ->
            S;
        New ->
            Want =:= OldWant orelse libsql_nif:want(Nif, Want),
            Lane =:= OldLane orelse libsql_nif:set_lane(Nif, Lane),
            S#state{nif_flags = New}
    end.

lane(Conn) when is_pid(Conn) ->
    %% no lookup at all until some connection uses transport nif: the
    %% port transport's calls pay one persistent_term read
    persistent_term:get(?LANES_USED, false) andalso lane_lookup(Conn);
lane(_) ->
    false.

lane_lookup(Conn) ->
    try ets:lookup(?LANES, Conn) of
        [{_, Nif, Spin, T, MaxFrame}] -> {Nif, Spin, T, MaxFrame};
        [] -> false
    catch
        error:badarg -> false
    end.

%% A plain request on the lane: written and answered here, the connection
%% process not involved. Whatever the lane cannot take (it is busy, the
%% request is too long or its deadline not one) goes the usual way, which
%% also gives the usual errors.
lane_request(Conn, {Nif, Spin, Default, MaxFrame}, Arity, Body, Timeout0) ->
    case (Timeout0 =:= default orelse libsql_opts:is_timeout(Timeout0)) andalso
        iolist_size(Body) + 8 =< MaxFrame andalso libsql_nif:call(Nif, Arity, Body, Spin) of
        {reply, Bin} ->
            libsql_proto:decode_reply(Bin);
        {wait, Ref, Sel} ->
            T = case Timeout0 of default -> Default; _ -> Timeout0 end,
            Deadline = case T of
                           infinity -> infinity;
                           _ -> erlang:monotonic_time(millisecond) + T
                       end,
            %% asleep, we must also hear of the connection's end
            lane_wait(Conn, Nif, Ref, Sel, Deadline,
                      {Arity, Body, Timeout0, erlang:monitor(process, Conn)});
        {closed, _Ref} ->
            %% sent, then the pipe ended: the program died with it
            lane_lost(Conn, Timeout0);
        _NotNow ->
            %% busy, too long, or nothing sent (closed: the connection's own
            %% write fails too, and fails its callers at once)
            request_call(Conn, Arity, Body, Timeout0, request)
    end.

%% The program died with our request in it: the connection answers as it
%% does for its own requests in flight, when the exit status comes.
lane_lost(Conn, Timeout) ->
    %% Watched from before the message goes: the connection is likely to
    %% stop (with the program's exit status as its reason) while it comes.
    case libsql_callback:call_watched(Conn, {lane_lost, Timeout}, backstop(Timeout)) of
        {reply, {error, _} = E} ->
            E;
        {reply, {reply, Bin}} ->
            libsql_proto:decode_reply(Bin);
        {down, noproc} ->
            %% gone before we looked: its reason is lost, but the pipe
            %% ended with our request in it, so the program died
            {error, libsql_proto:err(port_exited, <<"the port program exited">>)};
        {down, Reason} ->
            gone_answer(Reason);
        timeout ->
            {error, libsql_proto:err(timeout, <<"the connection process did not answer">>)}
    end.

%% A lane caller's answer when the connection stopped with its request in
%% the program: what the connection answered its own callers, from its
%% exit reason.
gone_answer({port_exited, Reason}) ->
    Extra = case Reason of
                {port_killed, Sig} -> #{exit_status => 128 + Sig, reason => Reason};
                _ -> #{reason => Reason}
            end,
    {error, libsql_proto:err(port_exited, <<"the port program exited">>, Extra)};
gone_answer({shutdown, port_hung}) ->
    {error, libsql_proto:err(port_exited, <<"the port program stopped answering and was killed">>)};
gone_answer(_) ->
    {error, libsql_proto:err(closed, <<"the connection is closed">>)}.

lane_unwatch({_, _, _, Mon}) ->
    erlang:demonitor(Mon, [flush]).

%% The answer takes longer than the spin: sleep until the pipe has
%% something (a select of our own), the deadline, or the connection's end.
lane_wait(Conn, Nif, Ref, Sel, Deadline, Req) ->
    Left = case Deadline of
               infinity -> infinity;
               _ -> max(0, Deadline - erlang:monotonic_time(millisecond))
           end,
    receive
        {select, Nif, Sel, ready_input} ->
            case libsql_nif:lane_pump(Nif) of
                {reply, Bin} ->
                    lane_unwatch(Req),
                    libsql_proto:decode_reply(Bin);
                {wait, Ref, Sel1} ->
                    lane_wait(Conn, Nif, Ref, Sel1, Deadline, Req);
                _Closed ->
                    %% The program died with our request, or the pipes were
                    %% closed under it (the connection is going).
                    lane_unwatch(Req),
                    {_, _, Timeout, _} = Req,
                    lane_lost(Conn, Timeout)
            end;
        {'DOWN', Mon, process, Conn, Reason} when Mon =:= element(4, Req) ->
            %% The connection went (and closed the pipes) while we slept:
            %% closed, or the program died and it heard first.
            gone_answer(Reason)
    after Left ->
        lane_unwatch(Req),
        _ = try libsql_nif:lane_abandon(Nif) of
                {Ref, Pending} ->
                    Pending =:= pending andalso
                        receive {select, Nif, Sel, _} -> ok after 0 -> ok end,
                    %% the connection cancels it, as its own on a deadline
                    Conn ! {lane_timeout, Ref}
            catch
                error:badarg -> ok % the pipes were closed meanwhile
            end,
        {error, libsql_proto:err(timeout, <<"the request did not finish in time; it was cancelled">>)}
    end.

%% ---- callbacks (port/channel.h) ----------------------------------------------

%% The running request Ref calls back: hand the frame to the process that
%% waits for it (libsql_callback answers the port itself). The caller is
%% watched from its first callback: if it dies, nobody answers, and the
%% request is cancelled.
callback(Ref, Bin, S) ->
    case maps:find(Ref, S#state.pending) of
        {ok, #pending{from = {Pid, CRef, GiveUp}, kind = Kind} = P}
          when Kind =:= request; element(1, Kind) =:= cursor_open;
               element(1, Kind) =:= cursor_close ->
            case in_time(GiveUp) of
                true ->
                    Pid ! {CRef, callback, {self(), S#state.src, S#state.max_frame,
                                            S#state.funs}, Bin},
                    Mon = case P#pending.callback of
                              undefined -> erlang:monitor(process, Pid);
                              {M, _} -> M
                          end,
                    S#state{pending = maps:put(Ref, P#pending{callback = {Mon, Bin}},
                                               S#state.pending)};
                false ->
                    refuse_callback(Bin, S),
                    S
            end;
        _ ->
            %% Our own request (a reset, a close), a caller that does not
            %% answer callbacks, or one that gave up: the call fails.
            refuse_callback(Bin, S),
            S
    end.

refuse_callback(Bin, S) ->
    {Ref, callback, {Id, Payload}} = binary_to_term(Bin),
    Id > 0 andalso
        begin
            Why = iolist_to_binary([function_name(Payload, S),
                                    ": no process waits to run it (the request was ",
                                    "cancelled, or is not a caller's)"]),
            {A, Body} = libsql_proto:encode_body(answer, [Id, {error, Why}]),
            port_write(S#state.src, libsql_proto:frame(Ref, A, Body))
        end,
    ok.

function_name(Payload, S) when is_tuple(Payload), tuple_size(Payload) >= 2 ->
    case maps:find(element(2, Payload), S#state.funs) of
        {ok, Spec} -> element(1, Spec);
        error -> <<"an Erlang SQL function">>
    end;
function_name(_, _) ->
    <<"an Erlang SQL function">>.

drop_callback(#pending{callback = undefined}, S) ->
    S;
drop_callback(#pending{callback = {Mon, _}}, S) ->
    erlang:demonitor(Mon, [flush]),
    S.

%% What a caller whose deadline passed is told: which function the request
%% called last, when it called one (it may be what takes so long).
deadline_error(#pending{callback = {_, Bin}}, S) ->
    {_, callback, {_, Payload}} = binary_to_term(Bin),
    Name = function_name(Payload, S),
    libsql_proto:err(timeout, iolist_to_binary(
                                [<<"the request did not finish in time; it was cancelled ">>,
                                 <<"(the last Erlang SQL function it called was ">>, Name,
                                 <<")">>]),
                     #{function => Name});
deadline_error(_, _) ->
    libsql_proto:err(timeout, <<"the request did not finish in time; it was cancelled">>).

%% The port has the rules: keep the fun it may ask (or forget the old one).
authorizer_set(Fun, From, Bin, S) ->
    case From of
        internal -> ok;
        _ -> reply_to(From, {reply, Bin})
    end,
    case libsql_proto:decode_reply(Bin) of
        {ok, _} when Fun =:= undefined -> S#state{funs = maps:remove(authorizer, S#state.funs)};
        {ok, _} -> S#state{funs = maps:put(authorizer, Fun, S#state.funs)};
        {error, E} when From =:= internal ->
            logger:warning(#{what => libsql_authorizer_not_set, error => E},
                           #{domain => [libsql]}),
            S;
        {error, _} ->
            S
    end.

%% The port registered (or deleted) a function: keep (or forget) its fun.
%% A function replaces the one of the same name and arity (SQLite's names
%% are ASCII case-insensitive).
defined(Kind, From, Bin, S) ->
    {Name, Arity} = case Kind of
                        {define, _, {N, _, A, _}} -> {N, A};
                        {undefine, N, A} -> {N, A}
                    end,
    case From of
        internal -> ok;
        _ -> reply_to(From, {reply, Bin})
    end,
    case libsql_proto:decode_reply(Bin) of
        {ok, _} ->
            S1 = forget_function(Name, Arity, S),
            case Kind of
                {define, Id, Spec} -> S1#state{funs = maps:put(Id, Spec, S1#state.funs)};
                _ -> S1
            end;
        {error, E} when From =:= internal ->
            logger:warning(#{what => libsql_function_not_defined, function => Name,
                             error => E}, #{domain => [libsql]}),
            S;
        {error, _} ->
            S
    end.

forget_function(Name, Arity, S) ->
    Key = ascii_lower(Name),
    S#state{funs = maps:filter(fun(authorizer, _) -> true;
                                  (_, {N, _, A, _}) -> A =/= Arity orelse ascii_lower(N) =/= Key
                               end, S#state.funs)}.

ascii_lower(Name) ->
    << <<(if C >= $A, C =< $Z -> C + 32; true -> C end)>> || <<C>> <= Name >>.

%% A frame the port sent unasked (port/events.h): an embedded replica's
%% sync applied pages, failed (said once per outage) or works again.
event(Bin, S) ->
    try binary_to_term(Bin) of
        {0, event, {Tag, Info}} when Tag =:= sync; Tag =:= sync_ok ->
            Tag =:= sync_ok andalso
                logger:notice(#{what => libsql_sync_recovered, target => S#state.target,
                                revision => maps:get(revision, Info, undefined)},
                              #{domain => [libsql]}),
            case Info of
                #{pages := 0, bootstrapped := false} -> ok;
                _ -> libsql_subs:notify(sync, fun(Ref) -> {libsql_sync, Ref, Info} end,
                                        S#state.subs)
            end;
        {0, event, {changes, Events}} ->
            changes(Events, libsql_subs:of_kind(updates, S#state.subs),
                    libsql_subs:of_kind(commits, S#state.subs));
        {0, event, {log, Code, Message, Dropped}} ->
            sqlite_log(Code, Message, Dropped, S#state.target);
        {0, event, {sync_error, Error}} ->
            logger:warning(#{what => libsql_sync_failed, target => S#state.target,
                             error => Error,
                             text => libsql:format_error(Error)},
                           #{domain => [libsql]});
        Other ->
            logger:warning(#{what => libsql_unexpected_event, event => Other},
                           #{domain => [libsql]})
    catch
        error:badarg ->
            logger:warning(#{what => libsql_unexpected_frame, size => byte_size(Bin)},
                           #{domain => [libsql]})
    end,
    {noreply, S}.

%% An event while opening: only SQLite's log can come before the answer.
open_event(Bin, Target) ->
    case catch binary_to_term(Bin) of
        {0, event, {log, Code, Message, Dropped}} -> sqlite_log(Code, Message, Dropped, Target);
        _ -> ok
    end.

%% ---- change data capture (port/cdc.h) -------------------------------------------

%% What the port must capture for the subscribers there are now; when that
%% changed, tell it (From waits for the answer, Kind says what to do with
%% it). {same, S} when nothing changed.
capture(S, From, Kind) ->
    Kinds = libsql_subs:kinds(S#state.subs),
    Want = {lists:member(updates, Kinds), lists:member(commits, Kinds)},
    case Want =:= S#state.capture of
        true -> {same, S};
        false ->
            {Updates, Commits} = Want,
            {A, Body} = libsql_proto:encode_body(capture, [Updates, Commits]),
            {sent, send(A, Body, From, default, Kind, S#state{capture = Want})}
    end.

%% The subscribers changed without a caller to answer.
recapture(#state{mode = local} = S) ->
    {_, S1} = capture(S, internal, cancel),
    S1;
recapture(S) ->
    S.

%% The port captures what a new subscription needs (or could not).
subscribed(Ref, From, Bin, S) ->
    case libsql_proto:decode_reply(Bin) of
        {ok, _} ->
            reply_to(From, {ok, Ref}),
            S;
        {error, _} = E ->
            reply_to(From, E),
            recapture(S#state{subs = libsql_subs:remove(Ref, S#state.subs),
                              capture = {false, false}})
    end.

%% The events of committed transactions, in order, to their subscribers.
changes([{Op, Db, Table, RowId} | Rest], Updates, Commits) ->
    _ = [Pid ! {libsql_update, Ref, Op, Db, Table, RowId} || {Ref, Pid} <- Updates],
    changes(Rest, Updates, Commits);
changes([{commit, Info} | Rest], Updates, Commits) ->
    _ = [Pid ! {libsql_commit, Ref, Info} || {Ref, Pid} <- Commits],
    changes(Rest, Updates, Commits);
changes([{rollback, Info} | Rest], Updates, Commits) ->
    _ = [Pid ! {libsql_rollback, Ref, Info} || {Ref, Pid} <- Commits],
    changes(Rest, Updates, Commits);
changes([], _, _) ->
    ok.

%% SQLite's error log (port/sqlite_log.h), at a level by its code: the
%% notices and warnings SQLite itself calls so; I/O errors, corruption, a
%% full disk and no memory as errors (what an operator must see, whatever
%% the caller did with its error). The port sends nothing else (the
%% caller has those as its error); anything else is debug.
sqlite_log(Code, Message, Dropped, Target) ->
    Level = case Code band 16#ff of
                27 -> notice;                                         % SQLITE_NOTICE
                28 -> warning;                                        % SQLITE_WARNING
                C when C =:= 7; C =:= 10; C =:= 11; C =:= 13 -> error;
                _ -> debug
            end,
    logger:log(Level, #{what => sqlite_log, code => Code, message => Message,
                        dropped_before => Dropped, target => Target},
               #{domain => [libsql, sqlite]}).

fail_all(Code, Message, Extra, S) ->
    Error = libsql_proto:err(Code, Message, Extra),
    maps:foreach(fun(_Ref, #pending{from = internal}) -> ok;
                    (_Ref, #pending{from = From, timer = T}) ->
                         cancel_timer(T),
                         reply_to(From, {error, Error})
                 end, S#state.pending).

stop_port(#state{port = Port} = S, Reason) when is_port(Port) ->
    fail_all(closed, <<"the connection was closed">>, #{}, S),
    close_nif(S),
    catch erlang:port_close(Port),
    {stop, Reason, S#state{port = undefined, pending = #{}}};
stop_port(S, Reason) ->
    {stop, Reason, S}.

kill_os_process(OsPid) when is_integer(OsPid) ->
    _ = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    ok;
kill_os_process(_) ->
    ok.

default_executable() ->
    case os:getenv("LIBSQL_PORT_EXECUTABLE") of
        false -> filename:join(priv_dir(), "libsql_port");
        Path -> Path
    end.

priv_dir() ->
    case code:priv_dir(libsql) of
        {error, bad_name} ->
            filename:join(filename:dirname(filename:dirname(code:which(?MODULE))), "priv");
        Dir -> Dir
    end.

%% What the connection is to, for operators: the path (never a secret).
target(#{port_opts := PortOpts}) ->
    case lists:keyfind(path, 1, PortOpts) of
        {path, P} -> P;
        false -> <<>>
    end;
target(_) -> <<>>.
