%% @private
%% @doc One pool: its manager (libsql_pool, registered under the pool's
%% name) and a supervisor of its N connection workers. rest_for_one: if
%% the manager restarts, the workers restart and register with the new one.
%% Both levels have bounded restart intensity, so a database that stops
%% opening fails the pool instead of causing a restart storm.
%%
%% A pool that cannot start answers with its error and logs nothing: the
%% caller has the answer. Supervisors write reports for every child they
%% start (progress, at info level) and every child that fails to start
%% (error), so:
%% <ul>
%% <li>a name already taken is refused before anything starts;</li>
%% <li>the database is opened once by an unsupervised probe connection
%%     before the pool's supervisors start: a database that cannot be
%%     opened fails here, with nothing started and nothing logged;</li>
%% <li>should it fail between the probe and the workers' own opens, the
%%     workers are started in a startup phase in which a worker that cannot
%%     open is recorded with the manager and left out (`ignore'), and the
%%     pool is stopped and answers with that error.</li>
%% </ul>
%% After startup, a worker that fails is an operational event and is
%% reported and restarted as usual.
-module(libsql_pool_sup).
-behaviour(supervisor).

-export([start_link/2, start_worker/2, init/1]).

%% @doc Start a pool from the options of libsql:start_pool/2 (checked here,
%% so that a pool in a user's own supervision tree is checked too).
-spec start_link(atom(), map()) -> {ok, pid()} | {error, term()}.
start_link(Name, RawOpts) ->
    case libsql_opts:pool(RawOpts) of
        {ok, Opts} ->
            case whereis(Name) of
                undefined ->
                    case probe(no_background_sync(maps:get(conn_opts, Opts))) of
                        ok -> start_pool(Name, Opts);
                        {error, _} = E -> E
                    end;
                Pid ->
                    {error, {already_started, Pid}}
            end;
        {error, _} = E ->
            E
    end.

%% Open the database once, outside any supervisor.
probe(ConnOpts) ->
    case libsql_conn:start(none, ConnOpts) of
        {ok, Conn} ->
            _ = libsql_conn:close(Conn, default),
            ok;
        {error, _} = E ->
            E
    end.

start_pool(Name, Opts) ->
    case supervisor:start_link(?MODULE, {pool, Name, Opts}) of
        {ok, Sup} ->
            ok = libsql_pool:begin_startup(Name),
            Workers = #{id => workers,
                        start => {supervisor, start_link, [?MODULE, {workers, Name, Opts}]},
                        type => supervisor,
                        shutdown => infinity},
            Started = supervisor:start_child(Sup, Workers),
            case {Started, libsql_pool:end_startup(Name)} of
                {{ok, _}, ok} ->
                    {ok, Sup};
                {_, {error, Error}} ->
                    stop(Sup),
                    {error, {shutdown, {open_failed, Error}}};
                {{error, Reason}, ok} ->
                    stop(Sup),
                    {error, Reason}
            end;
        Other ->
            Other
    end.

%% @doc Start one worker (the workers' child start function): a worker
%% whose database cannot be opened during startup is left out, and the
%% pool start fails with its error (see the module doc).
-spec start_worker(atom(), map()) -> {ok, pid()} | ignore | {error, term()}.
start_worker(Name, ConnOpts) ->
    case libsql_conn:start_link(none, ConnOpts) of
        {error, {shutdown, {open_failed, Error}}} = Failed ->
            case libsql_pool:open_failed(Name, Error) of
                starting -> ignore;
                running -> Failed
            end;
        Other ->
            Other
    end.

init({pool, Name, Opts}) ->
    Manager = #{id => manager,
                start => {libsql_pool, start_link, [Name, Opts]},
                shutdown => 5000},
    {ok, {#{strategy => rest_for_one, intensity => 3, period => 10}, [Manager]}};
init({workers, Name, Opts}) ->
    Size = maps:get(size, Opts),
    ConnOpts = maps:put(pool, Name, maps:get(conn_opts, Opts)),
    %% An embedded replica's file is shared by the workers: one of them
    %% syncs it in the background (sync_interval), the others read what it
    %% applied.
    Children = [#{id => {worker, I},
                  start => {?MODULE, start_worker,
                            [Name, case I of
                                       1 -> ConnOpts;
                                       _ -> no_background_sync(ConnOpts)
                                   end]},
                  restart => permanent,
                  shutdown => 5000}
                || I <- lists:seq(1, Size)],
    %% Enough room for every worker to be replaced a few times in a burst
    %% (kill -9 of several ports), but not for a worker that cannot open.
    Intensity = maps:get(max_restarts, Opts, max(10, 3 * Size)),
    {ok, {#{strategy => one_for_one, intensity => Intensity, period => 10}, Children}}.

no_background_sync(#{port_opts := PortOpts} = ConnOpts) ->
    ConnOpts#{port_opts := lists:keydelete(sync_interval, 1, PortOpts)};
no_background_sync(ConnOpts) ->
    ConnOpts.

%% Stop a pool that failed to start, quietly: an unlinked shutdown.
stop(Sup) ->
    Mon = erlang:monitor(process, Sup),
    unlink(Sup),
    exit(Sup, shutdown),
    receive {'DOWN', Mon, process, Sup, _} -> ok end.
