%% @doc The spin_us part of the libsql benchmarks (issue 18): what the
%% port's busy-poll between requests (spin_us, port/frame_io.h) costs or
%% gains, spin_us = 0 against the default 50, in the same run:
%%
%%   S1  a pool of 8 and 8 caller processes doing point selects through it
%%       as fast as they can: more busy connections than this machine has
%%       cores. calls/s, and the CPU the 8 ports use per call (µs, from
%%       /proc/PID/schedstat)
%%   S2  a pool of 2 and 2 callers (as many busy connections as cores)
%%   S3  W1: one process doing point selects on one connection, median and
%%       p99 µs per call
%%
%% Each round runs every contender once, in a rotated order, and the table
%% gives the median over rounds. With LIBSQL_BENCH_SPIN_PORTS=label=path,...
%% the contenders are also run with each port executable (to compare two
%% builds of the port in one interleaved run; the default is the built one);
%% LIBSQL_BENCH_SPIN_ROUNDS=N sets the number of rounds (6, 2 when quick).
%% Called from libsql_bench:run/0 (returns the text to print), or alone:
%%
%%   erl -noshell -pa _build/default/lib/libsql/ebin -pa build/bench \
%%       -eval 'libsql_bench_spin:main()' -s init stop
%%
%% LIBSQL_BENCH_SPIN=0 skips it.
-module(libsql_bench_spin).

-export([run/1, main/0]).

-define(SELECT, <<"SELECT id, v FROM t WHERE id = ?">>).
-define(ROWS, 10000).
-define(POOL, libsql_bench_spin_pool).
-define(SPINS, [0, 50]).

-spec main() -> ok.
main() ->
    {ok, _} = application:ensure_all_started(libsql),
    %% One directory per run: two runs at once must not share the file.
    Tmp = filename:absname("build/bench/spin_tmp_" ++ os:getpid()),
    _ = os:cmd("rm -rf '" ++ Tmp ++ "'"),
    ok = filelib:ensure_dir(filename:join(Tmp, "x")),
    Quick = os:getenv("LIBSQL_BENCH_QUICK") =:= "1",
    io:put_chars(run(#{tmp => Tmp, quick => Quick})),
    _ = os:cmd("rm -rf '" ++ Tmp ++ "'"),
    ok.

-spec run(map()) -> iolist().
run(Cfg) ->
    case os:getenv("LIBSQL_BENCH_SPIN") of
        "0" -> ["\nspin_us: skipped: LIBSQL_BENCH_SPIN=0\n"];
        _ -> measure(maps:merge(Cfg, rounds(config(maps:get(quick, Cfg, false)))))
    end.

%% LIBSQL_BENCH_SPIN_ROUNDS=N: more rounds on a busy machine.
rounds(Cfg) ->
    case string:to_integer(os:getenv("LIBSQL_BENCH_SPIN_ROUNDS", "")) of
        {N, ""} when N > 0 -> Cfg#{rounds => N};
        _ -> Cfg
    end.

config(true) -> #{rounds => 2, secs => 1, w1_calls => 3000};
config(false) -> #{rounds => 6, secs => 3, w1_calls => 20000}.

measure(#{tmp := Tmp, rounds := Rounds} = Cfg) ->
    Path = filename:join(Tmp, "spin.db"),
    fill(Path),
    Ports = ports(),
    Load0 = load_average(),
    Contenders = [{Kind, Label, Exe, Spin}
                  || Kind <- [pool8, pool2, w1], {Label, Exe} <- Ports, Spin <- ?SPINS],
    Runs = lists:foldl(
             fun(R, Acc) ->
                     libsql_bench:progress("spin_us round ~b/~b (load ~s)", [R, Rounds, load_average()]),
                     Rot = (R - 1) rem length(Contenders),
                     {A, B} = lists:split(Rot, Contenders),
                     lists:foldl(fun({Kind, Label, _, Spin} = C, Acc1) ->
                                         V = round_of(Cfg, Path, C),
                                         libsql_bench:progress("spin_us round ~b ~s ~s spin ~b: ~s ~s (load ~s)",
                                                  [R, Kind, Label, Spin, fmt(us, element(1, V)),
                                                   fmt(us, element(2, V)), load_average()]),
                                         Acc1#{C => [V | maps:get(C, Acc1, [])]}
                                 end, Acc, B ++ A)
             end, #{}, lists:seq(1, Rounds)),
    report(Cfg, Ports, Runs, Load0, load_average()).

%% LIBSQL_BENCH_SPIN_PORTS=before=/tmp/a,after=/tmp/b, or the built port.
ports() ->
    case os:getenv("LIBSQL_BENCH_SPIN_PORTS") of
        V when V =:= false; V =:= "" -> [{"libsql", default}];
        V -> [list_to_tuple(string:split(P, "=")) || P <- string:lexemes(V, ",")]
    end.

exe(default, Opts) -> Opts;
exe(Exe, Opts) -> Opts#{port_executable => Exe}.

fill(Path) ->
    {ok, C} = libsql:open(#{path => Path}),
    {ok, _} = libsql:execute(C, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"),
    {ok, _} = libsql:execute_many(C, "INSERT INTO t (id, v) VALUES (?, ?)",
                                  [[I, <<"value ", (integer_to_binary(I))/binary>>]
                                   || I <- lists:seq(1, ?ROWS)]),
    ok = libsql:close(C).

%% ---- one round of one contender ---------------------------------------------------

round_of(Cfg, Path, {pool8, _, Exe, Spin}) -> pool_round(Cfg, Path, Exe, Spin, 8);
round_of(Cfg, Path, {pool2, _, Exe, Spin}) -> pool_round(Cfg, Path, Exe, Spin, 2);
round_of(Cfg, Path, {w1, _, Exe, Spin}) -> w1_round(Cfg, Path, Exe, Spin).

%% N callers through a pool of N for secs seconds (after half a second
%% untimed): {calls/s, port CPU µs per call}.
pool_round(#{secs := Secs}, Path, Exe, Spin, N) ->
    {ok, _} = libsql:start_pool(?POOL, exe(Exe, #{path => Path, size => N, spin_us => Spin})),
    OsPids = pool_os_pids(N),
    Parent = self(),
    Callers = [spawn_link(fun() -> caller(Parent, 0) end) || _ <- lists:seq(1, N)],
    timer:sleep(500),
    Cpu0 = cpu_ns(OsPids),
    _ = [P ! {count, self()} || P <- Callers],
    C0 = lists:sum([receive {count, P, K} -> K end || P <- Callers]),
    timer:sleep(Secs * 1000),
    Cpu1 = cpu_ns(OsPids),
    _ = [P ! {count, self()} || P <- Callers],
    C1 = lists:sum([receive {count, P, K} -> K end || P <- Callers]),
    _ = [P ! stop || P <- Callers],
    _ = [receive {stopped, P} -> ok end || P <- Callers],
    ok = libsql:stop_pool(?POOL),
    Calls = C1 - C0,
    {Calls / Secs, (Cpu1 - Cpu0) / 1000 / max(1, Calls)}.

caller(Parent, K) ->
    receive
        {count, From} -> From ! {count, self(), K}, caller(Parent, K);
        stop -> Parent ! {stopped, self()}
    after 0 ->
        Id = rand:uniform(?ROWS),
        {ok, _, [{Id, _}]} = libsql:query(?POOL, ?SELECT, [Id]),
        caller(Parent, K + 1)
    end.

%% The OS pids of the pool's ports: every worker checked out at once.
pool_os_pids(N) ->
    Ws = [begin {ok, W} = libsql_pool:checkout(?POOL, 5000), W end || _ <- lists:seq(1, N)],
    Pids = [begin {ok, P} = libsql_conn:os_pid(W), P end || W <- Ws],
    _ = [libsql_pool:checkin(?POOL, W, true) || W <- Ws],
    Pids.

%% Time spent on a CPU by these processes, ns (schedstat's first field).
cpu_ns(OsPids) ->
    lists:sum([begin
                   {ok, B} = file:read_file("/proc/" ++ integer_to_list(P) ++ "/schedstat"),
                   [Run | _] = string:lexemes(binary_to_list(B), " \n"),
                   list_to_integer(Run)
               end || P <- OsPids]).

%% W1: {median, p99} µs over w1_calls calls (after 1000 untimed ones).
w1_round(#{w1_calls := N}, Path, Exe, Spin) ->
    {ok, C} = libsql:open(exe(Exe, #{path => Path, spin_us => Spin})),
    Call = fun() ->
                   Id = rand:uniform(?ROWS),
                   {ok, _, [{Id, _}]} = libsql:query(C, ?SELECT, [Id])
           end,
    _ = [Call() || _ <- lists:seq(1, 1000)],
    Samples = [begin
                   T0 = erlang:monotonic_time(),
                   _ = Call(),
                   erlang:monotonic_time() - T0
               end || _ <- lists:seq(1, N)],
    ok = libsql:close(C),
    Sorted = list_to_tuple(lists:sort(Samples)),
    Us = fun(Native) -> erlang:convert_time_unit(Native, native, nanosecond) / 1000 end,
    {Us(element(N div 2 + 1, Sorted)), Us(element(max(1, ceil(N * 0.99)), Sorted))}.

%% ---- the table ---------------------------------------------------------------------

report(#{rounds := Rounds, secs := Secs}, Ports, Runs, Load0, Load1) ->
    Med = fun(Key, F) -> libsql_bench:median([F(V) || V <- maps:get(Key, Runs, [])]) end,
    Cols = [{L, E, S} || {L, E} <- Ports, S <- ?SPINS],
    Row = fun(Label, Kind, F, Fmt) ->
                  [io_lib:format("  ~-44s", [Label])]
                  ++ [io_lib:format(" ~14s", [fmt(Fmt, Med({Kind, L, E, S}, F))])
                      || {L, E, S} <- Cols]
                  ++ ["\n"]
          end,
    %% Spin 50 over spin 0 of the same port in the same round, the median
    %% over rounds: steadier than the ratio of medians when the machine's
    %% load drifts.
    Ratio = fun(Label, Kind, F) ->
                    [io_lib:format("  ~-44s", [Label])]
                    ++ [io_lib:format(" ~14s", [ratio(Runs, Kind, L, E, S, F)])
                        || {L, E, S} <- Cols]
                    ++ ["\n"]
            end,
    First = fun({A, _}) -> A end,
    Second = fun({_, B}) -> B end,
    [io_lib:format("~nspin_us (~b rounds, ~b s per pool run; load ~s -> ~s)~n",
                   [Rounds, Secs, Load0, Load1]),
     io_lib:format("  ~-44s", [""]),
     [io_lib:format(" ~14s", [L ++ " spin " ++ integer_to_list(S)]) || {L, _, S} <- Cols],
     "\n",
     Row("S1 pool of 8, 8 callers (calls/s)", pool8, First, rate),
     Ratio("S1 calls/s, spin / spin 0 in each round", pool8, First),
     Row("S1 port CPU per call (us)", pool8, Second, us),
     Ratio("S1 port CPU, spin / spin 0 in each round", pool8, Second),
     Row("S2 pool of 2, 2 callers (calls/s)", pool2, First, rate),
     Ratio("S2 calls/s, spin / spin 0 in each round", pool2, First),
     Row("S2 port CPU per call (us)", pool2, Second, us),
     Row("S3 W1 one caller, median (us)", w1, First, us),
     Ratio("S3 W1 median, spin / spin 0 in each round", w1, First),
     Row("S3 W1 one caller, p99 (us)", w1, Second, us)].

%% The median over rounds of {Kind, L, E, S}'s value over spin 0's.
ratio(_Runs, _Kind, _L, _E, 0, _F) -> "";
ratio(Runs, Kind, L, E, S, F) ->
    case {maps:get({Kind, L, E, S}, Runs, []), maps:get({Kind, L, E, 0}, Runs, [])} of
        {Vs, Zs} when length(Vs) =:= length(Zs), Vs =/= [] ->
            io_lib:format("~.3f", [libsql_bench:median([F(V) / F(Z) || {V, Z} <- lists:zip(Vs, Zs)])]);
        _ -> "-"
    end.

fmt(_, undefined) -> "-";
fmt(rate, V) -> integer_to_list(round(V));
fmt(us, V) -> io_lib:format("~.1f", [V]).

load_average() ->
    case file:read_file("/proc/loadavg") of
        {ok, Bin} -> lists:join(" ", lists:sublist(string:lexemes(binary_to_list(Bin), " "), 3));
        _ -> "?"
    end.

