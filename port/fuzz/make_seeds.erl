#!/usr/bin/env escript
%% -*- erlang -*-
%%
%% make_seeds.erl - writes the seed corpus of the port fuzzers.
%%
%%   escript port/fuzz/make_seeds.erl [OutDir]      (default test/fuzz_corpus)
%%
%% OutDir/request/NAME: one request frame body each (what fuzz_request and
%% the corpus replay in port/test/test_fuzz_corpus.c take): a valid request for
%% every command with typical arguments, then malformed ones.
%%
%% OutDir/frames/NAME: input of fuzz_frames: one configuration byte (see
%% port/fuzz/fuzz_harness.h, FUZZ_FRAMES_*), then a {packet,4} byte stream.
%%
%% OutDir/nif_frames/NAME: input of fuzz_nif_frames: eight configuration
%% bytes (port/fuzz/fuzz_nif_frames.h), then what the port program writes
%% into the NIF's answer pipe: answers {Ref, Tag, Result}, events, frames
%% cut off, lengths no program sends.
%%
%% Seeds are written with term_to_binary/1,2 as the Erlang side sends them.
%% The function_* request seeds run in name order on one port (the corpus
%% replay's order): functions registered, called (no channel in the fuzzer:
%% every call fails), deleted.
%% Handle ids 1 and 2 are the fixture statement and cursor that the harness
%% creates on a fresh port (fuzz_harness.h). Re-running rewrites the same
%% files; files it does not know about (promoted inputs) are left alone.
-mode(compile).

main([]) -> main(["test/fuzz_corpus"]);
main([Out]) ->
    Req = filename:join(Out, "request"),
    Frames = filename:join(Out, "frames"),
    ok = filelib:ensure_dir(filename:join(Req, "x")),
    ok = filelib:ensure_dir(filename:join(Frames, "x")),
    Rs = requests(),
    [write(Req, Name, Bin) || {Name, Bin} <- Rs],
    Fs = frames(),
    [write(Frames, Name, Bin) || {Name, Bin} <- Fs],
    NifFrames = filename:join(Out, "nif_frames"),
    ok = filelib:ensure_dir(filename:join(NifFrames, "x")),
    Ns = nif_frames(),
    [write(NifFrames, Name, Bin) || {Name, Bin} <- Ns],
    io:format("~b request seeds in ~s, ~b frame seeds in ~s, ~b nif frame seeds in ~s~n",
              [length(Rs), Req, length(Fs), Frames, length(Ns), NifFrames]).

write(Dir, Name, Bin) ->
    ok = file:write_file(filename:join(Dir, Name), Bin).

t(T) -> term_to_binary(T).
t2(T) -> term_to_binary(T, [{minor_version, 2}]).  % UTF-8 atoms
t0(T) -> term_to_binary(T, [{minor_version, 0}]).  % FLOAT_EXT floats

-define(MAX64, 9223372036854775807).
-define(MIN64, -9223372036854775808).

requests() ->
    Sel = <<"SELECT a, b, c, d FROM t WHERE a >= ?">>,
    Ins = <<"INSERT INTO t(b, c, d) VALUES (?, ?, ?)">>,
    Values = [null, 0, -1, 255, 256, 2147483647, -2147483648, ?MAX64, ?MIN64,
              1.5, -0.0, 1.0e308, infinity, neg_infinity,
              <<"text">>, <<>>, <<"caf", 195, 169>>, {blob, <<0, 1, 2, 255>>}, {blob, <<>>}],
    ValSql = iolist_to_binary(["SELECT ", lists:join(", ", lists:duplicate(length(Values), "?"))]),
    [%% connection
     {"open_memory", t({1, open, [{path, <<":memory:">>}]})},
     {"open_all_options", t({3, open, [{path, <<":memory:">>}, {read_only, false}, {create, true},
                                       {busy_timeout, 100}, {cache_size, 10},
                                       {max_result_bytes, 65536}]})},
     {"open_uri_memory", t2({5, open, [{path, <<"file::memory:">>}, {cache_size, 0}]})},
     {"open_no_path", t({7, open, [{cache_size, 5}]})},
     {"open_unknown_key", t({9, open, [{path, <<":memory:">>}, {bogus, 1}]})},
     {"open_not_list", t({11, open, {path, <<":memory:">>}})},
     {"open_improper", t({13, open, [{path, <<":memory:">>} | foo]})},
     {"close", t({20, close})},
     {"ping", t({21, ping})},
     {"info", t({22, info})},
     {"stats", t({23, stats})},
     {"reset", t({24, reset})},
     {"begin_deferred", t({32, 'begin', deferred})},
     {"begin_read_only", t({33, 'begin', read_only})},
     {"begin_bad_mode", t({34, 'begin', sometimes})},
     {"commit", t({35, commit})},
     {"rollback", t({36, rollback})},
     {"savepoint", t({37, savepoint, savepoint, <<"sp_1">>})},
     {"savepoint_release", t({38, savepoint, release, <<"sp_1">>})},
     {"savepoint_rollback_to", t({39, savepoint, rollback_to, <<"sp_1">>})},
     {"savepoint_bad_name", t({19, savepoint, savepoint, <<"a; DROP TABLE u">>})},
     {"set_busy_timeout", t({25, set_busy_timeout, 250})},
     {"set_busy_timeout_bad", t({26, set_busy_timeout, -1})},
     {"limit_read", t({27, limit, sql_length, -1})},
     {"limit_set", t2({28, limit, expr_depth, 50})},
     {"limit_unknown", t({29, limit, bogus, 1})},
     {"backup_memory", t({30, backup, <<":memory:">>, same})},
     {"backup_empty", t({31, backup, <<>>, same})},
     %% statements
     {"execute_create", t({40, execute, <<"CREATE TABLE IF NOT EXISTS u(x INTEGER PRIMARY KEY, y)">>, []})},
     {"execute_insert", t({41, execute, Ins, [<<"four">>, 4.25, {blob, <<"x">>}]})},
     {"execute_update_named", t({42, execute, <<"UPDATE t SET b = :b WHERE a = @a">>,
                                 {named, [{<<"b">>, <<"new">>}, {<<"@a">>, 1}]}})},
     {"query_select", t({43, query, Sel, [1]})},
     {"query_all_values", t({44, query, ValSql, Values})},
     {"query_string_params", t({45, query, <<"SELECT ?, ?, ?">>, [1, 2, 3]})},
     {"query_named_prefixes", t({46, query, <<"SELECT :a, @b, $c">>,
                                 {named, [{<<"a">>, 1}, {<<"@b">>, <<"x">>}, {<<"c">>, null}]}})},
     {"query_float_ext", t0({47, query, <<"SELECT ?">>, [2.5]})},
     {"query_big_out_of_range", t({48, query, <<"SELECT ?">>, [1 bsl 64]})},
     {"query_two_statements", t({49, query, <<"SELECT 1; SELECT 2">>, []})},
     {"query_empty_sql", t({50, query, <<"  -- nothing">>, []})},
     {"query_syntax_error", t({51, query, <<"SELEC 1">>, []})},
     {"query_cte", t({52, query, <<"WITH c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 50) "
                                    "SELECT x, x * x FROM c">>, []})},
     {"query_nul_sql", t({53, query, <<"SELECT 1", 0, "x">>, []})},
     {"query_wrong_count", t({54, query, <<"SELECT ?">>, [1, 2]})},
     {"batch_tx", t({60, batch, [{<<"INSERT INTO t(b) VALUES (?)">>, [<<"b1">>]},
                                {<<"SELECT count(*) FROM t">>, []}], true})},
     {"batch_no_tx_error", t({61, batch, [{<<"SELECT 1">>, []}, {<<"SELECT nope">>, []}], false})},
     {"batch_bad_element", t({62, batch, [foo], true})},
     {"execute_many", t({63, execute_many, Ins, [[<<"m1">>, 1.0, null], [<<"m2">>, null, {blob, <<1>>}]]})},
     {"execute_many_bad", t({64, execute_many, Ins, [[1], [1, 2, 3]]})},
     {"execute_script", t({65, execute_script, <<"BEGIN; CREATE TABLE IF NOT EXISTS s(z); "
                                                 "INSERT INTO s VALUES (1); COMMIT;">>})},
     {"execute_script_params", t({66, execute_script, <<"SELECT 1; SELECT ?">>})},
     {"execute_script_error", t({67, execute_script, <<"SELECT 1; SELEC 2; SELECT 3">>})},
     %% prepared statements and cursors (ids 1 and 2: the harness fixture)
     {"prepare", t({70, prepare, Sel})},
     {"prepare_named", t({71, prepare, <<"SELECT :x AS x, ?5">>})},
     {"stmt_query", t({72, stmt_query, 1, [0]})},
     {"stmt_execute", t({73, stmt_execute, 1, [2]})},
     {"stmt_query_unknown", t({74, stmt_query, 99999, []})},
     {"finalize", t({75, finalize, 1})},
     {"cursor_open", t({76, cursor_open, <<"SELECT * FROM t">>, []})},
     {"cursor_fetch", t({77, cursor_fetch, 2, 2})},
     {"cursor_fetch_bad_max", t({78, cursor_fetch, 2, 0})},
     {"cursor_close", t({79, cursor_close, 2})},
     {"cursor_close_unknown", t({80, cursor_close, 12345})},
     %% control commands
     {"interrupt", t({90, interrupt})},
     {"cancel", t({91, cancel, 5})},
     {"cancel_bad", t({92, cancel, <<"x">>})},
     %% Erlang SQL functions, and answers to callbacks (nobody waits)
     {"function_1_create", t({120, create_function, <<"f">>, 1, 7, []})},
     {"function_2_create_aggregate", t({121, create_function, <<"agg">>, 1, 8, [aggregate, deterministic]})},
     {"function_3_create_any_arity", t({122, create_function, <<"g">>, -1, 9, [deterministic]})},
     {"function_4_call", t({123, query, <<"SELECT f(1), g(a, b) FROM t">>, []})},
     {"function_5_aggregate", t({124, query, <<"SELECT agg(a) FROM t GROUP BY b">>, []})},
     {"function_6_window", t({125, query, <<"SELECT agg(a) OVER () FROM t">>, []})},
     {"function_7_delete", t({126, delete_function, <<"f">>, 1})},
     {"function_8_delete_unknown", t({127, delete_function, <<"nope">>, 3})},
     {"function_bad_flags", t({128, create_function, <<"f">>, 1, 7, [bogus]})},
     {"function_bad_arity", t({129, create_function, <<"f">>, 128, 7, []})},
     {"function_bad_id", t({130, create_function, <<"f">>, 1, 0, []})},
     {"function_bad_name", t({131, create_function, <<>>, 1, 7, []})},
     {"function_name_nul", t({132, create_function, <<"f", 0, "g">>, 1, 7, []})},
     {"function_flags_improper", t({133, create_function, <<"f">>, 1, 7, [aggregate | deterministic]})},
     {"answer", t({134, answer, 1, {ok, 42}})},
     {"answer_error", t({135, answer, 2, {error, <<"nope">>}})},
     {"answer_bad_id", t({136, answer, foo, ok})},
     {"answer_arity", t({137, answer, 1})},
     %% malformed frames
     {"bad_not_tuple", t([1, ping])},
     {"bad_ref_zero", t({0, ping})},
     {"bad_ref_too_big", t({2147483648, ping})},
     {"bad_ref_not_int", t({<<"r">>, ping})},
     {"bad_cmd_not_atom", t({100, "ping"})},
     {"bad_unknown_cmd", t({101, frobnicate})},
     {"bad_arity", t({102, query, <<"SELECT 1">>})},
     {"bad_short_tuple", t({103})},
     {"bad_truncated", binary:part(t({104, query, <<"SELECT 1">>, []}), 0, 12)},
     {"bad_trailing", <<(t({105, ping}))/binary, 0>>},
     {"bad_version", <<130, (binary:part(t({106, ping}), 1, 9))/binary>>},
     {"bad_pid", t({107, ping, self()})},
     {"bad_deep", t({108, query, <<"SELECT ?">>, [deep(40)]})},
     {"bad_large_tuple", t(list_to_tuple([109, info | lists:duplicate(300, 0)]))},
     {"bad_map", t({110, query, <<"SELECT ?">>, #{a => 1}})},
     {"bad_bitstring", t({111, query, <<"SELECT ?">>, [<<1:3>>]})},
     {"bad_empty", <<>>}].

deep(0) -> 0;
deep(N) -> [deep(N - 1)].

%% A frame: 4-byte big-endian length, then the body.
f(Body) -> <<(byte_size(Body)):32, Body/binary>>.

%% Configuration byte of fuzz_frames: bits 0-2 pick the read-ahead buffer
%% size, bits 3-5 the largest frame accepted (FUZZ_FRAMES_* in
%% fuzz_harness.h).
cfg(Cap, Max) -> <<(Cap bor (Max bsl 3))>>.

frames() ->
    Ping = t({1, ping}),
    Query = t({2, query, <<"SELECT ?">>, [1]}),
    Big = t({42, query, binary:copy(<<"x">>, 300), []}),
    [{"one_ping", <<(cfg(6, 7))/binary, (f(Ping))/binary>>},
     {"two_frames_buffered", <<(cfg(3, 7))/binary, (f(Ping))/binary, (f(Query))/binary>>},
     {"unbuffered", <<(cfg(0, 7))/binary, (f(Query))/binary, (f(Ping))/binary>>},
     {"too_large_then_ping", <<(cfg(5, 4))/binary, (f(Big))/binary, (f(Ping))/binary>>},
     {"too_large_unbuffered", <<(cfg(0, 2))/binary, (f(Big))/binary, (f(Ping))/binary>>},
     {"empty_frame", <<(cfg(4, 7))/binary, (f(<<>>))/binary, (f(Ping))/binary>>},
     {"garbage_frame", <<(cfg(4, 7))/binary, (f(<<1, 2, 3, 4, 5>>))/binary>>},
     {"truncated_header", <<(cfg(4, 7))/binary, (f(Ping))/binary, 0, 0>>},
     {"truncated_body", <<(cfg(2, 7))/binary, 0, 0, 0, 20, 131, 104, 2>>},
     {"huge_length", <<(cfg(7, 0))/binary, 255, 255, 255, 255, 131>>},
     {"float_ext", <<(cfg(1, 7))/binary, (f(t0({3, query, <<"SELECT ?">>, [0.5]})))/binary>>},
     {"control", <<(cfg(6, 5))/binary, (f(t({4, cancel, 2})))/binary, (f(t({5, interrupt})))/binary>>},
     %% what intake sorts: worker requests, control commands, answers nobody
     %% waits for (dropped), a malformed answer, one cut off at the end
     {"callbacks", <<(cfg(6, 7))/binary,
                     (f(t({6, create_function, <<"f">>, 1, 7, []})))/binary,
                     (f(t({7, answer, 1, {ok, 42}})))/binary,
                     (f(t({8, query, <<"SELECT f(1)">>, []})))/binary,
                     (f(t({9, answer, 2, {error, <<"nope">>}})))/binary,
                     (f(t({10, cancel, 8})))/binary,
                     (f(t({11, answer, foo, ok})))/binary,
                     (f(t({12, answer, 1})))/binary,
                     (f(t({13, interrupt})))/binary>>},
     {"answer_cut", <<(cfg(4, 6))/binary, (f(t({14, answer, 3, {ok, 1}})))/binary,
                      (binary:part(f(t({15, answer, 4, {ok, 1}})), 0, 9))/binary>>},
     {"empty", <<(cfg(0, 0))/binary>>}].

%% The configuration bytes of fuzz_nif_frames (fuzz_nif_frames.h): chunk
%% sizes (0-7), EAGAIN share (0-3), EINTR, aim (the lane waits for a ref
%% just ahead), eio (the pipe fails), the owner's and the lane's budget
%% (0-7), lane (share of lane calls, 0-3), cap (allocation cap, 0-7),
%% stage (staging buffer, 0-7), seed (0-1023), ref (the lane's).
ncfg(M) ->
    G = fun(K) -> maps:get(K, M, 0) end,
    B0 = G(chunk) bor (G(eagain) bsl 3) bor (G(eintr) bsl 5) bor (G(aim) bsl 6) bor (G(eio) bsl 7),
    B1 = G(owner_budget) bor (G(lane_budget) bsl 3) bor (G(lane) bsl 6),
    B2 = G(cap) bor (G(stage) bsl 3) bor (((G(seed) bsr 8) band 3) bsl 6),
    <<B0, B1, B2, (G(seed) band 255), (G(ref)):32>>.

%% Bytes that are the same on every run (no rand: seeds are rewritten
%% identically).
pattern(N) -> << <<(I rem 251)>> || I <- lists:seq(1, N) >>.

-define(LANE, 16#40000000).  % lane refs start here (libsql_nif.c)

nif_frames() ->
    A = fun(Ref, Res) -> f(t({Ref, ok, Res})) end,
    Event = f(t({event, 7, {row, [1, <<"x">>]}})),
    R = ?LANE + 5,
    Mixed = [A(3, 1), Event, A(R, [1, 2, 3]), A(R + 1, <<"more">>), f(<<>>), A(R, ok),
             f(pattern(300)), A(?LANE, pattern(40))],
    [{"owner_byte_by_byte", <<(ncfg(#{owner_budget => 7}))/binary, (iolist_to_binary(Mixed))/binary>>},
     {"lane_among_others", <<(ncfg(#{chunk => 2, eagain => 1, lane => 3, lane_budget => 6,
                                     owner_budget => 7, ref => R}))/binary,
                             (iolist_to_binary(Mixed))/binary>>},
     {"lane_aim_mixed", <<(ncfg(#{chunk => 6, eagain => 2, eintr => 1, aim => 1, lane => 2,
                                  owner_budget => 3, lane_budget => 4, seed => 77}))/binary,
                          (iolist_to_binary(Mixed ++ Mixed))/binary>>},
     {"cap_retry", <<(ncfg(#{chunk => 1, cap => 3, lane => 1, aim => 1}))/binary,
                     (iolist_to_binary([f(<<>>), f(pattern(7)), f(pattern(8)), A(R, pattern(100)),
                                        f(pattern(7)), f(pattern(2000))]))/binary>>},
     {"huge_length", <<(ncfg(#{chunk => 3}))/binary, (A(1, ok))/binary, Event/binary,
                       16#80000000:32, "x">>},
     {"all_ones_length", <<(ncfg(#{chunk => 0}))/binary, 16#ffffffff:32>>},
     {"max_length_cut", <<(ncfg(#{chunk => 4}))/binary, (A(2, ok))/binary, 16#7fffffff:32, 1, 2, 3>>},
     {"partial_header", <<(ncfg(#{chunk => 7}))/binary, (A(R, 1))/binary, 0, 0>>},
     {"cut_body", <<(ncfg(#{chunk => 1, eagain => 1}))/binary, Event/binary, 0, 0, 0, 100, "abc">>},
     {"small_stage", <<(ncfg(#{chunk => 2, stage => 1, owner_budget => 1, lane => 1, ref => R}))/binary,
                       (iolist_to_binary(Mixed))/binary>>},
     {"stage_edges", <<(ncfg(#{chunk => 7, stage => 4, eagain => 1}))/binary,
                       (iolist_to_binary([f(pattern(N)) || N <- [10, 11, 12, 13, 0, 16, 3]]))/binary>>},
     {"pipe_error", <<(ncfg(#{chunk => 1, eio => 1, eintr => 1, seed => 200}))/binary,
                      (iolist_to_binary(Mixed))/binary>>},
     {"budget_picks", <<(ncfg(#{chunk => 2, lane => 2, aim => 1, eagain => 1, seed => 6}))/binary,
                        (iolist_to_binary(Mixed))/binary>>},
     %% across the NIF's 64 KiB staging buffer: a frame that does not fit,
     %% then the lane's answer behind it
     {"across_stage", <<(ncfg(#{chunk => 3, owner_budget => 6, lane_budget => 6, lane => 2,
                                aim => 1, eagain => 2, seed => 8}))/binary,
                        (iolist_to_binary([f(pattern(65530)), A(R, 1), f(pattern(4000)),
                                           A(R + 2, 2)]))/binary>>},
     {"config_only", ncfg(#{lane => 3, ref => R})},
     {"short_config", <<3, 255, 7>>}].
