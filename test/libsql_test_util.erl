%% Helpers shared by the Common Test suites (one copy of each; the suites
%% call them as libsql_test_util:Fun(...)).
%%
%% Files in priv_dir: rebar3 ct runs every suite with one priv_dir, so each
%% file name must carry its suite. init_per_suite/2 (or set_suite/2, for a
%% suite that does not start the application) records the suite in the
%% config, and db_path/2 prefixes every name with it.
%%
%% OS processes are looked at through /proc (Linux).
-module(libsql_test_util).

-export([init_per_suite/2, set_suite/2, db_path/2,
         os_alive/1, os_alive/2, wait_gone/2, wait_gone/3, wait_until/2,
         kill9/1, rss_kb/1, sanitized/1, pool_workers/1,
         expect_error/2, contains/2, timed/1, free_port/0, cpu_ms/1,
         same/3, canon/1, proc_stat_fields/1, drop_kill_reports/2]).

-type config() :: [{atom(), term()}].
-export_type([config/0]).

%% How often wait_until/2 (and so wait_gone/2,3) polls, ms.
-define(POLL_MS, 5).

%% @doc Starts the libsql application (and what it needs) and records Suite
%% in the config for db_path/2; the usual body of a suite's
%% init_per_suite/1: `init_per_suite(C) -> libsql_test_util:init_per_suite(?MODULE, C).'
-spec init_per_suite(module(), config()) -> config().
init_per_suite(Suite, Config) ->
    {ok, _} = application:ensure_all_started(libsql),
    set_suite(Suite, Config).

%% @doc Records Suite in the config for db_path/2, starting nothing (for a
%% suite that drives the port program without the application).
-spec set_suite(module(), config()) -> config().
set_suite(Suite, Config) when is_atom(Suite) ->
    [{libsql_test_suite, Suite} | lists:keydelete(libsql_test_suite, 1, Config)].

%% @doc The path of file Name in priv_dir, prefixed with the suite recorded
%% by init_per_suite/2 or set_suite/2 ("libsql_x_SUITE_" ++ Name): rebar3
%% ct shares one priv_dir between all suites. Fails if no suite is recorded.
-spec db_path(config(), string()) -> file:filename().
db_path(Config, Name) ->
    Suite = case lists:keyfind(libsql_test_suite, 1, Config) of
                {_, S} -> S;
                false -> error({no_suite_in_config, "call libsql_test_util:init_per_suite/2 "
                                                    "or set_suite/2 in init_per_suite/1"})
            end,
    {priv_dir, Dir} = lists:keyfind(priv_dir, 1, Config),
    filename:join(Dir, atom_to_list(Suite) ++ "_" ++ Name).

%% @doc True if OS process OsPid exists and is not a zombie.
-spec os_alive(pos_integer()) -> boolean().
os_alive(OsPid) ->
    case proc_stat(OsPid) of
        {_Comm, State} -> State =/= $Z;
        undefined -> false
    end.

%% @doc True if OS process OsPid exists, is not a zombie and its command
%% name (comm, as in /proc/PID/stat) is Comm: a pid reused by another
%% program does not count.
-spec os_alive(pos_integer(), string()) -> boolean().
os_alive(OsPid, Comm) ->
    case proc_stat(OsPid) of
        {Comm, State} -> State =/= $Z;
        _ -> false
    end.

%% @doc Waits up to Ms milliseconds (a deadline, however long each look
%% takes) until OS process OsPid is gone or a zombie; true if it is.
-spec wait_gone(pos_integer(), non_neg_integer()) -> boolean().
wait_gone(OsPid, Ms) ->
    wait_until(fun() -> not os_alive(OsPid) end, Ms).

%% @doc As wait_gone/2, for a process whose command name is Comm (see
%% os_alive/2): true once no live process OsPid runs Comm.
-spec wait_gone(pos_integer(), string(), non_neg_integer()) -> boolean().
wait_gone(OsPid, Comm, Ms) ->
    wait_until(fun() -> not os_alive(OsPid, Comm) end, Ms).

%% @doc Calls Pred every few milliseconds until it returns true (then true)
%% or Ms milliseconds have passed (then false, after one last call).
-spec wait_until(fun(() -> boolean()), non_neg_integer()) -> boolean().
wait_until(Pred, Ms) ->
    wait_loop(Pred, erlang:monotonic_time(millisecond) + Ms).

wait_loop(Pred, Deadline) ->
    case Pred() of
        true -> true;
        false ->
            case erlang:monotonic_time(millisecond) >= Deadline of
                true -> false;
                false -> timer:sleep(?POLL_MS), wait_loop(Pred, Deadline)
            end
    end.

%% @doc Sends SIGKILL to OS process OsPid; fails if kill(1) complains (say,
%% the process is already gone).
-spec kill9(pos_integer()) -> ok.
kill9(OsPid) ->
    [] = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    ok.

%% @doc The resident set size of OS process OsPid in kB (VmRSS of
%% /proc/PID/status), or undefined if the process or the line is gone.
-spec rss_kb(pos_integer()) -> non_neg_integer() | undefined.
rss_kb(OsPid) ->
    case file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/status") of
        {ok, Bin} ->
            case re:run(Bin, "VmRSS:\\s+([0-9]+) kB", [{capture, all_but_first, binary}]) of
                {match, [N]} -> binary_to_integer(N);
                nomatch -> undefined
            end;
        {error, _} -> undefined
    end.

%% @doc True if OS process OsPid has AddressSanitizer linked in (libasan in
%% /proc/PID/maps): RSS bounds mean nothing there.
-spec sanitized(pos_integer()) -> boolean().
sanitized(OsPid) ->
    case file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/maps") of
        {ok, Maps} -> binary:match(Maps, <<"libasan">>) =/= nomatch;
        {error, _} -> false
    end.

%% @doc The connection processes of pool Pool (pool supervisor -> workers
%% supervisor -> its children).
-spec pool_workers(atom()) -> [pid()].
pool_workers(Pool) ->
    {ok, Sup} = libsql_pool:supervisor(Pool),
    {workers, WSup, _, _} = lists:keyfind(workers, 1, supervisor:which_children(Sup)),
    [W || {_, W, _, _} <- supervisor:which_children(WSup), is_pid(W)].

%% @doc Checks that Result is {error, Map} with code Code (one of
%% libsql_error:codes()) and a binary message, and returns Map; fails the
%% test case otherwise.
-spec expect_error(atom(), term()) -> map().
expect_error(Code, {error, #{code := Code, message := Msg} = E}) when is_binary(Msg) ->
    true = lists:member(Code, libsql_error:codes()),
    E;
expect_error(Code, Other) ->
    ct:fail({expected_error, Code, got, Other}).

%% @doc ok if binary Part occurs in binary Bin; fails the test case
%% otherwise.
-spec contains(binary(), binary()) -> ok.
contains(Bin, Part) ->
    case binary:match(Bin, Part) of
        nomatch -> ct:fail({not_found, Part, in, Bin});
        _ -> ok
    end.

%% @doc Runs Fun; returns {Milliseconds it took, what it returned}.
-spec timed(fun(() -> T)) -> {integer(), T}.
timed(Fun) ->
    T0 = erlang:monotonic_time(millisecond),
    R = Fun(),
    {erlang:monotonic_time(millisecond) - T0, R}.

%% @doc Fails the case unless Got is exactly Expected; floats compare by
%% bit pattern, so -0.0 and 0.0 differ. Context goes into the failure.
-spec same(term(), term(), term()) -> ok.
same(Expected, Got, Context) ->
    case canon(Expected) =:= canon(Got) of
        true -> ok;
        false -> ct:fail({mismatch, Context, expected, Expected, got, Got})
    end.

%% @doc Term with every float replaced by its bit pattern (for =:=).
-spec canon(term()) -> term().
canon(F) when is_float(F) -> {float, <<F:64/float>>};
canon(T) when is_tuple(T) -> list_to_tuple(canon(tuple_to_list(T)));
canon([H | T]) -> [canon(H) | canon(T)];
canon(M) when is_map(M) -> maps:map(fun(_, V) -> canon(V) end, M);
canon(X) -> X.

%% @doc CPU time (user + system, ms) an OS process has used, from
%% /proc/PID/stat (fields 14 and 15, in clock ticks), or undefined.
-spec cpu_ms(integer()) -> non_neg_integer() | undefined.
cpu_ms(OsPid) ->
    case proc_stat_fields(OsPid) of
        %% fields from 3 (state) on: utime is field 14, stime 15
        {_Comm, Fields} when length(Fields) >= 13 ->
            Ticks = binary_to_integer(lists:nth(12, Fields))
                + binary_to_integer(lists:nth(13, Fields)),
            Ticks * 1000 div clock_ticks();
        _ -> undefined
    end.

%% CLK_TCK, asked of getconf once per node (each os:cmd starts a shell).
clock_ticks() ->
    case persistent_term:get({?MODULE, clk_tck}, undefined) of
        undefined ->
            N = case string:to_integer(os:cmd("getconf CLK_TCK")) of
                    {T, _} when is_integer(T), T > 0 -> T;
                    _ -> 100
                end,
            persistent_term:put({?MODULE, clk_tck}, N),
            N;
        N -> N
    end.

%% @doc /proc/PID/stat as {Comm, [Field3, Field4, ...]} (fields as binaries,
%% from the state on), or undefined. Comm may hold spaces and parentheses,
%% so the last ") " ends it.
-spec proc_stat_fields(pos_integer()) -> {string(), [binary()]} | undefined.
proc_stat_fields(OsPid) ->
    case file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/stat") of
        {ok, Stat} ->
            case {binary:match(Stat, <<"(">>), binary:matches(Stat, <<") ">>)} of
                {{Open, _}, [_ | _] = Closes} ->
                    {Close, _} = lists:last(Closes),
                    Rest = string:trim(binary:part(Stat, Close + 2, byte_size(Stat) - Close - 2)),
                    case binary:split(Rest, <<" ">>, [global, trim_all]) of
                        [] -> undefined;
                        Fields -> {binary_to_list(binary:part(Stat, Open + 1, Close - Open - 1)),
                                   Fields}
                    end;
                _ -> undefined
            end;
        {error, _} -> undefined
    end.

%% {Comm, State} of OS process OsPid, or undefined.
proc_stat(OsPid) ->
    case proc_stat_fields(OsPid) of
        {Comm, [<<State, _/binary>> | _]} -> {Comm, State};
        _ -> undefined
    end.

%% @doc A loopback TCP port nothing listens on (bound, then given back).
-spec free_port() -> inet:port_number().
free_port() ->
    {ok, L} = gen_tcp:listen(0, [{ip, {127, 0, 0, 1}}]),
    {ok, Port} = inet:port(L),
    ok = gen_tcp:close(L),
    Port.

%% @doc A logger primary filter for suites that kill ports on purpose, by
%% the hundred: the reports of a port killed with SIGKILL (a gen_server,
%% crash and supervisor report each) are dropped; every other event passes.
-spec drop_kill_reports(logger:log_event(), term()) -> logger:filter_return().
drop_kill_reports(#{msg := Msg} = Event, _) ->
    case mentions_sigkill(Msg, 12) of
        true -> stop;
        false -> Event
    end.

mentions_sigkill(_, 0) -> false;
mentions_sigkill({port_exited, {port_killed, 9}}, _) -> true;
mentions_sigkill(T, D) when is_tuple(T) -> mentions_sigkill(tuple_to_list(T), D);
mentions_sigkill(M, D) when is_map(M) -> mentions_sigkill(maps:values(M), D);
mentions_sigkill([H | T], D) -> mentions_sigkill(H, D - 1) orelse mentions_sigkill(T, D);
mentions_sigkill(_, _) -> false.
