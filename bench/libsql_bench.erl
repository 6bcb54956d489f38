%% @doc The libsql benchmark suite (bench/README.md). Run by `make bench':
%% the same workloads through libsql, in process in C against libsqlite3
%% (the floor, build/bench/floor), through a port that does nothing (the
%% pipe floor, build/bench/echo_port) and through p1_sqlite3 (a linked-in
%% SQLite driver, the peer). Prints one table and writes it, with the date
%% and the machine, to build/bench/latest.txt. Never fails on a number.
%%
%% LIBSQL_BENCH_QUICK=1 shrinks every workload (a run of about a minute).
%% LIBSQL_BENCH_REMOTE=0 skips the remote part (libsql_bench_remote),
%% LIBSQL_BENCH_REPLICA=0 the embedded-replica part (libsql_bench_replica),
%% LIBSQL_BENCH_CRYPT=0 the encryption part (libsql_bench_crypt),
%% LIBSQL_BENCH_CALLBACKS=0 the callbacks part (libsql_bench_callbacks: change
%% data capture, the authorizer, Erlang SQL functions),
%% LIBSQL_BENCH_VECTOR=0 the vector index part (libsql_bench_vector; its
%% 100,000 x 768 row only with LIBSQL_BENCH_VECTOR_BIG=1).
%%
%% LIBSQL_BENCH_NIFS=Dir adds the NIF peers esqlite and exqlite, built
%% outside the repository into Dir (libsql_bench_nifs).
%% LIBSQL_BENCH_VM_FLAGS: the child VMs of the variants table, flag sets
%% separated by `;' (default "+IOs false"; each runs the W1, W2 per-row and
%% W4 libsql contenders, beside a child VM without flags); 0: none.
-module(libsql_bench).

-export([main/0]).
%% for libsql_bench_remote
-export([run_workload/3, median/1, progress/2, fmt/2, rate/1, render/2, with_tursodb/3,
         latency/3, cpu_model/0, load_average/0]).
%% run in the child VMs of the variants (in_vm/2)
-export([vm_agent/3, vm_round/0, vm_stop/0]).

-define(SELECT, <<"SELECT id, name, v FROM t WHERE id = ?">>).
-define(INSERT, <<"INSERT INTO t (id, name, v) VALUES (?, ?, ?)">>).
-define(CREATE, <<"CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, v REAL)">>).
-define(SCAN, <<"SELECT id, name, v FROM t">>).
-define(LONG, 600000).      % timeout of any one call: generous, never the limit
-define(STALL_MS, 5).       % long_schedule threshold
-define(MB, 1048576).
-define(P1_BATCH, 250).     % rows per p1_sqlite3 write_many call (see batches/1)
-define(SPIN_US, "50").     % the spinning echo port's budget: libsql_conn's default
-define(RAW_GOAL_US, 2).    % issue 18 item 2: libsql:query through a pool - raw frame, W1
-define(RAW_REF, 3).        % the ref of the raw contender's frames (libsql_conn's first)
-define(VM_AGENT, libsql_bench_vm_agent).

%% The transport variants of the libsql contender: a label and the open
%% options that select it, one line each. A transport that libsql:open/1
%% does not take yet (bad_argument) is skipped with a note.
transports() ->
    [{"transport nif", #{transport => nif}}].

%% A broken harness (not a slow number) exits 1, without a crash dump.
-spec main() -> ok.
main() ->
    try
        run()
    catch
        Class:Reason:Stack ->
            io:format(standard_error, "bench: the harness failed: ~0tp:~0tp~n~0tp~n",
                      [Class, Reason, Stack]),
            erlang:halt(1)
    end.

run() ->
    Quick = os:getenv("LIBSQL_BENCH_QUICK") =:= "1",
    Cfg = config(Quick),
    Dir = filename:absname("build/bench"),
    Tmp = filename:join(Dir, "tmp"),
    _ = os:cmd("rm -rf '" ++ Tmp ++ "'"),
    ok = filelib:ensure_dir(filename:join(Tmp, "x")),
    Cfg1 = Cfg#{dir => Dir, tmp => Tmp,
                floor => filename:join(Dir, "floor"),
                echo => filename:join(Dir, "echo_port"),
                small => filename:join(Tmp, "small.db"),
                small_wal => filename:join(Tmp, "small_wal.db"),
                big => filename:join(Tmp, "big.db"),
                p1 => p1_available(), load => load_average()},
    {ok, _} = application:ensure_all_started(libsql),
    {Nifs, NifNote} = libsql_bench_nifs:available(),
    progress("~ts", [NifNote]),
    Cfg2 = Cfg1#{nifs => Nifs, nif_note => NifNote},
    Cfg3 = Cfg2#{variants => variants(Cfg2)},
    Start = erlang:monotonic_time(millisecond),
    progress("mode ~s; data: ~b rows (W1, W4), ~b rows (W3)",
             [mode(Quick), maps:get(small_rows, Cfg), maps:get(big_rows, Cfg)]),
    setup(Cfg3),
    Results = lists:foldl(fun(F, Acc) -> maps:merge(Acc, F(Cfg3)) end, #{},
                          [fun w1/1, fun w1_wal/1, fun w2/1, fun w3/1, fun w4/1,
                           fun w4_wal/1]),
    LoadEnd = load_average(),
    Crypt = libsql_bench_crypt:run(Cfg3),
    Callbacks = run_callbacks(Cfg3),
    Spin = libsql_bench_spin:run(Cfg3),
    Vector = libsql_bench_vector:run(Cfg3),
    Remote = libsql_bench_remote:run(Cfg3),
    Replica = libsql_bench_replica:run(Cfg3),
    Secs = (erlang:monotonic_time(millisecond) - Start) / 1000,
    Text = [header(Cfg3, Secs), "\n", table(Cfg3, Results), "\n", floor_lines(Results),
            nif_lines(Cfg3),
            fmt("load average at the end of the workloads above: ~ts~n", [LoadEnd]),
            "\n", raw_table(Cfg3, Results), "\n", variants_table(Cfg3, Results), "\n",
            memory_lines(Results),
            Crypt, Callbacks, Spin, Vector, Remote, Replica],
    io:put_chars(["\n", Text]),
    Latest = filename:join(Dir, "latest.txt"),
    ok = file:write_file(Latest, unicode:characters_to_binary(Text)),
    progress("table written to ~ts", [Latest]),
    _ = os:cmd("rm -rf '" ++ Tmp ++ "'"),
    ok.

config(false) ->
    #{quick => false, small_rows => 100000, big_rows => 1000000, w1_calls => 20000,
      w2_rows => 100000, w4_calls => 20000, rounds => 5, w3_rounds => 3};
config(true) ->
    #{quick => true, small_rows => 10000, big_rows => 100000, w1_calls => 2000,
      w2_rows => 10000, w4_calls => 2000, rounds => 2, w3_rounds => 1}.

%% libsql_bench_callbacks is not among the Makefile's bench beams: when its
%% beam in Dir is missing or older than bench/libsql_bench_callbacks.erl, it
%% is compiled here (into Dir) before it runs.
run_callbacks(#{dir := Dir} = Cfg) ->
    Mod = libsql_bench_callbacks,
    Src = filename:join(filename:dirname(proplists:get_value(source, module_info(compile))),
                        atom_to_list(Mod) ++ ".erl"),
    Beam = filename:join(Dir, atom_to_list(Mod) ++ ".beam"),
    case filelib:last_modified(Src) > filelib:last_modified(Beam) of
        true ->
            progress("compiling ~ts", [Src]),
            {ok, Mod} = compile:file(Src, [{outdir, Dir}, warnings_as_errors, report]),
            _ = code:purge(Mod),
            {module, Mod} = code:load_abs(filename:rootname(Beam));
        false ->
            ok
    end,
    Mod:run(Cfg).

mode(true) -> "quick (LIBSQL_BENCH_QUICK=1)";
mode(false) -> "full".

p1_available() ->
    case code:which(sqlite3) of
        non_existing ->
            Dirs = filelib:wildcard("/usr/lib/erlang/lib/p1_sqlite3-*/ebin"),
            _ = [code:add_patha(D) || D <- Dirs],
            code:which(sqlite3) =/= non_existing;
        _ ->
            true
    end.

%% The 1, 5 and 15 minute load averages: other work on this small machine
%% shows in every number.
load_average() ->
    case file:read_file("/proc/loadavg") of
        {ok, Bin} -> lists:join(" ", lists:sublist(string:lexemes(binary_to_list(Bin), " "), 3));
        _ -> "?"
    end.

progress(Fmt, Args) ->
    io:format(standard_error, "bench: " ++ Fmt ++ "~n", Args).

%% ---- data -------------------------------------------------------------------

%% The tables are written once by the C floor, so every contender reads the
%% same file contents.
%% small_wal.db is a copy of small.db in WAL mode (W1 and W4 on a WAL file).
setup(#{small := Small, small_wal := SmallWal, big := Big, small_rows := SmallRows,
        big_rows := BigRows} = Cfg) ->
    {T, _} = timer:tc(fun() ->
                              floor(Cfg, ["setup", Small, integer_to_list(SmallRows)]),
                              {ok, _} = file:copy(Small, SmallWal),
                              [["wal", "ok"]] = floor(Cfg, ["wal", SmallWal]),
                              floor(Cfg, ["setup", Big, integer_to_list(BigRows)])
                      end),
    progress("data written in ~.1f s", [T / 1.0e6]).

%% The rows that W2 inserts: the same as the C floor's.
rows(N) ->
    [[Id, <<"name-", (integer_to_binary(Id))/binary>>, Id / 7] || Id <- lists:seq(1, N)].

%% ---- running contenders, round by round ------------------------------------------
%%
%% Every workload runs its contenders interleaved: round 1 of each, then
%% round 2 of each, and so on (the order rotating), so that a burst of other
%% work on the machine hits every contender alike and the ratios hold.
%% A contender is #{key, init, round, stop, aggregate}: an agent process
%% runs Init() (not timed; connections opened there belong to it), then
%% Round(State) once per round, then Stop(State); Aggregate([RoundValue])
%% gives the reported value. erlang:system_monitor reports every
%% scheduling slot of ?STALL_MS ms or more while a round runs.

run_workload(Name, Rounds, Specs0) ->
    Specs = [S || S <- Specs0, S =/= skip],
    Agents = [{S, start_agent(S)} || S <- Specs],
    Runs = lists:foldl(
             fun(R, Acc) ->
                     progress("~s round ~b/~b", [Name, R, Rounds]),
                     N = length(Agents),
                     Rot = (R - 1) rem max(1, N),
                     {A, B} = lists:split(Rot, Agents),
                     lists:foldl(fun({#{key := Key}, Agent}, Acc1) ->
                                         Acc1#{Key => [run_round(Key, Agent) | maps:get(Key, Acc1, [])]}
                                 end, Acc, B ++ A)
             end, #{}, lists:seq(1, Rounds)),
    _ = [stop_agent(Agent) || {_, Agent} <- Agents],
    maps:from_list([{Key, summarize(Key, Agg, lists:reverse(maps:get(Key, Runs, [])))}
                    || #{key := Key, aggregate := Agg} <- Specs]).

%% Collapse the rounds of one contender: the value, or the first failure,
%% and the longest stall over all its rounds.
summarize(Key, Agg, Rounds) ->
    Stall = lists:foldl(fun(#{stall := S} = R, #{stall := M} = Acc) ->
                                Count = maps:get(stalls, Acc) + maps:get(stalls, R),
                                case S > M of
                                    true -> R#{stalls => Count};
                                    false -> Acc#{stalls => Count}
                                end
                        end, #{stall => 0, stalls => 0, stall_where => ""}, Rounds),
    Value = case [E || #{value := {error, _} = E} <- Rounds] of
                [] ->
                    try Agg([V || #{value := V} <- Rounds])
                    catch C:Why:St ->
                            progress("~p: summing up its rounds failed: ~0tp:~0tP",
                                     [Key, C, {Why, St}, 30]),
                            {error, Why}
                    end;
                [E | _] -> E
            end,
    maps:put(value, Value, maps:with([stall, stalls, stall_where], Stall)).

start_agent(#{key := Key, init := Init, round := Round} = Spec) ->
    Stop = maps:get(stop, Spec, fun(_) -> ok end),
    Parent = self(),
    {Pid, Mon} = spawn_monitor(fun() -> agent(Parent, Init, Round, Stop) end),
    receive
        {ready, Pid} -> {Pid, Mon};
        {'DOWN', Mon, process, Pid, Why} ->
            progress("~p: could not start: ~0tP", [Key, Why, 30]),
            {failed, Why}
    end.

agent(Parent, Init, Round, Stop) ->
    State = Init(),
    Parent ! {ready, self()},
    agent_loop(Parent, State, Round, Stop).

agent_loop(Parent, State, Round, Stop) ->
    receive
        round ->
            Reply = try {ok, Round(State)}
                    catch C:Why:St -> {error, {C, Why, St}}
                    end,
            Parent ! {round, self(), Reply},
            agent_loop(Parent, State, Round, Stop);
        stop ->
            _ = (catch Stop(State)),
            exit(normal)
    end.

run_round(_Key, {failed, Why}) ->
    #{value => {error, Why}, stall => 0, stalls => 0, stall_where => ""};
run_round(Key, {Pid, Mon}) ->
    Collector = spawn(fun() -> stall_collect(0, 0, "") end),
    _ = erlang:system_monitor(Collector, [{long_schedule, ?STALL_MS}]),
    Pid ! round,
    Value = receive
                {round, Pid, {ok, V}} -> V;
                {round, Pid, {error, Why}} ->
                    progress("~p failed: ~0tP", [Key, Why, 30]),
                    {error, Why};
                {'DOWN', Mon, process, Pid, Why} ->
                    progress("~p died: ~0tP", [Key, Why, 30]),
                    self() ! {'DOWN', Mon, process, Pid, Why},   % later rounds fail too
                    {error, Why}
            end,
    _ = erlang:system_monitor(undefined),
    Collector ! {stop, self()},
    {Stall, Count, Where} = receive {stall, Collector, S, C, W} -> {S, C, W}
                            after 5000 -> {0, 0, ""}
                            end,
    #{value => Value, stall => Stall, stalls => Count, stall_where => Where}.

stop_agent({failed, _}) -> ok;
stop_agent({Pid, Mon}) ->
    Pid ! stop,
    receive {'DOWN', Mon, process, Pid, _} -> ok
    after ?LONG -> exit(Pid, kill)
    end.

%% ---- the variants: libsql in child VMs with other flags, other transports ----------
%%
%% Each variant is #{label, kind}: {vm, Flags} (the libsql contenders in a
%% VM of their own, started with Flags), {opts, Extra} (opened with Extra
%% added to their options) or {skip, Why}. variant_specs/3 gives each
%% variant's contender of a workload, key {W, {variant, Label}}.

variants(Cfg) ->
    Vms = case os:getenv("LIBSQL_BENCH_VM_FLAGS") of
              "0" -> [];
              false -> ["+IOs false"];
              Env -> [string:trim(F) || F <- string:lexemes(Env, ";"), string:trim(F) =/= ""]
          end,
    [#{label => Label, kind => {vm, Flags}}
     || {Label, Flags} <- [{"child VM, no flags", ""} || Vms =/= []] ++
            [{"child VM, " ++ F, F} || F <- Vms]]
        ++ [transport_variant(Cfg, Label, Extra) || {Label, Extra} <- transports()].

%% A transport libsql:open/1 refuses as bad_argument is not there yet.
transport_variant(#{small := Path}, Label, Extra) ->
    Kind = case catch libsql:open(Extra#{path => Path}) of
               {ok, C} ->
                   ok = libsql:close(C),
                   {opts, Extra};
               {error, #{code := bad_argument}} ->
                   {skip, fmt("libsql:open/1 answers bad_argument to ~0tp (not implemented yet)",
                              [Extra])};
               Other ->
                   {skip, fmt("libsql:open/1 with ~0tp failed: ~0tP", [Extra, Other, 12])}
           end,
    case Kind of
        {skip, Why} -> progress("variant ~ts skipped: ~ts", [Label, Why]);
        _ -> ok
    end,
    #{label => Label, kind => Kind}.

%% Base(Suffix, Extra): the libsql contender of workload W opened with
%% Extra; Suffix tells the variants' files and pool names apart.
variant_specs(#{variants := Variants}, Base, W) ->
    [case Kind of
         {vm, Flags} -> in_vm(Flags, (Base(Suffix, #{}))#{key => Key});
         {opts, Extra} -> (Base(Suffix, Extra))#{key => Key};
         {skip, _} -> skip
     end
     || {I, #{label := Label, kind := Kind}} <- lists:enumerate(Variants),
        Key <- [{W, {variant, Label}}], Suffix <- ["_v" ++ integer_to_list(I)]].

%% With LIBSQL_BENCH_VM_PEERS=1, the NIF peers' contenders of workload W
%% in the child VMs too (Base(Lib, Suffix)), keys {W, {variant, Label, Lib}}:
%% the dirty scheduler flags matter to them, not to libsql.
peer_variant_specs(#{variants := Variants, nifs := Nifs}, Base, W) ->
    case os:getenv("LIBSQL_BENCH_VM_PEERS") of
        "1" ->
            [in_vm(Flags, (Base(Lib, Suffix))#{key => {W, {variant, Label, Lib}}})
             || {I, #{label := Label, kind := {vm, Flags}}} <- lists:enumerate(Variants),
                Lib <- Nifs, Suffix <- ["_v" ++ integer_to_list(I)]];
        _ ->
            []
    end.

%% A contender whose agent runs in a VM of its own, started with Flags by
%% peer (its control connection over the child's stdin and stdout, no
%% distribution), with the code paths of libsql and of this module: the
%% same code, so Init, Round and Stop travel to it as funs. The parent's
%% agent holds the peer; its rounds stay interleaved with the others'.
%% Each round also gives the CPU time the child VM and its port programs
%% used over the round's wall time (cpu, the median over rounds: 1.0 is one
%% core busy throughout), added to the value as the key cpu.
in_vm(Flags, #{init := Init, round := Round, aggregate := Agg} = Spec) ->
    Stop = maps:get(stop, Spec, fun(_) -> ok end),
    Spec#{init => fun() -> vm_start(Flags, Init, Round, Stop) end,
          round => fun(Peer) -> vm_call(Peer, vm_round, []) end,
          stop => fun(Peer) ->
                          _ = (catch vm_call(Peer, vm_stop, [])),
                          peer:stop(Peer)
                  end,
          aggregate => fun(Rounds) ->
                               Cpu = median([C / W || {_, C, W} <- Rounds]),
                               case Agg([V || {V, _, _} <- Rounds]) of
                                   #{} = M -> M#{cpu => Cpu};
                                   V -> #{value => V, cpu => Cpu}
                               end
                       end}.

vm_start(Flags, Init, Round, Stop) ->
    Paths = [filename:absname(filename:dirname(code:which(M)))
             || M <- [libsql, ?MODULE, esqlite3, 'Elixir.Exqlite.Sqlite3NIF'],
                is_list(code:which(M))],
    Args = string:lexemes(Flags, " ") ++ lists:append([["-pa", P] || P <- Paths]),
    {ok, Peer, _} = peer:start_link(#{connection => standard_io, args => Args}),
    ok = vm_call(Peer, vm_agent, [Init, Round, Stop]),
    Peer.

vm_call(Peer, Fun, Args) ->
    case peer:call(Peer, ?MODULE, Fun, Args, ?LONG) of
        {ok, V} -> V;
        {error, Why} -> error({child_vm, Why})
    end.

%% In the child VM: the agent, registered, holding Init()'s state.
-spec vm_agent(fun(() -> term()), fun((term()) -> term()), fun((term()) -> term())) ->
          {ok, ok} | {error, term()}.
vm_agent(Init, Round, Stop) ->
    Caller = self(),
    {Pid, Mon} = spawn_monitor(fun() ->
                                       true = register(?VM_AGENT, self()),
                                       State = Init(),
                                       Caller ! {vm_ready, self()},
                                       vm_loop(State, Round, Stop)
                               end),
    receive
        {vm_ready, Pid} -> erlang:demonitor(Mon, [flush]), {ok, ok};
        {'DOWN', Mon, process, Pid, Why} -> {error, Why}
    end.

vm_loop(State, Round, Stop) ->
    receive
        {round, From} ->
            Cpu0 = tree_cpu(os:getpid()),
            T0 = erlang:monotonic_time(),
            Reply = try Round(State) of
                        V -> {ok, {V, tree_cpu(os:getpid()) - Cpu0,
                                   seconds(erlang:monotonic_time() - T0)}}
                    catch C:Why:St -> {error, {C, Why, St}}
                    end,
            From ! {vm_round, self(), Reply},
            vm_loop(State, Round, Stop);
        {stop, From} ->
            _ = (catch Stop(State)),
            From ! {vm_stopped, self()}
    end.

%% CPU seconds (utime + stime + cutime + cstime, /proc) of the OS process
%% OsPid and of all its descendants alive (a port program is a child of
%% erl_child_setup, a child of the VM; one that exited is in its parent's
%% cutime + cstime).
tree_cpu(OsPid) ->
    Procs = [P || P <- [proc_stat(D) || D <- filelib:wildcard("/proc/[0-9]*")], P =/= error],
    Children = lists:foldl(fun({Pid, PPid, _}, Acc) ->
                                   maps:update_with(PPid, fun(L) -> [Pid | L] end, [Pid], Acc)
                           end, #{}, Procs),
    Cpu = maps:from_list([{Pid, C} || {Pid, _, C} <- Procs]),
    Tree = tree([list_to_integer(OsPid)], Children, []),
    lists:sum([maps:get(P, Cpu, 0) || P <- Tree]) / 100.   % clock ticks (USER_HZ)

tree([], _Children, Acc) -> Acc;
tree([P | Rest], Children, Acc) -> tree(maps:get(P, Children, []) ++ Rest, Children, [P | Acc]).

%% {Pid, PPid, utime + stime + cutime + cstime} from /proc/PID/stat.
proc_stat(Dir) ->
    case file:read_file(filename:join(Dir, "stat")) of
        {ok, Bin} ->
            %% the command name, in parentheses, may hold spaces: split after it
            [Head, Tail] = string:split(Bin, ") ", trailing),
            [Pid | _] = string:lexemes(Head, " ("),
            F = string:lexemes(Tail, " "),
            Ticks = lists:sum([binary_to_integer(lists:nth(I, F)) || I <- [12, 13, 14, 15]]),
            {binary_to_integer(Pid), binary_to_integer(lists:nth(2, F)), Ticks};
        {error, _} ->
            error
    end.

-spec vm_round() -> {ok, term()} | {error, term()}.
vm_round() ->
    vm_ask(round, vm_round).

-spec vm_stop() -> {ok, ok} | {error, term()}.
vm_stop() ->
    case vm_ask(stop, vm_stopped) of
        ok -> {ok, ok};
        E -> E
    end.

vm_ask(Msg, Tag) ->
    case whereis(?VM_AGENT) of
        undefined -> {error, no_agent};
        Pid ->
            Mon = erlang:monitor(process, Pid),
            Pid ! {Msg, self()},
            receive
                {Tag, Pid, Reply} -> erlang:demonitor(Mon, [flush]), Reply;
                {Tag, Pid} -> erlang:demonitor(Mon, [flush]), ok;
                {'DOWN', Mon, process, Pid, Why} -> {error, Why}
            end
    end.

%% A contender that runs only when p1_sqlite3 is installed.
p1(true, Spec) -> Spec;
p1(false, _Spec) -> skip.

%% ---- W1: point selects by primary key, one process ---------------------------

w1(#{small := Path, rounds := Rounds} = Cfg) ->
    Echo = fun(Key, Args) ->
                   #{key => {w1, Key}, init => fun() -> echo_open(Cfg, Args) end,
                     round => fun(Port) -> latency_round(Cfg, fun(Id) -> echo_call(Port, Id) end) end,
                     stop => fun erlang:port_close/1, aggregate => fun w1_latency/1}
           end,
    run_workload("W1 point selects", Rounds,
                 w1_specs(Cfg, Path, w1) ++
                     [w1_pool_spec(Cfg, Path, "", #{}), raw_spec(Cfg, Path),
                      Echo(echo, []), Echo(echo_spin, ["--spin-us", ?SPIN_US])] ++
                     variant_specs(Cfg, fun(_, Extra) -> w1_libsql_spec(Cfg, Path, Extra) end,
                                   w1) ++
                     %% the transports' pool of 1, for the table against the raw frame
                     [(w1_pool_spec(Cfg, Path, "_t" ++ integer_to_list(I), Extra))#{
                        key => {w1, {pool_variant, Label}}}
                      || {I, #{label := Label, kind := {opts, Extra}}}
                             <- lists:enumerate(maps:get(variants, Cfg))] ++
                     peer_variant_specs(Cfg, fun(Lib, _) -> nif_w1_spec(Cfg, Path, Lib) end, w1)).

%% The same on a copy of the file in WAL mode: SQLite's per-statement
%% locking there takes 3 system calls instead of 8 (bench/README.md).
w1_wal(#{small_wal := Path, rounds := Rounds} = Cfg) ->
    run_workload("W1 point selects, WAL file", Rounds, w1_specs(Cfg, Path, w1_wal)).

w1_latency(Vals) ->
    #{median => median([M || {M, _} <- Vals]), p99 => median([P || {_, P} <- Vals])}.

%% libsql, the C floor, p1_sqlite3 and the NIF peers doing W1 on Path,
%% keys {W, _}.
w1_specs(#{p1 := P1, w1_calls := N, nifs := Nifs} = Cfg, Path, W) ->
    Lat = fun w1_latency/1,
    P1Name = list_to_atom("bench_p1_" ++ atom_to_list(W)),
    [(w1_libsql_spec(Cfg, Path, #{}))#{key => {W, libsql}},
     #{key => {W, floor}, init => fun() -> none end,
       round => fun(_) ->
                        [{A, B}] = [{A / 1000, B / 1000} || ["w1", A, B] <-
                                        floor(Cfg, ["w1", Path, integer_to_list(N), "1"])],
                        {A, B}
                end,
       aggregate => Lat},
     p1(P1, #{key => {W, p1}, init => fun() -> p1_open(P1Name, Path) end,
              round => fun(Db) -> latency_round(Cfg, fun(Id) ->
                                  [{columns, _}, {rows, [{Id, _, _}]}] =
                                      sqlite3:sql_exec(Db, ?SELECT, [Id])
                              end)
                       end,
              stop => fun p1_close/1, aggregate => Lat})]
        ++ [(nif_w1_spec(Cfg, Path, Lib))#{key => {W, Lib}} || Lib <- Nifs].

%% A NIF peer doing W1: one connection, a query a call (libsql_bench_nifs).
nif_w1_spec(Cfg, Path, Lib) ->
    #{key => {w1, Lib}, init => fun() -> libsql_bench_nifs:open(Lib, Path) end,
      round => fun(Db) -> latency_round(Cfg, fun(Id) ->
                                  [[Id, _, _]] = libsql_bench_nifs:query(Lib, Db, ?SELECT, [Id])
                              end)
               end,
      stop => fun(Db) -> libsql_bench_nifs:close(Lib, Db) end, aggregate => fun w1_latency/1}.

%% The libsql contender of W1: one connection opened with Extra added to
%% its options (the variants: a transport), libsql:query/3. Key {w1, libsql}
%% unless the caller sets another.
w1_libsql_spec(Cfg, Path, Extra) ->
    #{key => {w1, libsql},
      init => fun() -> {ok, C} = libsql:open(Extra#{path => Path}), C end,
      round => fun(C) -> latency_round(Cfg, fun(Id) ->
                                 {ok, _, [{Id, _, _}]} = libsql:query(C, ?SELECT, [Id])
                             end)
               end,
      stop => fun libsql:close/1, aggregate => fun w1_latency/1}.

%% W1 through a pool of one connection (opened with Extra added to its
%% options): libsql:query(Pool, ...), what issue 18's goal compares with
%% the raw frame.
w1_pool_spec(Cfg, Path, Suffix, Extra) ->
    Pool = list_to_atom("libsql_bench_w1_pool" ++ Suffix),
    #{key => {w1, libsql_pool},
      init => fun() ->
                      {ok, _} = libsql:start_pool(Pool, Extra#{path => Path, size => 1}),
                      Pool
              end,
      round => fun(P) -> latency_round(Cfg, fun(Id) ->
                                 {ok, _, [{Id, _, _}]} = libsql:query(P, ?SELECT, [Id])
                             end)
               end,
      stop => fun libsql:stop_pool/1, aggregate => fun w1_latency/1}.

%% The raw frame: libsql's own port program started with the executable
%% and arguments of a libsql connection's port (read from /proc), opened
%% with the open request libsql_conn sends, then for each call the frame
%% libsql:query(C, ?SELECT, [Id]) sends (libsql_proto:encode_body(query,
%% [Sql, Params]) in libsql_proto:frame/3), encoded before the rounds, one
%% per id: erlang:port_command and a receive of the reply, undecoded. No
%% gen_server, no encoding, no decoding: what libsql adds is the rest.
raw_spec(#{small_rows := Rows} = Cfg, Path) ->
    #{key => {w1, raw},
      init => fun() ->
                      Port = raw_open(Path),
                      Frames = list_to_tuple(
                                 [iolist_to_binary(libsql_proto:frame(?RAW_REF, A, B))
                                  || Id <- lists:seq(1, Rows),
                                     {A, B} <- [libsql_proto:encode_body(query, [?SELECT, [Id]])]]),
                      %% the frames are right: the reply of one, decoded
                      true = port_command(Port, element(7, Frames)),
                      {ok, {_, [{7, <<"name-7">>, _}]}} = raw_reply(Port, decode),
                      {Port, Frames}
              end,
      round => fun({Port, Frames}) ->
                       latency_round(Cfg, fun(Id) ->
                                                  true = erlang:port_command(Port,
                                                                            element(Id, Frames)),
                                                  receive {Port, {data, _}} -> ok end
                                          end)
               end,
      stop => fun({Port, _}) -> erlang:port_close(Port) end,
      aggregate => fun w1_latency/1}.

raw_open(Path) ->
    {ok, C} = libsql:open(#{path => Path}),
    {ok, OsPid} = libsql_conn:os_pid(C),
    {ok, Cmdline} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/cmdline"),
    ok = libsql:close(C),
    [Exe | Args] = [binary_to_list(A) || A <- binary:split(Cmdline, <<0>>, [global, trim])],
    Port = open_port({spawn_executable, Exe},
                     [{packet, 4}, binary, exit_status, use_stdio, {args, Args}]),
    {ok, #{port_opts := PortOpts}} = libsql_opts:conn(#{path => Path}),
    {A, B} = libsql_proto:encode_body(open, [libsql_secret:reveal_port_opts(PortOpts)]),
    true = port_command(Port, libsql_proto:frame(1, A, B)),
    {ok, _} = raw_reply(Port, decode),
    Port.

%% The next reply (events, ref 0, skipped), decoded.
raw_reply(Port, decode) ->
    receive
        {Port, {data, Bin}} ->
            case libsql_proto:reply_ref(Bin) of
                {ok, 0} -> raw_reply(Port, decode);
                _ -> libsql_proto:decode_reply(Bin)
            end;
        {Port, {exit_status, S}} -> error({raw_port_exited, S})
    after ?LONG ->
        error(raw_port_timeout)
    end.

%% One round of W1 calls with random ids (after 1000 untimed ones): the
%% median and p99 of the per-call latency, µs.
latency_round(#{w1_calls := N, small_rows := Rows}, Call) ->
    _ = [Call(rand:uniform(Rows)) || _ <- lists:seq(1, 1000)],
    Samples = latency_loop(Call, N, Rows, []),
    Sorted = list_to_tuple(lists:sort(Samples)),
    Us = fun(Native) -> erlang:convert_time_unit(Native, native, nanosecond) / 1000 end,
    {Us(element(N div 2 + 1, Sorted)), Us(element(max(1, ceil(N * 0.99)), Sorted))}.

latency_loop(_Call, 0, _Rows, Acc) -> Acc;
latency_loop(Call, K, Rows, Acc) ->
    Id = rand:uniform(Rows),
    T0 = erlang:monotonic_time(),
    _ = Call(Id),
    T1 = erlang:monotonic_time(),
    latency_loop(Call, K - 1, Rows, [T1 - T0 | Acc]).

%% ---- W2: insert rows in one transaction ----------------------------------------

w2(#{tmp := Tmp, w2_rows := N, p1 := P1, rounds := Rounds, nifs := Nifs} = Cfg) ->
    Fresh = fun(Name) -> fresh(Tmp, Name) end,
    Rate = fun(Micros) -> N * 1.0e6 / max(1, Micros) end,
    Med = fun median/1,
    Specs =
        [#{key => {w2_many, libsql}, init => fun() -> rows(N) end,
           round => fun(Rows) ->
                            {ok, C} = libsql:open(#{path => Fresh("w2_many.db")}),
                            {ok, _} = libsql:execute(C, ?CREATE),
                            T = timed(fun() ->
                                    {ok, #{changes := N}} =
                                        libsql:execute_many(C, ?INSERT, Rows, #{timeout => ?LONG})
                                end),
                            ok = libsql:close(C),
                            Rate(T)
                    end,
           aggregate => Med},
         w2_row_spec(Cfg, "w2_row.db", #{}),
         #{key => {w2, floor}, init => fun() -> none end,
           round => fun(_) ->
                            [R] = [R || ["w2", R] <- floor(Cfg, ["w2", Fresh("w2_floor.db"),
                                                               integer_to_list(N), "1"])],
                            R
                    end,
           aggregate => Med},
         p1(P1, #{key => {w2_many, p1},
                  init => fun() ->
                                  batches([[{id, I}, {name, Nm}, {v, V}] || [I, Nm, V] <- rows(N)])
                          end,
                  round => fun(Batches) ->
                                   Db = p1_open(bench_p1_w2_many, Fresh("w2_p1_many.db")),
                                   ok = sqlite3:sql_exec(Db, ?CREATE),
                                   T = timed(fun() ->
                                           ok = sqlite3:sql_exec(Db, "BEGIN"),
                                           N = lists:sum(
                                                 [length([x || {rowid, _} <-
                                                                   sqlite3:write_many_timeout(
                                                                     Db, t, B, ?LONG)])
                                                  || B <- Batches]),
                                           ok = sqlite3:sql_exec(Db, "COMMIT")
                                       end),
                                   p1_close(Db),
                                   Rate(T)
                           end,
                  aggregate => Med}),
         p1(P1, #{key => {w2_row, p1}, init => fun() -> rows(N) end,
                  round => fun(Rows) ->
                                   Db = p1_open(bench_p1_w2_row, Fresh("w2_p1_row.db")),
                                   ok = sqlite3:sql_exec(Db, ?CREATE),
                                   T = timed(fun() ->
                                           ok = sqlite3:sql_exec(Db, "BEGIN"),
                                           lists:foreach(fun(Params) ->
                                                   {rowid, _} = sqlite3:sql_exec(Db, ?INSERT, Params)
                                               end, Rows),
                                           ok = sqlite3:sql_exec(Db, "COMMIT")
                                       end),
                                   p1_close(Db),
                                   Rate(T)
                           end,
                  aggregate => Med})]
        ++ [nif_w2_row_spec(Cfg, Lib, fmt("w2_~s_row.db", [Lib]))
            || Lib <- Nifs]
        ++ variant_specs(Cfg, fun(Suffix, Extra) ->
                                      w2_row_spec(Cfg, "w2_row_" ++ Suffix ++ ".db", Extra)
                              end, w2_row)
        ++ peer_variant_specs(Cfg, fun(Lib, Suffix) ->
                                           nif_w2_row_spec(Cfg, Lib,
                                                           fmt("w2_~s_row~s.db", [Lib, Suffix]))
                                   end, w2_row),
    Res = run_workload(fmt("W2 insert ~b rows", [N]), Rounds, Specs),
    _ = [rm_db(F) || F <- filelib:wildcard(filename:join(Tmp, "w2_*.db"))],
    Floor = maps:get({w2, floor}, Res),
    maps:merge(maps:remove({w2, floor}, Res),
               #{{w2_many, floor} => Floor, {w2_row, floor} => Floor}).

%% The per-row libsql contender of W2, on a fresh file Name in tmp,
%% opened with Extra added to its options.
w2_row_spec(#{tmp := Tmp, w2_rows := N}, Name, Extra) ->
    #{key => {w2_row, libsql}, init => fun() -> rows(N) end,
      round => fun(Rows) ->
                       {ok, C} = libsql:open(Extra#{path => fresh(Tmp, Name)}),
                       {ok, _} = libsql:execute(C, ?CREATE),
                       T = timed(fun() ->
                               {ok, ok} = libsql:transaction(C, fun(Tx) ->
                                   lists:foreach(fun(Params) ->
                                           {ok, #{changes := 1}} =
                                               libsql:execute(Tx, ?INSERT, Params)
                                       end, Rows)
                                   end)
                           end),
                       ok = libsql:close(C),
                       N * 1.0e6 / max(1, T)
               end,
      aggregate => fun median/1}.

%% A NIF peer inserting W2's rows one call a row, between BEGIN and COMMIT.
nif_w2_row_spec(#{tmp := Tmp, w2_rows := N}, Lib, Name) ->
    #{key => {w2_row, Lib}, init => fun() -> rows(N) end,
      round => fun(Rows) ->
                       Db = libsql_bench_nifs:open(Lib, fresh(Tmp, Name)),
                       ok = libsql_bench_nifs:exec(Lib, Db, ?CREATE),
                       T = timed(fun() ->
                               ok = libsql_bench_nifs:exec(Lib, Db, "BEGIN"),
                               lists:foreach(fun(Params) ->
                                       [] = libsql_bench_nifs:query(Lib, Db, ?INSERT, Params)
                                   end, Rows),
                               ok = libsql_bench_nifs:exec(Lib, Db, "COMMIT")
                           end),
                       libsql_bench_nifs:close(Lib, Db),
                       N * 1.0e6 / max(1, T)
               end,
      aggregate => fun median/1}.

fresh(Tmp, Name) ->
    Path = filename:join(Tmp, Name),
    rm_db(Path),
    Path.

%% p1_sqlite3's write_many runs one SQL script whose cost grows faster than
%% its length (1000 rows: 21 ms, 8000 rows: 10 s here), so it gets the rows
%% in batches of ?P1_BATCH (the best size measured), all in one transaction.
batches([]) -> [];
batches(L) when length(L) =< ?P1_BATCH -> [L];
batches(L) ->
    {B, Rest} = lists:split(?P1_BATCH, L),
    [B | batches(Rest)].

timed(Fun) ->
    {T, _} = timer:tc(Fun),
    T.

rm_db(Path) ->
    _ = file:delete(Path),
    _ = file:delete(Path ++ "-journal"),
    _ = file:delete(Path ++ "-wal"),
    _ = file:delete(Path ++ "-shm"),
    ok.

%% ---- W3: read every row of the big table ------------------------------------------

w3(#{big := Path, w3_rounds := Rounds, big_rows := N, p1 := P1} = Cfg) ->
    Specs =
        [#{key => {w3, libsql}, init => fun() -> none end,
           round => fun(_) -> w3_libsql_round(Path, N) end,
           aggregate => fun(Per) ->
                                #{rate => median([R || #{rate := R} <- Per]),
                                  heap => lists:max([H || #{heap := H} <- Per]),
                                  rss => lists:max([S || #{rss := S} <- Per]),
                                  rss_after => lists:max([S || #{rss_after := S} <- Per]),
                                  beam => beam_summary([B || #{beam := B} <- Per])}
                        end},
         #{key => {w3, floor}, init => fun() -> none end,
           round => fun(_) ->
                            Lines = floor(Cfg, ["w3", Path, "1"]),
                            #{rate => hd([R || ["w3", R, _] <- Lines]),
                              rss => hd([Kb * 1024 || ["rss", Kb] <- Lines])}
                    end,
           aggregate => fun(Per) ->
                                #{rate => median([R || #{rate := R} <- Per]),
                                  rss => lists:max([S || #{rss := S} <- Per])}
                        end},
         p1(P1, #{key => {w3, p1}, init => fun() -> none end,
                  round => fun(_) -> w3_p1_round(Path, N) end,
                  aggregate => fun(Per) ->
                                       #{rate => median([R || #{rate := R} <- Per]),
                                         heap => lists:max([H || #{heap := H} <- Per]),
                                         beam => beam_summary([B || #{beam := B} <- Per])}
                               end})],
    run_workload(fmt("W3 read ~b rows", [N]), Rounds, Specs).

%% One round on a fresh connection, so the port's peak RSS (VmHWM) is this
%% round's. Caller heap growth: process_info(self(), memory) sampled every
%% 1000 rows, minus its value before the fold.
w3_libsql_round(Path, N) ->
    {ok, C} = libsql:open(#{path => Path}),
    {ok, OsPid} = libsql_conn:os_pid(C),
    true = garbage_collect(),
    Base = proc_mem(),
    Sampler = beam_sampler(),
    T0 = erlang:monotonic_time(),
    {ok, {N, Peak}} =
        libsql:fold(C, ?SCAN, [],
                    fun({_, _, _}, {K, Pk}) when K rem 1000 =:= 0 -> {K + 1, max(Pk, proc_mem())};
                       ({_, _, _}, {K, Pk}) -> {K + 1, Pk}
                    end, {0, Base}, #{chunk => 1000, timeout => ?LONG}),
    T1 = erlang:monotonic_time(),
    Beam = beam_sampler_stop(Sampler),
    Status = proc_status(OsPid),
    ok = libsql:close(C),
    #{rate => N / seconds(T1 - T0), heap => max(0, max(Peak, proc_mem()) - Base),
      rss => maps:get("VmHWM", Status, 0), rss_after => maps:get("VmRSS", Status, 0),
      beam => Beam}.

%% p1_sqlite3 returns every row in one reply: growth is that result, live.
w3_p1_round(Path, N) ->
    Db = p1_open(bench_p1_w3, Path),
    true = garbage_collect(),
    Base = proc_mem(),
    Sampler = beam_sampler(),
    T0 = erlang:monotonic_time(),
    [{columns, _}, {rows, Rows}] = sqlite3:sql_exec_timeout(Db, ?SCAN, ?LONG),
    T1 = erlang:monotonic_time(),
    N = length(Rows),
    Heap = proc_mem() - Base,
    Beam = beam_sampler_stop(Sampler),
    p1_close(Db),
    #{rate => N / seconds(T1 - T0), heap => max(0, Heap), beam => Beam}.

proc_mem() ->
    {memory, M} = process_info(self(), memory),
    M.

%% erlang:memory(total) before, at its peak (sampled every 10 ms) and after.
beam_sampler() ->
    Before = erlang:memory(total),
    Parent = self(),
    Pid = spawn_link(fun() -> beam_sample(Parent, Before) end),
    {Pid, Before}.

beam_sample(Parent, Peak) ->
    receive
        stop -> Parent ! {beam_peak, self(), max(Peak, erlang:memory(total))}
    after 10 ->
        beam_sample(Parent, max(Peak, erlang:memory(total)))
    end.

beam_sampler_stop({Pid, Before}) ->
    Pid ! stop,
    receive {beam_peak, Pid, Peak} -> ok end,
    true = garbage_collect(),
    #{before => Before, peak => Peak, 'after' => erlang:memory(total)}.

beam_summary(Rounds) ->
    #{before => median([B || #{before := B} <- Rounds]),
      peak => lists:max([P || #{peak := P} <- Rounds]),
      'after' => median([A || #{'after' := A} <- Rounds])}.

%% "VmRSS:    1234 kB" lines of /proc/PID/status, in bytes.
proc_status(OsPid) ->
    case file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/status") of
        {ok, Bin} ->
            maps:from_list(
              [{binary_to_list(K), binary_to_integer(V) * 1024}
               || Line <- binary:split(Bin, <<"\n">>, [global]),
                  [K, Rest] <- [binary:split(Line, <<":">>)],
                  [V, <<"kB">>] <- [binary:split(string:trim(Rest), <<" ">>, [global, trim_all])]]);
        {error, _} ->
            #{}
    end.

%% ---- W4: two processes doing W1 at once ------------------------------------------

w4(#{small := Path, rounds := Rounds} = Cfg) ->
    Res = run_workload("W4 two processes", Rounds, w4_specs(Cfg, Path, true)),
    Others = maps:from_list(
               lists:append([[{{w4_pool, C}, V}, {{w4_direct, C}, V}]
                             || {{w4, C}, V} <- maps:to_list(Res)])),
    maps:merge(maps:filter(fun({W, _}, _) -> W =/= w4 end, Res), Others).

%% The pool row on the WAL copy of the file: keys {w4_wal, _}.
w4_wal(#{small_wal := Path, rounds := Rounds} = Cfg) ->
    Res = run_workload("W4 two processes, WAL file", Rounds, w4_specs(Cfg, Path, false)),
    maps:from_list([{{w4_wal, C}, V} || {{W, C}, V} <- maps:to_list(Res),
                                        W =:= w4 orelse W =:= w4_pool]).

%% All: with the direct connections, the echo ports and the variants.
w4_specs(#{p1 := P1, w4_calls := N, nifs := Nifs} = Cfg, Path, All) ->
    Med = fun median/1,
    Pair = fun(Key, Setup, Call, Cleanup) -> pair_spec(Cfg, Key, Setup, Call, Cleanup) end,
    Direct = [w4_direct_spec(Cfg, Path, #{}),
              Pair({w4, echo}, fun(_) -> echo_open(Cfg, []) end, fun echo_call/2,
                   fun erlang:port_close/1)]
        ++ variant_specs(Cfg, fun(Suffix, Extra) ->
                                      w4_pool_spec(Cfg, Path, Suffix, Extra)
                              end, w4_pool)
        ++ variant_specs(Cfg, fun(_, Extra) -> w4_direct_spec(Cfg, Path, Extra) end, w4_direct)
        ++ peer_variant_specs(Cfg, fun(Lib, _) -> nif_w4_spec(Cfg, Path, Lib) end, w4),
    [w4_pool_spec(Cfg, Path, "", #{}),
     #{key => {w4, floor}, init => fun() -> none end,
       round => fun(_) ->
                        [R] = [R || ["w4", R] <- floor(Cfg, ["w4", Path, integer_to_list(N), "1"])],
                        R
                end,
       aggregate => Med},
     p1(P1, Pair({w4, p1},
                 fun(I) -> p1_open(list_to_atom("bench_p1_w4_" ++ integer_to_list(I)), Path) end,
                 fun(Db, Id) ->
                         [{columns, _}, {rows, [{Id, _, _}]}] = sqlite3:sql_exec(Db, ?SELECT, [Id])
                 end,
                 fun p1_close/1))]
        ++ [nif_w4_spec(Cfg, Path, Lib) || Lib <- Nifs]
        ++ case All of true -> Direct; false -> [] end.

%% A NIF peer in W4: a connection of its own for each of the two
%% processes (a connection of these libraries is not a pool).
nif_w4_spec(Cfg, Path, Lib) ->
    pair_spec(Cfg, {w4, Lib}, fun(_) -> libsql_bench_nifs:open(Lib, Path) end,
              fun(Db, Id) -> [[Id, _, _]] = libsql_bench_nifs:query(Lib, Db, ?SELECT, [Id]) end,
              fun(Db) -> libsql_bench_nifs:close(Lib, Db) end).

w4_query(Db, Id) ->
    {ok, _, [{Id, _, _}]} = libsql:query(Db, ?SELECT, [Id]).

pair_spec(#{w4_calls := N} = Cfg, Key, Setup, Call, Cleanup) ->
    #{key => Key,
      init => fun() -> pair_start(Cfg, Setup, Call, Cleanup) end,
      round => fun(Workers) -> pair_round(Workers, N) end,
      stop => fun pair_stop/1, aggregate => fun median/1}.

%% libsql's W4 contenders, opened with Extra added to their options: two
%% processes calling a pool of 2 (named libsql_bench_pool plus Suffix), or
%% a direct connection each.
w4_pool_spec(Cfg, Path, Suffix, Extra) ->
    Pool = list_to_atom("libsql_bench_pool" ++ Suffix),
    (pair_spec(Cfg, {w4_pool, libsql}, fun(_) -> Pool end, fun w4_query/2, fun(_) -> ok end))#{
      init => fun() ->
                      {ok, _} = libsql:start_pool(Pool, Extra#{path => Path, size => 2}),
                      pair_start(Cfg, fun(_) -> Pool end, fun w4_query/2, fun(_) -> ok end)
              end,
      stop => fun(Workers) ->
                      pair_stop(Workers),
                      libsql:stop_pool(Pool)
              end}.

w4_direct_spec(Cfg, Path, Extra) ->
    pair_spec(Cfg, {w4_direct, libsql},
              fun(_) -> {ok, C} = libsql:open(Extra#{path => Path}), C end,
              fun w4_query/2, fun libsql:close/1).

%% Two workers, each Setup(I) then 1000 untimed calls; each round both
%% start together and make N calls each: calls/s until the slower is done.
pair_start(#{small_rows := Rows}, Setup, Call, Cleanup) ->
    Parent = self(),
    Workers = [spawn_link(fun() -> pair_worker(Parent, I, Setup, Call, Cleanup, Rows) end)
               || I <- [1, 2]],
    _ = [receive {ready, W} -> ok end || W <- Workers],
    Workers.

pair_round(Workers, N) ->
    T0 = erlang:monotonic_time(),
    _ = [W ! {go, self(), N} || W <- Workers],
    _ = [receive {done, W} -> ok end || W <- Workers],
    2 * N / seconds(erlang:monotonic_time() - T0).

pair_stop(Workers) ->
    _ = [begin W ! stop, receive {stopped, W} -> ok after ?LONG -> ok end end || W <- Workers],
    ok.

pair_worker(Parent, I, Setup, Call, Cleanup, Rows) ->
    St = Setup(I),
    _ = [Call(St, rand:uniform(Rows)) || _ <- lists:seq(1, 1000)],
    Parent ! {ready, self()},
    pair_worker_loop(Parent, St, Call, Cleanup, Rows).

pair_worker_loop(Parent, St, Call, Cleanup, Rows) ->
    receive
        {go, From, N} ->
            calls(St, Call, N, Rows),
            From ! {done, self()},
            pair_worker_loop(Parent, St, Call, Cleanup, Rows);
        stop ->
            _ = Cleanup(St),
            Parent ! {stopped, self()}
    end.

calls(_St, _Call, 0, _Rows) -> ok;
calls(St, Call, K, Rows) ->
    _ = Call(St, rand:uniform(Rows)),
    calls(St, Call, K - 1, Rows).

%% ---- contenders' plumbing ----------------------------------------------------------

echo_open(#{echo := Exe}, Args) ->
    Port = open_port({spawn_executable, Exe},
                     [{packet, 4}, binary, exit_status, use_stdio, {args, Args}]),
    _ = [echo_call(Port, Id) || Id <- lists:seq(1, 1000)],
    Port.

%% One round trip of a request shaped like libsql's point select.
echo_call(Port, Id) ->
    true = port_command(Port, term_to_binary({Id, query, ?SELECT, [Id]})),
    receive
        {Port, {data, Bin}} -> {Id, ok, ok} = binary_to_term(Bin);
        {Port, {exit_status, S}} -> error({echo_port_exited, S})
    end.

p1_open(Name, Path) ->
    {ok, _} = sqlite3:open(Name, [{file, Path}]),
    Name.

p1_close(Db) ->
    ok = sqlite3:close(Db).

%% Run the C floor with Args; its stdout lines split into words, numbers
%% parsed ("w1 12345 67890" -> ["w1", 12345, 67890]).
floor(#{floor := Exe}, Args) ->
    Port = open_port({spawn_executable, Exe},
                     [{args, Args}, exit_status, binary, use_stdio, stream]),
    Out = collect(Port, []),
    [[word(W) || W <- string:lexemes(Line, " ")]
     || Line <- string:lexemes(binary_to_list(Out), "\n")].

collect(Port, Acc) ->
    receive
        {Port, {data, D}} -> collect(Port, [Acc, D]);
        {Port, {exit_status, 0}} -> iolist_to_binary(Acc);
        {Port, {exit_status, S}} -> error({floor_failed, S, iolist_to_binary(Acc)})
    after ?LONG ->
        error(floor_timeout)
    end.

word(W) ->
    try list_to_integer(W)
    catch error:badarg ->
            try list_to_float(W) catch error:badarg -> W end
    end.

%% ---- measuring -----------------------------------------------------------------------

%% The longest slot, how many there were, and where the longest one ran.
stall_collect(Max, Count, Where) ->
    receive
        {monitor, Who, long_schedule, Info} ->
            %% (a slot that began before the monitor was set can report less)
            case proplists:get_value(timeout, Info, 0) of
                T when T < ?STALL_MS -> stall_collect(Max, Count, Where);
                T when T > Max -> stall_collect(T, Count + 1, stall_where(Who, Info));
                _ -> stall_collect(Max, Count + 1, Where)
            end;
        {stop, From} ->
            From ! {stall, self(), Max, Count, Where}
    end.

stall_where(Port, Info) when is_port(Port) ->
    Name = case erlang:port_info(Port, name) of
               {name, N} -> hd(string:lexemes(N, " "));
               undefined -> "?"
           end,
    fmt("port ~ts, ~0tp", [filename:basename(Name), proplists:get_value(out, Info)]);
stall_where(Pid, Info) ->
    Who = case catch process_info(Pid, registered_name) of
              {registered_name, Name} -> fmt("~ts", [Name]);
              _ ->
                  case catch proc_lib:translate_initial_call(Pid) of
                      {M, F, A} -> fmt("~ts:~ts/~b", [M, F, A]);
                      _ -> "?"
                  end
          end,
    case proplists:get_value(out, Info) of
        undefined -> fmt("process ~ts", [Who]);
        Out -> fmt("process ~ts, in ~0tp", [Who, Out])
    end.

seconds(Native) ->
    erlang:convert_time_unit(max(1, Native), native, nanosecond) / 1.0e9.

median([]) -> undefined;
median(L) ->
    S = lists:sort(L),
    N = length(S),
    case N rem 2 of
        1 -> lists:nth(N div 2 + 1, S);
        0 -> (lists:nth(N div 2, S) + lists:nth(N div 2 + 1, S)) / 2
    end.

%% ---- the report ------------------------------------------------------------------------

header(#{quick := Quick, load := Load}, Secs) ->
    Date = string:trim(os:cmd("date -u")),
    Sqlite = sqlite_version(),
    io_lib:format("libsql benchmarks, ~ts~n"
                  "machine: ~s cores, ~ts; OTP ~s, erts ~s, SQLite ~ts~n"
                  "mode: ~s; ~b rounds (W3: ~b); run took ~b s; load average at start ~ts~n",
                  [Date, string:trim(os:cmd("nproc")), cpu_model(),
                   erlang:system_info(otp_release), erlang:system_info(version), Sqlite,
                   mode(Quick), maps:get(rounds, config(Quick)),
                   maps:get(w3_rounds, config(Quick)), round(Secs), Load]).

sqlite_version() ->
    case libsql:open(#{path => ":memory:"}) of
        {ok, C} ->
            V = case libsql:query(C, <<"SELECT sqlite_version()">>) of
                    {ok, _, [{Bin}]} -> Bin;
                    _ -> <<"?">>
                end,
            _ = libsql:close(C),
            V;
        {error, _} -> <<"?">>
    end.

%% One point-select round for the replica and encryption tables: 1000
%% untimed calls, then N timed ones with random ids in 1..Rows; the median
%% and p99 of the per-call latency, us.
latency(N, Rows, Call) ->
    _ = [Call(rand:uniform(Rows)) || _ <- lists:seq(1, 1000)],
    Samples = [begin
                   Id = rand:uniform(Rows),
                   T0 = erlang:monotonic_time(),
                   _ = Call(Id),
                   erlang:monotonic_time() - T0
               end || _ <- lists:seq(1, N)],
    Sorted = list_to_tuple(lists:sort(Samples)),
    Us = fun(Native) -> erlang:convert_time_unit(Native, native, nanosecond) / 1000 end,
    {Us(element(N div 2 + 1, Sorted)), Us(element(max(1, ceil(N * 0.99)), Sorted))}.

cpu_model() ->
    case file:read_file("/proc/cpuinfo") of
        {ok, Bin} ->
            case re:run(Bin, "^model name\\s*:\\s*(.*)$", [multiline, {capture, [1], list}]) of
                {match, [M]} -> string:trim(M);
                nomatch -> "unknown cpu"
            end;
        _ -> "unknown cpu"
    end.

%% Each row: label, the four columns' values, the goal, how the ratio to
%% the floor reads (slower: libsql/floor for times and sizes, floor/libsql
%% for rates; none).
rows_spec(#{small_rows := Small, big_rows := Big, w2_rows := W2}) ->
    [{fmt("W1 point select ~s rows, median (us)", [k(Small)]),
      [{w1, libsql, median}, {w1, floor, median}, {w1, echo, median}, {w1, p1, median}],
      us, {le, 30}, time},
     {fmt("W1 point select ~s rows, p99 (us)", [k(Small)]),
      [{w1, libsql, p99}, {w1, floor, p99}, {w1, echo, p99}, {w1, p1, p99}],
      us, {le, 100}, time},
     {"W1 same, WAL file, median (us)",
      [{w1_wal, libsql, median}, {w1_wal, floor, median}, none, {w1_wal, p1, median}],
      us, none, time},
     {"W1 same, WAL file, p99 (us)",
      [{w1_wal, libsql, p99}, {w1_wal, floor, p99}, none, {w1_wal, p1, p99}],
      us, none, time},
     {fmt("W2 insert ~s rows, batched (rows/s)", [k(W2)]),
      [{w2_many, libsql, value}, {w2_many, floor, value}, none, {w2_many, p1, value}],
      rate, {ge, 400000}, rate},
     {fmt("W2 insert ~s rows, 1 call/row (rows/s)", [k(W2)]),
      [{w2_row, libsql, value}, {w2_row, floor, value}, none, {w2_row, p1, value}],
      rate, {ge, 30000}, rate},
     {fmt("W3 read ~s rows (rows/s)", [k(Big)]),
      [{w3, libsql, rate}, {w3, floor, rate}, none, {w3, p1, rate}],
      rate, {ge, 4000000}, rate},
     {"W3 caller heap growth (MB)",
      [{w3, libsql, heap}, none, none, {w3, p1, heap}], mb, {lt, 5 * ?MB}, none},
     {"W3 port RSS, peak (MB)",
      [{w3, libsql, rss}, {w3, floor, rss}, none, none], mb, {lt, 10 * ?MB}, time},
     {"W3 longest scheduler stall (ms)",
      [{w3, libsql, stall}, none, none, {w3, p1, stall}], ms, {le, ?STALL_MS}, none},
     {"W4 2 procs, pool of 2 (calls/s)",
      [{w4_pool, libsql, value}, {w4_pool, floor, value}, {w4_pool, echo, value},
       {w4_pool, p1, value}], rate, {ge, 45000}, rate},
     {"W4 2 procs, 2 direct conns (calls/s)",
      [{w4_direct, libsql, value}, {w4_direct, floor, value}, {w4_direct, echo, value},
       {w4_direct, p1, value}], rate, none, rate},
     {"W4 2 procs, pool of 2, WAL file (calls/s)",
      [{w4_wal, libsql, value}, {w4_wal, floor, value}, none, {w4_wal, p1, value}],
      rate, none, rate},
     {"Echo port round trip, median (us)",
      [none, none, {w1, echo, median}, none], us, none, none},
     {"Echo port round trip, p99 (us)",
      [none, none, {w1, echo, p99}, none], us, none, none},
     {"Echo port spinning like libsql, median (us)",
      [none, none, {w1, echo_spin, median}, none], us, none, none},
     {"Echo port spinning like libsql, p99 (us)",
      [none, none, {w1, echo_spin, p99}, none], us, none, none}].

%% The NIF peers' columns (when LIBSQL_BENCH_NIFS has them) follow
%% p1_sqlite3's, on the rows of the workloads they run: the libsql cell's
%% reference with the peer in place of libsql.
table(#{nifs := Nifs} = Cfg, Results) ->
    Head = ["workload", "libsql", "C floor", "echo port", "p1_sqlite3"]
        ++ [atom_to_list(Lib) || Lib <- Nifs] ++ ["goal", "x floor", "x echo", "x p1"],
    NifRef = fun({W, libsql, F}, Lib) ->
                     case lists:member(W, [w1, w1_wal, w2_row, w4_pool, w4_direct, w4_wal]) of
                         true -> {W, Lib, F};
                         false -> none
                     end;
                (_, _) -> none
             end,
    Rows = [begin
                Vals = [lookup(Results, Ref) || Ref <- Refs],
                [L | Refs1] = Vals,
                NifVals = [lookup(Results, NifRef(hd(Refs), Lib)) || Lib <- Nifs],
                [Label | [cell(V, Unit) || V <- Vals ++ NifVals]] ++
                    [goal(Goal, L, Unit) | [ratio(Kind, L, R) || R <- Refs1]]
            end || {Label, Refs, Unit, Goal, Kind} <- rows_spec(Cfg)],
    render(Head, Rows).

%% W1 against the raw frame (raw_spec/2): libsql's own cost per call on
%% one port, with issue 18's goal for the pool.
raw_table(#{small_rows := Small, variants := Variants}, Results) ->
    Raw = lookup(Results, {w1, raw, median}),
    Diff = fun(V) when is_number(V), is_number(Raw) -> fmt("~.1f", [V - Raw]);
              (_) -> ""
           end,
    Row = fun(Label, C, Goal) ->
                  M = lookup(Results, {w1, C, median}),
                  G = case Goal of
                          none -> "";
                          _ when is_number(M), is_number(Raw) -> goal(Goal, M - Raw, us);
                          _ -> goal(Goal, none, us)
                      end,
                  [Label, cell(M, us), cell(lookup(Results, {w1, C, p99}), us),
                   case C of raw -> ""; _ -> Diff(M) end, G]
          end,
    [fmt("W1 (point select, ~s rows), libsql beside the same request frame sent by hand "
         "(one port each; interleaved with the table's rounds):~n", [k(Small)]),
     render(["contender", "median (us)", "p99 (us)", "median - raw (us)", "goal"],
            [Row("raw frame: port_command + receive, no decoding", raw, none),
             Row("libsql:query/3, direct connection", libsql, none),
             Row("libsql:query/3, pool of 1", libsql_pool, {le, ?RAW_GOAL_US})]
            ++ [Row("libsql:query/3, pool of 1, " ++ Label, {pool_variant, Label},
                    {le, ?RAW_GOAL_US})
                || #{label := Label, kind := {opts, _}} <- Variants])].

%% The variants: libsql's W1, W2 per-row and W4 contenders in child VMs
%% started with other flags, and with other transports.
variants_table(#{variants := []}, _Results) ->
    [];
variants_table(#{variants := Variants} = Cfg, Results) ->
    Cols = [{w1, median, us}, {w1, p99, us}, {w1, cpu, pct}, {w2_row, value, rate},
            {w2_row, cpu, pct}, {w4_pool, value, rate}, {w4_pool, cpu, pct},
            {w4_direct, value, rate}],
    Row = fun(Label, C) ->
                  [Label | [cell(lookup(Results, {W, C, F}), U) || {W, F, U} <- Cols]]
          end,
    %% a NIF peer's W4 is one contender (a connection per process), under
    %% both W4 columns (w4/1)
    PeerRow = Row,
    Peers = fun(Label) ->
                    [PeerRow(fmt("  ~s", [Lib]), {variant, Label, Lib})
                     || Lib <- maps:get(nifs, Cfg),
                        maps:is_key({w1, {variant, Label, Lib}}, Results)]
            end,
    Rows = [Row("libsql, this VM (the table's column)", libsql)]
        ++ [PeerRow(fmt("  ~s", [Lib]), Lib) || Lib <- maps:get(nifs, Cfg),
                                               Peers("child VM, no flags") =/= []]
        ++ lists:append(
             [case Kind of
                  {skip, _} -> [[Label, "skipped" | lists:duplicate(length(Cols) - 1, "")]];
                  _ -> [Row(Label, {variant, Label}) | Peers(Label)]
              end || #{label := Label, kind := Kind} <- Variants]),
    Notes = [fmt("  ~ts: skipped: ~ts~n", [Label, Why])
             || #{label := Label, kind := {skip, Why}} <- Variants],
    ["libsql variants (the same contenders, interleaved with the table's rounds; a child VM is "
     "started by peer with the flags named and the same code):\n",
     render(["variant", "W1 median (us)", "p99", "CPU", "W2 1 call/row (rows/s)", "CPU",
             "W4 pool of 2 (calls/s)", "CPU", "W4 2 direct (calls/s)"], Rows),
     "CPU: the child VM's and its port programs' CPU time over the round's wall time "
     "(100% = one core busy all the time; median over rounds; /proc, 10 ms ticks).\n",
     Notes].

nif_lines(#{nif_note := Note}) ->
    [Note, "\n"].

%% A table: the header and rows of strings; the first column left-aligned,
%% the others right-aligned.
render(Head, Rows) ->
    Widths = [lists:max([string:length(lists:nth(I, R)) || R <- [Head | Rows]])
              || I <- lists:seq(1, length(Head))],
    Line = fun(R) ->
                   [Lab | Cells] = lists:zip(R, Widths),
                   [string:trim([pad_right(Lab), [["  ", pad_left(C)] || C <- Cells]], trailing),
                    "\n"]
           end,
    Rule = [lists:duplicate(lists:sum(Widths) + 2 * (length(Widths) - 1), $-), "\n"],
    [Line(Head), Rule, [Line(R) || R <- Rows]].

pad_right({S, W}) -> string:pad(S, W, trailing).
pad_left({S, W}) -> string:pad(S, W, leading).

lookup(_Results, none) -> none;
lookup(Results, {W, C, Field}) ->
    case maps:get({W, C}, Results, unavailable) of
        unavailable -> unavailable;
        #{value := {error, _}} -> failed;
        #{stall := S} when Field =:= stall -> S;
        #{value := #{} = M} -> maps:get(Field, M, none);
        #{value := V} when Field =:= value -> V;
        #{value := _} -> none
    end.

cell(none, _) -> "";
cell(unavailable, _) -> "n/a";
cell(failed, _) -> "failed";
cell(undefined, _) -> "?";
cell(V, us) -> fmt("~.1f", [float(V)]);
cell(V, pct) -> fmt("~b%", [round(100 * V)]);
cell(V, ms) -> integer_to_list(round(V));
cell(V, mb) -> fmt("~.1f", [V / ?MB]);
cell(V, rate) -> rate(V).

rate(V) when V >= 1.0e6 -> fmt("~.2fM", [V / 1.0e6]);
rate(V) when V >= 1.0e3 -> fmt("~.1fk", [V / 1.0e3]);
rate(V) -> integer_to_list(round(V)).

goal(none, _, _) -> "";
goal({Op, G}, V, Unit) ->
    Sym = case Op of le -> "<= "; lt -> "< "; ge -> ">= " end,
    Target = case Unit of
                 rate -> rate(G);
                 mb -> fmt("~b", [G div ?MB]);
                 _ -> fmt("~b", [G])
             end,
    Verdict = case is_number(V) of
                  false -> "";
                  true ->
                      Met = case Op of le -> V =< G; lt -> V < G; ge -> V >= G end,
                      case Met of true -> " met"; false -> " MISSED" end
              end,
    [Sym, Target, Verdict].

ratio(none, _, _) -> "";
ratio(time, L, F) when is_number(L), is_number(F), F > 0 -> times(L / F);
ratio(rate, L, F) when is_number(L), is_number(F), L > 0 -> times(F / L);
ratio(_, _, _) -> "".

%% How many times slower libsql is; below 1: faster (two decimals there).
times(X) when X < 1 -> fmt("~.2fx", [X]);
times(X) -> fmt("~.1fx", [X]).

%% What the floors leave for W1's goal: SQLite's work in process plus the
%% round trip of a port that waits for requests as libsql_port does is the
%% least a port-based point select can take here.
floor_lines(Results) ->
    case [lookup(Results, K) || K <- [{w1, floor, median}, {w1, echo_spin, median},
                                       {w1, libsql, median}]] of
        [F, E, L] when is_number(F), is_number(E), is_number(L) ->
            [fmt("W1 floors: C floor ~.1f + spinning echo port ~.1f = ~.1f us; libsql ~.1f "
                 "(~.1f above their sum)~n", [F, E, F + E, L, L - (F + E)])];
        _ ->
            []
    end.

memory_lines(Results) ->
    Beam = fun(C) ->
                   case lookup(Results, {w3, C, beam}) of
                       #{before := B, peak := P, 'after' := A} ->
                           fmt("~.1f / ~.1f / ~.1f MB", [B / ?MB, P / ?MB, A / ?MB]);
                       _ -> "n/a"
                   end
           end,
    Stalls = [fmt("  ~-11s ~s~n",
                  [W, lists:join("; ", [[C, " ", stall_text(maps:get({Key, Cc}, Results, unavailable))]
                                        || {Cc, C} <- [{libsql, "libsql"}, {p1, "p1_sqlite3"}],
                                           maps:is_key({Key, Cc}, Results)])])
              || {Key, W} <- [{w1, "W1"}, {w2_many, "W2 batched"}, {w2_row, "W2 per row"},
                              {w3, "W3"}, {w4_pool, "W4 pool"}, {w4_direct, "W4 direct"}]],
    RssAfter = case lookup(Results, {w3, libsql, rss_after}) of
                   V when is_number(V) -> fmt("~.1f MB", [V / ?MB]);
                   _ -> "n/a"
               end,
    RssPeak = case lookup(Results, {w3, libsql, rss}) of
                  P when is_number(P) -> fmt("~.1f MB", [P / ?MB]);
                  _ -> "n/a"
              end,
    [fmt("BEAM erlang:memory(total) during W3, before / peak / after: "
         "libsql ~s; p1_sqlite3 ~s~n", [Beam(libsql), Beam(p1)]),
     fmt("libsql port RSS during W3: peak (VmHWM) ~s, at the end (VmRSS) ~s~n",
         [RssPeak, RssAfter]),
     fmt("longest scheduler stall (erlang:system_monitor long_schedule, slots >= ~b ms; "
         "0 = none):~n", [?STALL_MS]),
     Stalls].

stall_text(#{stall := 0}) -> "0";
stall_text(#{stall := S, stalls := N, stall_where := W}) ->
    fmt("~b ms (~b slot~s; longest: ~ts)", [S, N, case N of 1 -> ""; _ -> "s" end, W]);
stall_text(_) -> "n/a".

k(N) when N >= 1000000, N rem 1000000 =:= 0 -> fmt("~bM", [N div 1000000]);
k(N) when N >= 1000, N rem 1000 =:= 0 -> fmt("~bk", [N div 1000]);
k(N) -> integer_to_list(N).

fmt(F, A) -> lists:flatten(io_lib:format(F, A)).

%% A section that needs a tursodb of its own (the remote and replica
%% parts): Measure(Url) with the server up, stopped afterwards; the text
%% of a `skipped' line when it cannot start. Label names the section.
-spec with_tursodb(map(), string(), fun((binary()) -> iolist())) -> iolist().
with_tursodb(#{tmp := Tmp}, Label, Measure) ->
    progress("~s: starting tursodb", [Label]),
    case libsql_tursodb:start(Tmp) of
        {ok, #{url := Url} = Info} ->
            try Measure(Url)
            after libsql_tursodb:stop(Info)
            end;
        {error, Why} ->
            skipped(Label, fmt("tursodb did not start: ~0tP", [Why, 20]))
    end.

skipped(Label, Why) ->
    progress("~s: skipped: ~ts", [Label, Why]),
    ["\n", Label, " (tursodb): skipped: ", Why, "\n"].
