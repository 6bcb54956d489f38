%% @doc The embedded-replica part of the libsql benchmarks (bench/README.md,
%% "Replica"): a local tursodb 0.7.0 (`--sync-server', started with
%% test/libsql_tursodb.erl) holding a 40 MB database, and side by side in the
%% same run:
%%
%%   E1  point select on the replica vs the same file opened plainly
%%       (read_only), one connection each, median and p99 µs
%%   E2  one changed row brought into the 40 MB replica: libsql:sync/1 vs
%%       Turso's own client (@tursodatabase/sync 0.7.2, its pull()), ms
%%   E3  bootstrap of the 40 MB database into a new file: libsql:open/1
%%       (port start, pull, history probe, file written and linked) vs that
%%       client's connect() to a new file, ms
%%
%% The JS client's figures are its own timings inside node (the package is
%% loaded before the clock starts), through test/js/sync_check.mjs. Called
%% from libsql_bench:run/0; returns the text to print. LIBSQL_BENCH_REPLICA=0
%% skips it.
-module(libsql_bench_replica).

-export([run/1]).

-define(ROW_BYTES, 1000).
-define(SELECT, <<"SELECT id, v FROM t WHERE id = ?">>).
-define(LONG, 600000).

-spec run(map()) -> iolist().
run(Cfg) ->
    case os:getenv("LIBSQL_BENCH_REPLICA") of
        "0" -> ["\nreplica (tursodb): skipped: LIBSQL_BENCH_REPLICA=0\n"];
        _ -> libsql_bench:with_tursodb(Cfg, "replica", fun(Url) -> measure(Cfg#{url => Url}) end)
    end.

config(#{quick := true}) -> #{rounds => 2, mb => 40, e2_syncs => 5, e1_calls => 5000};
config(#{quick := false}) -> #{rounds => 3, mb => 40, e2_syncs => 10, e1_calls => 20000}.

measure(#{url := Url, tmp := Tmp} = Cfg0) ->
    Cfg = maps:merge(Cfg0, config(Cfg0)),
    Rows = maps:get(mb, Cfg) * 1000000 div ?ROW_BYTES,
    libsql_bench:progress("replica: filling the server with ~b MB (~b rows)",
                          [maps:get(mb, Cfg), Rows]),
    fill(Url, Rows),
    Js = libsql_sync_check:available() =:= true,
    Dir = filename:join(Tmp, "replica"),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Rounds = maps:get(rounds, Cfg),
    File = fun(Name) -> filename:join(Dir, Name) end,
    %% E3 first: it makes the files E1 and E2 use.
    E3 = libsql_bench:run_workload(
           "E3 replica bootstrap of 40 MB", Rounds,
           [#{key => {e3, libsql}, init => fun() -> counter() end,
              round => fun(C) -> bootstrap_libsql(Url, File, C) end,
              aggregate => fun libsql_bench:median/1},
            js(Js, #{key => {e3, js}, init => fun() -> counter() end,
                     round => fun(C) -> bootstrap_js(Url, File, C) end,
                     aggregate => fun libsql_bench:median/1})]),
    Mine = File("e1.db"),
    {ok, Boot} = libsql:open(#{path => Mine, url => Url, timeout => ?LONG}),
    ok = libsql:close(Boot),
    E1 = libsql_bench:run_workload(
           "E1 replica point select", Rounds,
           [e1_spec(Cfg, replica, #{path => Mine, url => Url}, Rows),
            e1_spec(Cfg, plain, #{path => Mine, read_only => true}, Rows)]),
    JsFile = File("e2_js.db"),
    _ = Js andalso element(1, libsql_sync_check:timed(bootstrap, Url, JsFile)) =:= ok,
    E2 = libsql_bench:run_workload(
           "E2 replica sync of one changed row", Rounds,
           [#{key => {e2, libsql},
              init => fun() ->
                              {ok, R} = libsql:open(#{path => File("e2.db"), url => Url,
                                                      timeout => ?LONG}),
                              {ok, W} = libsql:open(#{url => Url}),
                              {R, W}
                      end,
              round => fun({R, W}) -> e2_round(Cfg, W, Rows,
                                               fun() -> timed(fun() -> {ok, _} = libsql:sync(R) end) end)
                       end,
              stop => fun({R, W}) -> libsql:close(R), libsql:close(W) end,
              aggregate => fun libsql_bench:median/1},
            js(Js, #{key => {e2, js},
                     init => fun() -> {ok, W} = libsql:open(#{url => Url}), W end,
                     round => fun(W) -> e2_round(Cfg, W, Rows,
                                                 fun() ->
                                                         {ok, Ms} = libsql_sync_check:timed(
                                                                      pull, Url, JsFile),
                                                         Ms
                                                 end)
                              end,
                     stop => fun libsql:close/1,
                     aggregate => fun libsql_bench:median/1})]),
    report(Cfg, maps:merge(maps:merge(E1, E2), E3), Js).

js(true, Spec) -> Spec;
js(false, _) -> skip.

%% ---- data ------------------------------------------------------------------------

fill(Url, Rows) ->
    {ok, C} = libsql:open(#{url => Url, timeout => ?LONG}),
    {ok, _} = libsql:execute(C, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"),
    Pad = binary:copy(<<"x">>, ?ROW_BYTES - 20),
    _ = [{ok, _} = libsql:execute_many(C, "INSERT INTO t (id, v) VALUES (?, ?)",
                                       [[Id, <<(integer_to_binary(Id))/binary, Pad/binary>>]
                                        || Id <- lists:seq(First, min(Rows, First + 999))],
                                       #{timeout => ?LONG})
         || First <- lists:seq(1, Rows, 1000)],
    {ok, _, [{Rows}]} = libsql:query(C, "SELECT count(*) FROM t"),
    ok = libsql:close(C).

%% ---- E1 --------------------------------------------------------------------------

e1_spec(#{e1_calls := N}, Name, Opts, Rows) ->
    #{key => {e1, Name},
      init => fun() -> {ok, C} = libsql:open(Opts#{timeout => ?LONG}), C end,
      round => fun(C) -> libsql_bench:latency(N, Rows, fun(Id) -> {ok, _, [{Id, _}]} =
                                                         libsql:query(C, ?SELECT, [Id])
                                          end)
               end,
      stop => fun libsql:close/1,
      aggregate => fun(Vals) -> #{median => libsql_bench:median([M || {M, _} <- Vals]),
                                  p99 => libsql_bench:median([P || {_, P} <- Vals])}
                   end}.

%% ---- E2 --------------------------------------------------------------------------

%% K times: one row changed on the server, then Sync() timed; the median ms.
e2_round(#{e2_syncs := K}, W, Rows, Sync) ->
    libsql_bench:median(
      [begin
           Id = rand:uniform(Rows),
           {ok, #{changes := 1}} = libsql:execute(W, "UPDATE t SET v = ? WHERE id = ?",
                                                  [integer_to_binary(erlang:unique_integer()), Id]),
           Sync()
       end || _ <- lists:seq(1, K)]).

%% ---- E3 --------------------------------------------------------------------------

counter() -> atomics:new(1, []).

next(C) -> atomics:add_get(C, 1, 1).

bootstrap_libsql(Url, File, C) ->
    Path = File("e3_libsql_" ++ integer_to_list(next(C)) ++ ".db"),
    Ms = timed(fun() ->
                       {ok, R} = libsql:open(#{path => Path, url => Url, timeout => ?LONG}),
                       ok = libsql:close(R)
               end),
    _ = [file:delete(Path ++ S) || S <- ["", "-replica", "-replica.lock"]],
    Ms.

bootstrap_js(Url, File, C) ->
    Path = File("e3_js_" ++ integer_to_list(next(C)) ++ ".db"),
    {ok, Ms} = libsql_sync_check:timed(bootstrap, Url, Path),
    _ = os:cmd("rm -f '" ++ Path ++ "'*"),
    Ms.

timed(Fun) ->
    T0 = erlang:monotonic_time(),
    _ = Fun(),
    erlang:convert_time_unit(erlang:monotonic_time() - T0, native, microsecond) / 1000.

%% ---- report ----------------------------------------------------------------------

report(Cfg, Res, Js) ->
    V = fun(K) -> maps:get(value, maps:get(K, Res, #{}), undefined) end,
    Cell = fun(undefined) -> "-";
              ({error, _}) -> "failed";
              (#{median := M, p99 := P}) -> libsql_bench:fmt("~.1f / ~.1f", [M, P]);
              (X) when is_number(X) -> libsql_bench:fmt("~.1f", [X])
           end,
    Ratio = fun(A, B) when is_number(A), is_number(B), B > 0 -> libsql_bench:fmt("~.2fx", [A / B]);
               (#{median := A}, #{median := B}) when B > 0 -> libsql_bench:fmt("~.2fx", [A / B]);
               (_, _) -> "-"
            end,
    JsName = case Js of true -> "@tursodatabase/sync 0.7.2"; false -> "(node client missing)" end,
    ["\nreplica (tursodb 0.7.0, ", integer_to_list(maps:get(mb, Cfg)), " MB database; ",
     integer_to_list(maps:get(rounds, Cfg)), " interleaved rounds, median)\n",
     libsql_bench:render(
       ["workload", "libsql replica", "peer", "peer is", "ratio", "goal"],
       [["E1 point select, median / p99 us", Cell(V({e1, replica})), Cell(V({e1, plain})),
         "same file, plain", Ratio(V({e1, replica}), V({e1, plain})), "<= 1.1x"],
        ["E2 one changed row synced, ms", Cell(V({e2, libsql})), Cell(V({e2, js})), JsName,
         Ratio(V({e2, libsql}), V({e2, js})), "< 100 ms"],
        ["E3 bootstrap, ms", Cell(V({e3, libsql})), Cell(V({e3, js})), JsName,
         Ratio(V({e3, libsql}), V({e3, js})), "<= 1.0x"]])].
