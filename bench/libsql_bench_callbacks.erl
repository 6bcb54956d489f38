%% @doc The callbacks part of the libsql benchmarks: what change data
%% capture (subscribe/2), the authorizer (set_authorizer/2) and Erlang SQL
%% functions (create_function/4, create_aggregate/4) cost, each beside the
%% same work without them, measured in the same run:
%%
%%   CDC      N single-row inserts (libsql:execute/3, one call a row) in one
%%            libsql:transaction/2 on a fresh file each round: no
%%            subscriber, one subscriber process of `updates' that counts
%%            every {libsql_update, ...}, one of `updates' and `commits'
%%            (N updates and the commit); then the same with the N rows in
%%            one execute_many/4, without and with an `updates' subscriber.
%%            Two times per round: until the transaction returned, and
%%            until the subscriber had counted every event (the later of
%%            the two: the round's end).
%%   auth     N point selects by random id (libsql:query/3, one call each,
%%            one connection) on an N-row table, without and with
%%            set_authorizer/2 and ?RULES (twelve rules, none of which
%%            denies these queries); once with the statement cache (the
%%            rules run when a statement is compiled, so once), once with
%%            `cache_size => 0' on both sides (every call compiles, so the
%%            rules run on every call).
%%   fun      SELECT sum(inc(x)) over a recursive CTE of 1..N, inc an Erlang
%%            function (fun(X) -> X + 1 end), beside sum(abs(x)), abs being
%%            SQLite's built-in scalar function; and an Erlang aggregate
%%            (esum: Init 0, Step X + Acc, Final Acc) beside sum(x).
%%
%% Rounds are interleaved (libsql_bench:run_workload/3: round 1 of every
%% contender of a workload, then round 2, the order rotating); the ratio of
%% a row is the median of with/without taken within each round, as time
%% taken (above 1: slower), printed with the lowest and highest per-round
%% ratio. Goals (the issue): CDC overhead under 10% (the first row), the
%% authorizer's under 15% (the cached row); `met' or `MISSED'. The
%% functions have no goal: the ratio and the added time per call are the
%% figures.
%%
%% Run by `make bench' (libsql_bench:run/0 calls run/1;
%% LIBSQL_BENCH_CALLBACKS=0 skips it; LIBSQL_BENCH_QUICK=1 shrinks it).
%% This section alone, from the repository root (prints the table and
%% writes build/bench/callbacks.txt):
%%
%%   make all build/bench/libsql_bench.beam
%%   erlc -o build/bench bench/libsql_bench_callbacks.erl
%%   erl -noshell -pa _build/default/lib/libsql/ebin -pa build/bench \
%%       -eval 'libsql_bench_callbacks:main()' -s init stop
-module(libsql_bench_callbacks).

-export([run/1, main/0]).

-define(CREATE, <<"CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)">>).
-define(INSERT, <<"INSERT INTO t VALUES (?, ?)">>).
-define(SELECT, <<"SELECT id, name FROM t WHERE id = ?">>).
-define(LONG, 600000).
-define(CDC_GOAL, 1.10).
-define(AUTH_GOAL, 1.15).

%% What an application with an authorizer might say: nothing here denies
%% `SELECT id, name FROM t'; SQLite asks about the read of t.id and t.name
%% (and the select itself) when the statement is compiled, and every rule
%% is looked at for each of those questions (none matches, so all twelve).
-define(RULES,
        [{deny, read, secrets, '_'},
         {ignore, read, users, password},
         {ignore, read, users, totp_secret},
         {deny, attach, '_', '_'},
         {deny, detach, '_', '_'},
         {deny, pragma, journal_mode, '_'},
         {deny, pragma, writable_schema, '_'},
         {deny, function, load_extension, '_'},
         {deny, update, audit_log, '_'},
         {deny, delete, audit_log, '_'},
         {deny, drop_table, '_', '_'},
         {deny, alter_table, '_', '_'}]).

%% ---- entry points -----------------------------------------------------------------

%% @doc Called by libsql_bench:run/0 with its configuration (quick, tmp):
%% the text of the section.
-spec run(map()) -> iolist().
run(Cfg) ->
    case os:getenv("LIBSQL_BENCH_CALLBACKS") of
        "0" -> ["\ncallbacks: skipped: LIBSQL_BENCH_CALLBACKS=0\n"];
        _ -> measure(Cfg)
    end.

%% @doc This section on its own (see the module doc): prints it and writes
%% it to build/bench/callbacks.txt. A broken harness exits 1.
-spec main() -> ok.
main() ->
    try
        Quick = os:getenv("LIBSQL_BENCH_QUICK") =:= "1",
        Dir = filename:absname("build/bench"),
        Tmp = filename:join(Dir, "tmp_callbacks"),
        _ = os:cmd("rm -rf '" ++ Tmp ++ "'"),
        ok = filelib:ensure_dir(filename:join(Tmp, "x")),
        {ok, _} = application:ensure_all_started(libsql),
        Load = libsql_bench:load_average(),
        T0 = erlang:monotonic_time(millisecond),
        Text = measure(#{quick => Quick, tmp => Tmp, dir => Dir}),
        Secs = (erlang:monotonic_time(millisecond) - T0) / 1000,
        Head = fmt("libsql callbacks benchmark, ~ts; ~s cores, ~ts; took ~b s; "
                   "load average at start ~ts~n",
                   [string:trim(os:cmd("date -u")), string:trim(os:cmd("nproc")),
                    libsql_bench:cpu_model(), round(Secs), Load]),
        io:put_chars(["\n", Head, Text]),
        Out = filename:join(Dir, "callbacks.txt"),
        ok = file:write_file(Out, unicode:characters_to_binary([Head, Text])),
        libsql_bench:progress("written to ~ts", [Out]),
        _ = os:cmd("rm -rf '" ++ Tmp ++ "'"),
        ok
    catch
        Class:Reason:Stack ->
            io:format(standard_error, "bench: the harness failed: ~0tp:~0tp~n~0tp~n",
                      [Class, Reason, Stack]),
            erlang:halt(1)
    end.

config(#{quick := true}) -> #{rows => 10000, rounds => 3};
config(#{quick := false}) -> #{rows => 100000, rounds => 5}.

%% ---- the measurements -------------------------------------------------------------

measure(#{tmp := Tmp0} = Cfg0) ->
    Tmp = filename:join(Tmp0, "callbacks"),
    _ = os:cmd("rm -rf '" ++ Tmp ++ "'"),
    ok = filelib:ensure_dir(filename:join(Tmp, "x")),
    File = fun(Name) -> filename:join(Tmp, Name) end,
    Cfg = maps:merge(Cfg0#{tmp => Tmp, file => File}, config(Cfg0)),
    try
        measure1(Cfg)
    after
        _ = os:cmd("rm -rf '" ++ Tmp ++ "'")
    end.

measure1(#{rows := N, rounds := Rounds} = Cfg) ->
    Load = libsql_bench:load_average(),
    Rows = [[Id, <<"name-", (integer_to_binary(Id))/binary>>] || Id <- lists:seq(1, N)],
    Run = fun(Name, Specs) -> libsql_bench:run_workload(Name, Rounds, Specs) end,
    Cdc = Run(fmt("callbacks: CDC, ~b inserts, 1 call/row", [N]),
              [cdc_spec(Cfg, row, Subs, Rows) || Subs <- [[], [updates], [updates, commits]]]),
    CdcMany = Run(fmt("callbacks: CDC, ~b inserts, execute_many", [N]),
                  [cdc_spec(Cfg, many, Subs, Rows) || Subs <- [[], [updates]]]),
    AuthPath = auth_setup(Cfg, Rows),
    Auth = maps:merge(
             Run(fmt("callbacks: authorizer, ~b point selects, statement cache", [N]),
                 [auth_spec(Cfg, AuthPath, cached, A) || A <- [none, rules]]),
             Run(fmt("callbacks: authorizer, ~b point selects, cache_size 0", [N]),
                 [auth_spec(Cfg, AuthPath, uncached, A) || A <- [none, rules]])),
    Funs = maps:merge(
             Run(fmt("callbacks: scalar function over ~b rows", [N]),
                 [fun_spec(Cfg, scalar, W) || W <- [builtin, erlang]]),
             Run(fmt("callbacks: aggregate over ~b rows", [N]),
                 [fun_spec(Cfg, aggregate, W) || W <- [builtin, erlang]])),
    Res = maps:merge(maps:merge(Cdc, CdcMany), maps:merge(Auth, Funs)),
    _ = [libsql_bench:progress("callbacks ~0p ~0p rounds: ~ts",
                               [W, Who, lists:join(" ", [round_text(X) || X <- Xs])])
         || {{W, Who}, #{value := Xs}} <- lists:sort(maps:to_list(Res)), is_list(Xs)],
    report(Cfg, Load, Res).

round_text(#{tx := Tx, all := All}) -> fmt("~.1f/~.1f ms", [Tx / 1000, All / 1000]);
round_text(#{us := Us}) -> fmt("~.1f ms", [Us / 1000]).

%% ---- change data capture ------------------------------------------------------------

%% Subs: what the subscriber subscribes to ([]: no subscriber). A round's
%% value: #{tx := Us, all := Us}, from before the transaction to its return
%% and to the subscriber's last event.
cdc_spec(#{file := File, rows := N}, Style, Subs, Rows) ->
    #{key => {{cdc, Style}, Subs},
      init => fun() -> Rows end,
      round => fun(Rs) ->
                       Path = File(fmt("cdc_~s_~b.db", [Style, length(Subs)])),
                       rm_db(Path),
                       {ok, C} = libsql:open(#{path => Path, timeout => ?LONG}),
                       {ok, _} = libsql:execute(C, ?CREATE),
                       Sub = start_subscriber(C, Subs, N),
                       T0 = erlang:monotonic_time(),
                       {ok, ok} = libsql:transaction(C, insert_fun(Style, Rs, N)),
                       T1 = erlang:monotonic_time(),
                       TEnd = await_subscriber(Sub, T1),
                       ok = libsql:close(C),
                       rm_db(Path),
                       #{tx => us(T1 - T0), all => us(TEnd - T0)}
               end,
      aggregate => fun(Vals) -> Vals end}.

insert_fun(row, Rows, _N) ->
    fun(Tx) ->
            lists:foreach(fun(Params) ->
                                  {ok, #{changes := 1}} = libsql:execute(Tx, ?INSERT, Params)
                          end, Rows)
    end;
insert_fun(many, Rows, N) ->
    fun(Tx) ->
            {ok, #{changes := N}} = libsql:execute_many(Tx, ?INSERT, Rows, #{timeout => ?LONG}),
            ok
    end.

%% A process that subscribes to Subs on C and counts: N inserts into t,
%% and with `commits' one commit of N changes (after them). It reports the
%% time of the last.
start_subscriber(_C, [], _N) ->
    none;
start_subscriber(C, Subs, N) ->
    Parent = self(),
    {Pid, Mon} =
        spawn_monitor(fun() ->
                              Refs = maps:from_list(
                                       [begin {ok, Ref} = libsql:subscribe(C, K), {K, Ref} end
                                        || K <- Subs]),
                              Parent ! {subscribed, self()},
                              count(Parent, maps:get(updates, Refs), maps:get(commits, Refs, none),
                                    N, 0)
                      end),
    receive
        {subscribed, Pid} -> {Pid, Mon};
        {'DOWN', Mon, process, Pid, Why} -> error({subscriber, Why})
    end.

%% Counting the updates (U: their subscription); then, when subscribed to
%% commits too (Commits: that subscription), waiting for the commit.
count(Parent, U, Commits, N, K) when K < N ->
    receive
        {libsql_update, U, insert, <<"main">>, <<"t">>, _} -> count(Parent, U, Commits, N, K + 1);
        Other -> exit({unexpected, K, Other})
    after ?LONG -> exit({stuck, K})
    end;
count(Parent, _U, none, _N, _K) ->
    Parent ! {counted, self(), erlang:monotonic_time()};
count(Parent, _U, Commits, N, _K) ->
    receive
        {libsql_commit, Commits, #{changes := N, dropped := 0}} ->
            Parent ! {counted, self(), erlang:monotonic_time()};
        Other -> exit({unexpected, commit, Other})
    after ?LONG -> exit({stuck, commit})
    end.

await_subscriber(none, T1) ->
    T1;
await_subscriber({Pid, Mon}, T1) ->
    receive
        {counted, Pid, T} ->
            receive {'DOWN', Mon, process, Pid, _} -> ok end,
            max(T, T1);
        {'DOWN', Mon, process, Pid, Why} -> error({subscriber, Why})
    end.

%% ---- authorizer ---------------------------------------------------------------------

%% The table the selects read, and the tables the rules name (so that they
%% name real objects). Checks that the rules work as meant.
auth_setup(#{file := File, rows := N}, Rows) ->
    Path = File("auth.db"),
    {ok, C} = libsql:open(#{path => Path, timeout => ?LONG}),
    {ok, _} = libsql:execute(C, ?CREATE),
    {ok, #{changes := N}} = libsql:execute_many(C, ?INSERT, Rows, #{timeout => ?LONG}),
    _ = [{ok, _} = libsql:execute(C, S)
         || S <- [<<"CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, password TEXT, "
                    "totp_secret TEXT)">>,
                  <<"INSERT INTO users VALUES (1, 'ann', 'pw', 'totp')">>,
                  <<"CREATE TABLE secrets (k TEXT PRIMARY KEY, v TEXT)">>,
                  <<"CREATE TABLE audit_log (at INTEGER, what TEXT)">>]],
    ok = libsql:set_authorizer(C, ?RULES),
    {ok, _, [{1, <<"ann">>, null, null}]} = libsql:query(C, <<"SELECT * FROM users">>),
    {error, #{code := auth}} = libsql:query(C, <<"SELECT v FROM secrets">>),
    {error, #{code := auth}} = libsql:query(C, <<"PRAGMA journal_mode">>),
    {error, #{code := auth}} = libsql:execute(C, <<"DELETE FROM audit_log">>),
    {ok, _, [{7, <<"name-7">>}]} = libsql:query(C, ?SELECT, [7]),
    ok = libsql:close(C),
    Path.

%% Cache: cached (the default statement cache) or uncached (cache_size 0);
%% Auth: none or rules. A round's value: #{us := Us} for N selects.
auth_spec(#{rows := N}, Path, Cache, Auth) ->
    Opts = case Cache of
               cached -> #{path => Path, timeout => ?LONG};
               uncached -> #{path => Path, timeout => ?LONG, cache_size => 0}
           end,
    #{key => {{auth, Cache}, Auth},
      init => fun() ->
                      {ok, C} = libsql:open(Opts),
                      Auth =:= rules andalso (ok = libsql:set_authorizer(C, ?RULES)),
                      _ = select_loop(C, N, min(N, 2000)),
                      C
              end,
      round => fun(C) -> #{us => time_us(fun() -> select_loop(C, N, N) end)} end,
      stop => fun libsql:close/1,
      aggregate => fun(Vals) -> Vals end}.

select_loop(_C, _N, 0) -> ok;
select_loop(C, N, K) ->
    Id = rand:uniform(N),
    {ok, _, [{Id, _}]} = libsql:query(C, ?SELECT, [Id]),
    select_loop(C, N, K - 1).

%% ---- Erlang SQL functions -----------------------------------------------------------

fun_sql(N, Select) ->
    [<<"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ">>,
     integer_to_binary(N), <<") ">>, Select].

%% Kind: scalar or aggregate; Who: builtin or erlang. A round's value:
%% #{us := Us} for the query over N rows, its result checked.
fun_spec(#{rows := N}, Kind, Who) ->
    Sum = N * (N + 1) div 2,
    {Select, Expect} = case {Kind, Who} of
                           {scalar, builtin} -> {<<"SELECT sum(abs(x)) FROM c">>, Sum};
                           {scalar, erlang} -> {<<"SELECT sum(inc(x)) FROM c">>, Sum + N};
                           {aggregate, builtin} -> {<<"SELECT sum(x) FROM c">>, Sum};
                           {aggregate, erlang} -> {<<"SELECT esum(x) FROM c">>, Sum}
                       end,
    Sql = iolist_to_binary(fun_sql(N, Select)),
    #{key => {{fn, Kind}, Who},
      init => fun() ->
                      {ok, C} = libsql:open(#{path => ":memory:", timeout => ?LONG}),
                      ok = libsql:create_function(C, inc, 1, fun(X) -> X + 1 end),
                      ok = libsql:create_aggregate(C, esum, 1,
                                                   {0, fun(X, Acc) -> X + Acc end,
                                                    fun(Acc) -> Acc end}),
                      {ok, _, [{_}]} = libsql:query(C, fun_sql(100, Select)),
                      C
              end,
      round => fun(C) ->
                       Us = time_us(fun() ->
                                                    {ok, _, [{Expect}]} =
                                                        libsql:query(C, Sql, [], #{timeout => ?LONG})
                                            end),
                       #{us => Us}
               end,
      stop => fun libsql:close/1,
      aggregate => fun(Vals) -> Vals end}.

%% ---- the report ---------------------------------------------------------------------

report(#{rows := N, rounds := Rounds}, Load, Res) ->
    Rows = [row(Res, N, {cdc, row}, [], [updates], tx, none,
                fmt("CDC ~s inserts, 1 call/row, 1 tx: tx returned (rows/s)", [k(N)])),
            row(Res, N, {cdc, row}, [], [updates], all, ?CDC_GOAL,
                "  same, subscriber counted every update (rows/s)"),
            row(Res, N, {cdc, row}, [], [updates, commits], tx, none,
                "  updates + commits subscribed: tx returned (rows/s)"),
            row(Res, N, {cdc, row}, [], [updates, commits], all, none,
                "  same, subscriber counted every event (rows/s)"),
            row(Res, N, {cdc, many}, [], [updates], tx, none,
                fmt("CDC ~s inserts, execute_many, 1 tx: tx returned (rows/s)", [k(N)])),
            row(Res, N, {cdc, many}, [], [updates], all, none,
                "  same, subscriber counted every update (rows/s)"),
            row(Res, N, {auth, cached}, none, rules, us, ?AUTH_GOAL,
                fmt("authorizer, ~b rules, ~s point selects (calls/s)",
                    [length(?RULES), k(N)])),
            row(Res, N, {auth, uncached}, none, rules, us, none,
                "  same, cache_size 0: compiled every call (calls/s)"),
            row(Res, N, {fn, scalar}, builtin, erlang, us, none,
                fmt("Erlang function inc(x) vs abs(x), ~s rows (calls/s)", [k(N)])),
            row(Res, N, {fn, aggregate}, builtin, erlang, us, none,
                fmt("Erlang aggregate esum(x) vs sum(x), ~s rows (rows/s)", [k(N)]))],
    Head = ["workload", "without", "with", "ratio", "by round", "added/row (us)", "goal"],
    [fmt("~ncallbacks: change data capture, authorizer, Erlang SQL functions; each beside the "
         "same work without it~n(~b interleaved rounds, median; load average at the start of "
         "this part ~ts)~n", [Rounds, Load]),
     libsql_bench:render(Head, Rows),
     "without / with: CDC no subscriber / a subscriber process (one for both kinds on the "
     "second pair); authorizer none / the rules;\n"
     "functions SQLite's built-in / the Erlang one. Rates are N over the median round's "
     "time; the CDC rows count to the transaction's return,\n"
     "then to the later of its return and the subscriber's last event (the round's end).\n"
     "ratio: time with / time without, the median of the ratios taken within each round "
     "(1.10x = 10% overhead); by round: lowest-highest;\n"
     "added/row: the median over rounds of (time with - time without) / N rows or calls.\n",
     fmt("goals: CDC, one updates subscriber, every update counted: < ~.2fx; authorizer, "
         "statement cache: < ~.2fx.~n", [?CDC_GOAL, ?AUTH_GOAL]),
     lag_lines(Res)].

%% How long after the transaction's return the subscriber had its last event.
lag_lines(Res) ->
    Items = [{"1 call/row, updates", {cdc, row}, [updates]},
             {"1 call/row, updates + commits", {cdc, row}, [updates, commits]},
             {"execute_many, updates", {cdc, many}, [updates]}],
    ["last event counted after the transaction returned (median over rounds): ",
     lists:join("; ",
                [case maps:get({W, S}, Res, unavailable) of
                     #{value := Vals} when is_list(Vals) ->
                         fmt("~s ~.1f ms", [L, libsql_bench:median([(A - T) / 1000
                                                                    || #{tx := T, all := A} <- Vals])]);
                     _ -> [L, " n/a"]
                 end || {L, W, S} <- Items]),
     "\n"].

%% One row: W's contenders Without and With, the rounds' field F (tx, all
%% or us: times in us); N rows or calls a round.
row(Res, N, W, Without, With, F, Goal, Label) ->
    case {rounds(Res, W, Without, F), rounds(Res, W, With, F)} of
        {{ok, As}, {ok, Bs}} when length(As) =:= length(Bs) ->
            Ratios = [B / A || {A, B} <- lists:zip(As, Bs), A > 0],
            Ratio = libsql_bench:median(Ratios),
            Added = libsql_bench:median([(B - A) / N || {A, B} <- lists:zip(As, Bs)]),
            [Label, rate(N, libsql_bench:median(As)), rate(N, libsql_bench:median(Bs)),
             fmt("~.2fx", [Ratio]), fmt("~.2f-~.2f", [lists:min(Ratios), lists:max(Ratios)]),
             fmt("~.2f", [float(Added)]), goal_cell(Goal, Ratio)];
        {A, B} ->
            [Label, failed_cell(A), failed_cell(B), "-", "-", "-", goal_cell(Goal, undefined)]
    end.

rounds(Res, W, Who, F) ->
    case maps:get({W, Who}, Res, unavailable) of
        #{value := Vals} when is_list(Vals) -> {ok, [maps:get(F, V) || V <- Vals]};
        #{value := {error, _}} -> failed;
        unavailable -> unavailable
    end.

rate(N, Us) when Us > 0 -> libsql_bench:rate(N * 1.0e6 / Us);
rate(_, _) -> "?".

failed_cell({ok, _}) -> "?";
failed_cell(failed) -> "failed";
failed_cell(unavailable) -> "n/a".

goal_cell(none, _) -> "";
goal_cell(Limit, undefined) -> fmt("< ~.2fx", [Limit]);
goal_cell(Limit, R) ->
    [fmt("< ~.2fx ", [Limit]), case round(R * 100) / 100 < Limit of
                                   true -> "met";
                                   false -> "MISSED"
                               end].

%% ---- helpers ------------------------------------------------------------------------

time_us(Fun) ->
    T0 = erlang:monotonic_time(),
    _ = Fun(),
    us(erlang:monotonic_time() - T0).

us(Native) -> erlang:convert_time_unit(Native, native, microsecond).

rm_db(Path) ->
    _ = [file:delete(Path ++ S) || S <- ["", "-journal", "-wal", "-shm"]],
    ok.

fmt(F, A) -> libsql_bench:fmt(F, A).

k(N) when N rem 1000 =:= 0 -> fmt("~bk", [N div 1000]);
k(N) -> integer_to_list(N).
