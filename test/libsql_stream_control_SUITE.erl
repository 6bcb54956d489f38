%% Common Test suite: streaming (fold, cursors), metadata and control
%% (info, busy timeout, interrupt, reset, limits, pragmas, backup) and
%% concurrency on one WAL file, through the real port program.
%%
%% Every case asserts exact values. Figures (rows/s, port RSS, heap,
%% interrupt latency, writer time) are printed with ct:pal.
-module(libsql_stream_control_SUITE).

-include_lib("common_test/include/ct.hrl").
-include("libsql.hrl").

-import(libsql_test_util, [db_path/2, expect_error/2, contains/2, rss_kb/1, timed/1]).

-export([all/0, groups/0, suite/0, init_per_suite/1, end_per_suite/1]).

%% streaming
-export([fold_million_rows/1, query_million_rows/1, cursor_chunks/1,
         cursor_fetch_after_done/1, cursor_fetch_after_close/1, cursor_close_twice/1,
         cursor_owner_dies/1, cursor_open_errors/1, cursor_open_timeout_opt/1,
         fold_fun_raises/1, fold_fun_raises_last_chunk/1, fold_fun_throws_exits/1,
         fold_sql_error/1, fold_midstream_error/1, fold_bad_args/1,
         fold_rows_maps/1, fold_in_transaction/1, fold_default_chunk/1,
         fold_interrupted/1, fold_conn_closed/1]).
%% metadata and control
-export([info_memory/1, info_counters/1, info_file/1, info_relative_file/1,
         info_read_only/1, info_autocommit/1, info_journal_wal/1,
         busy_timeout_set/1, busy_timeout_bad/1, interrupt_long_query/1,
         interrupt_idle/1, interrupt_idle_open_cursor/1, reset_clean_state/1, reset_idle/1, limit_variable_number/1,
         limit_bad/1, backup_roundtrip/1, backup_memory/1, backup_unwritable/1,
         backup_bad_path/1]).
%% pragmas
-export([pragma_foreign_keys/1, pragma_journal_mode/1, pragma_synchronous/1,
         pragma_cache_size/1, pragma_table_info/1, pragma_index_list/1,
         pragma_integrity_check/1, pragma_wal_checkpoint/1, pragma_user_version/1,
         pragma_optimize/1, pragma_bad_setters/1, pragma_table_name_not_text/1]).
%% concurrency
-export([wal_reader_not_blocked/1, wal_four_writers/1]).

-type config() :: [{atom(), term()}].

-define(MILLION, 1000000).
%% Runs for minutes unless interrupted.
-define(ENDLESS_SQL, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) "
                     "SELECT count(*) FROM c WHERE x < 2000000000").
-define(TEN_SQL, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c "
                 "WHERE x < 10) SELECT x FROM c").

%% ---- CT callbacks ------------------------------------------------------

-spec suite() -> [tuple()].
suite() -> [{timetrap, {seconds, 90}}].

-spec all() -> [{group, atom()}].
all() ->
    [{group, streaming}, {group, control}, {group, pragma}, {group, concurrency}].

-spec groups() -> [{atom(), list(), [atom()]}].
groups() ->
    [{streaming, [], [fold_million_rows, query_million_rows, cursor_chunks,
                      cursor_fetch_after_done, cursor_fetch_after_close, cursor_close_twice,
                      cursor_owner_dies, cursor_open_errors, cursor_open_timeout_opt,
                      fold_fun_raises, fold_fun_raises_last_chunk, fold_fun_throws_exits,
                      fold_sql_error, fold_midstream_error, fold_bad_args,
                      fold_rows_maps, fold_in_transaction, fold_default_chunk,
                      fold_interrupted, fold_conn_closed]},
     {control, [], [info_memory, info_counters, info_file, info_relative_file,
                    info_read_only, info_autocommit, info_journal_wal,
                    busy_timeout_set, busy_timeout_bad, interrupt_long_query,
                    interrupt_idle, interrupt_idle_open_cursor, reset_clean_state, reset_idle, limit_variable_number,
                    limit_bad, backup_roundtrip, backup_memory, backup_unwritable,
                    backup_bad_path]},
     {pragma, [], [pragma_foreign_keys, pragma_journal_mode, pragma_synchronous,
                   pragma_cache_size, pragma_table_info, pragma_index_list,
                   pragma_integrity_check, pragma_wal_checkpoint, pragma_user_version,
                   pragma_optimize, pragma_bad_setters, pragma_table_name_not_text]},
     {concurrency, [], [wal_reader_not_blocked, wal_four_writers]}].

-spec init_per_suite(config()) -> config().
init_per_suite(Config) ->
    libsql_test_util:init_per_suite(?MODULE, Config).

-spec end_per_suite(config()) -> ok.
end_per_suite(_Config) ->
    ok.

%% ---- streaming -----------------------------------------------------------

%% One million rows of about 100 bytes (id, v = id rem 1000, a 90-char pad),
%% built in one INSERT ... SELECT. Shared by the two million-row cases.
big_db(Config) ->
    Path = db_path(Config, "million.db"),
    case filelib:is_regular(Path) of
        true ->
            Path;
        false ->
            {ok, C} = libsql:open(#{path => Path}),
            {ok, _} = libsql:execute(C, "CREATE TABLE big(id INTEGER PRIMARY KEY, "
                                        "v INTEGER NOT NULL, pad TEXT NOT NULL)"),
            {T, R} = timed(fun() ->
                              libsql:execute(
                                C, "INSERT INTO big(id, v, pad) "
                                   "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 "
                                   "FROM c WHERE x < 1000000) "
                                   "SELECT x, x % 1000, printf('%090d', x) FROM c",
                                [], #{timeout => 60000})
                           end),
            {ok, #{changes := ?MILLION, last_insert_rowid := ?MILLION}} = R,
            ct:pal("built 1,000,000 rows in ~b ms", [T]),
            ok = libsql:close(C),
            Path
    end.

%% sum(id) = n(n+1)/2; sum(id rem 1000) = 1000 * (0 + ... + 999).
-define(SUM_ID, 500000500000).
-define(SUM_V, 499500000).

-spec fold_million_rows(config()) -> ok.
fold_million_rows(Config) ->
    Path = big_db(Config),
    {ok, Db} = libsql:open(#{path => Path}),
    {ok, OsPid} = libsql_conn:os_pid(Db),
    %% Warm the connection (schema, first statement) before the baseline.
    {ok, _, [{?MILLION}]} = libsql:query(Db, "SELECT count(*) FROM big"),
    RssBefore = rss_kb(OsPid),
    Parent = self(),
    {Pid, Mon} =
        spawn_monitor(
          fun() ->
                  Fun = fun({Id, V, Pad}, {N, SumId, SumV, PadBytes, RssMax, HeapMax}) ->
                                N1 = N + 1,
                                {RssMax1, HeapMax1} =
                                    case N1 rem 10000 of
                                        0 ->
                                            {memory, M} = process_info(self(), memory),
                                            {max(RssMax, rss_kb(OsPid)), max(HeapMax, M)};
                                        _ ->
                                            {RssMax, HeapMax}
                                    end,
                                {N1, SumId + Id, SumV + V, PadBytes + byte_size(Pad),
                                 RssMax1, HeapMax1}
                        end,
                  T0 = erlang:monotonic_time(microsecond),
                  R = libsql:fold(Db, "SELECT id, v, pad FROM big ORDER BY id", [], Fun,
                                  {0, 0, 0, 0, 0, 0}, #{chunk => 1000, timeout => 60000}),
                  T1 = erlang:monotonic_time(microsecond),
                  Parent ! {self(), R, T1 - T0}
          end),
    receive
        {Pid, Result, Micros} ->
            receive {'DOWN', Mon, process, Pid, _} -> ok end,
            {ok, {N, SumId, SumV, PadBytes, RssMax, HeapMax}} = Result,
            RowsPerSec = N * 1000000 div max(Micros, 1),
            ct:pal("fold over ~b rows: ~b ms, ~b rows/s; port RSS before ~b kB, max ~b kB "
                   "(growth ~b kB); folding process memory max ~b bytes",
                   [N, Micros div 1000, RowsPerSec, RssBefore, RssMax, RssMax - RssBefore,
                    HeapMax]),
            ?MILLION = N,
            ?SUM_ID = SumId,
            ?SUM_V = SumV,
            90000000 = PadBytes,
            true = RssMax > 0,
            true = HeapMax > 0,
            assert_less(port_rss_growth_kb, RssMax - RssBefore, 20 * 1024),
            assert_less(fold_process_memory_bytes, HeapMax, 30 * 1024 * 1024)
    after 80000 ->
            ct:fail(fold_did_not_finish)
    end,
    {ok, #{cursors := 0}} = libsql:stats(Db),
    ok = libsql:close(Db).

%% The same rows through query/3 (materialised in one reply), in a process
%% of its own so that its memory does not disturb anything else.
-spec query_million_rows(config()) -> ok.
query_million_rows(Config) ->
    Path = big_db(Config),
    {ok, Db} = libsql:open(#{path => Path}),
    Parent = self(),
    {Pid, Mon} =
        spawn_monitor(
          fun() ->
                  T0 = erlang:monotonic_time(millisecond),
                  {ok, [<<"id">>, <<"v">>, <<"pad">>], Rows} =
                      libsql:query(Db, "SELECT id, v, pad FROM big ORDER BY id", [],
                                   #{timeout => 60000}),
                  T1 = erlang:monotonic_time(millisecond),
                  {memory, M} = process_info(self(), memory),
                  {N, S} = lists:foldl(fun({_, V, _}, {A, B}) -> {A + 1, B + V} end,
                                       {0, 0}, Rows),
                  Parent ! {self(), N, S, length(Rows), T1 - T0, M}
          end),
    receive
        {Pid, N, S, Len, Ms, Mem} ->
            receive {'DOWN', Mon, process, Pid, _} -> ok end,
            ct:pal("query of ~b rows: ~b ms; the receiving process used ~b bytes",
                   [Len, Ms, Mem]),
            ?MILLION = N,
            ?MILLION = Len,
            ?SUM_V = S
    after 80000 ->
            ct:fail(query_did_not_finish)
    end,
    ok = libsql:close(Db).

-spec cursor_chunks(config()) -> ok.
cursor_chunks(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    {ok, #{cursors := 0}} = libsql:stats(Db),
    {ok, #libsql_cursor{conn = Db, columns = [<<"x">>], timeout = default,
                        pool = undefined} = Cur} =
        libsql:cursor_open(Db, ?TEN_SQL, []),
    {ok, #{cursors := 1}} = libsql:stats(Db),
    {ok, [{1}, {2}, {3}], more} = libsql:fetch(Cur, 3),
    {ok, [{4}, {5}, {6}], more} = libsql:fetch(Cur, 3),
    {ok, [{7}, {8}, {9}], more} = libsql:fetch(Cur, 3),
    {ok, [{10}], done} = libsql:fetch(Cur, 3),
    ok = libsql:cursor_close(Cur),
    {ok, #{cursors := 0}} = libsql:stats(Db),
    %% With parameters, and a fetch larger than the result.
    {ok, Cur2} = libsql:cursor_open(Db, "SELECT ? + 1, :b", [41, <<"x">>]),
    {ok, [{42, <<"x">>}], done} = libsql:fetch(Cur2, 100),
    ok = libsql:cursor_close(Cur2),
    {ok, Cur3} = libsql:cursor_open(Db, "SELECT :a AS a", #{a => 7}),
    #libsql_cursor{columns = [<<"a">>]} = Cur3,
    %% Fetching exactly the remaining rows may answer `more' (SQLite has not
    %% said it is done yet); the next fetch then answers `done' with no rows.
    ok = fetch_last(Cur3, 1, [{7}]),
    ok = libsql:cursor_close(Cur3),
    %% An empty result is done at once.
    {ok, Cur4} = libsql:cursor_open(Db, "SELECT 1 WHERE 0", []),
    {ok, [], done} = libsql:fetch(Cur4, 5),
    ok = libsql:cursor_close(Cur4),
    %% Two cursors on one connection interleave.
    {ok, A} = libsql:cursor_open(Db, ?TEN_SQL, []),
    {ok, B} = libsql:cursor_open(Db, ?TEN_SQL, []),
    {ok, #{cursors := 2}} = libsql:stats(Db),
    {ok, [{1}, {2}], more} = libsql:fetch(A, 2),
    {ok, [{1}], more} = libsql:fetch(B, 1),
    {ok, [{3}], more} = libsql:fetch(A, 1),
    {ok, [{2}, {3}, {4}], more} = libsql:fetch(B, 3),
    ok = libsql:cursor_close(A),
    ok = libsql:cursor_close(B),
    {ok, #{cursors := 0}} = libsql:stats(Db),
    ok = libsql:close(Db).

-spec cursor_fetch_after_done(config()) -> ok.
cursor_fetch_after_done(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    {ok, Cur} = libsql:cursor_open(Db, ?TEN_SQL, []),
    {ok, [{1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}], more} = libsql:fetch(Cur, 8),
    ok = fetch_last(Cur, 2, [{9}, {10}]),
    {ok, [], done} = libsql:fetch(Cur, 10),
    {ok, [], done} = libsql:fetch(Cur, 1),
    {ok, #{cursors := 1}} = libsql:stats(Db),
    ok = libsql:cursor_close(Cur),
    {ok, #{cursors := 0}} = libsql:stats(Db),
    ok = libsql:close(Db).

-spec cursor_fetch_after_close(config()) -> ok.
cursor_fetch_after_close(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    {ok, Cur} = libsql:cursor_open(Db, ?TEN_SQL, []),
    {ok, [{1}], more} = libsql:fetch(Cur, 1),
    ok = libsql:cursor_close(Cur),
    expect_error(bad_argument, libsql:fetch(Cur, 1)),
    expect_error(bad_argument, libsql:fetch(Cur, 3)),
    %% Bad fetch sizes are refused before anything is sent.
    {ok, Cur2} = libsql:cursor_open(Db, ?TEN_SQL, []),
    [expect_error(bad_argument, libsql:fetch(Cur2, N)) || N <- [0, -1, 1.0, x]],
    expect_error(bad_argument, libsql:fetch(not_a_cursor, 1)),
    {ok, [{1}], more} = libsql:fetch(Cur2, 1),
    ok = libsql:cursor_close(Cur2),
    ok = libsql:ping(Db),
    ok = libsql:close(Db).

-spec cursor_close_twice(config()) -> ok.
cursor_close_twice(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    {ok, Cur} = libsql:cursor_open(Db, ?TEN_SQL, []),
    ok = libsql:cursor_close(Cur),
    ok = libsql:cursor_close(Cur),
    {ok, #{cursors := 0}} = libsql:stats(Db),
    expect_error(bad_argument, libsql:cursor_close(not_a_cursor)),
    %% Closing after the connection closed is fine too.
    {ok, Cur2} = libsql:cursor_open(Db, ?TEN_SQL, []),
    ok = libsql:close(Db),
    ok = libsql:cursor_close(Cur2),
    expect_error(closed, libsql:fetch(Cur2, 1)),
    ok.

-spec cursor_owner_dies(config()) -> ok.
cursor_owner_dies(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    Parent = self(),
    {Pid, Mon} = spawn_monitor(
                   fun() ->
                           {ok, Cur} = libsql:cursor_open(Db, ?TEN_SQL, []),
                           {ok, [{1}, {2}], more} = libsql:fetch(Cur, 2),
                           Parent ! {self(), Cur},
                           receive go -> ok end
                   end),
    Cur = receive {Pid, C} -> C after 5000 -> ct:fail(no_cursor) end,
    {ok, #{cursors := 1}} = libsql:stats(Db),
    %% Another process may use the cursor while its owner lives.
    {ok, [{3}], more} = libsql:fetch(Cur, 1),
    Pid ! go,
    receive {'DOWN', Mon, process, Pid, normal} -> ok after 5000 -> ct:fail(no_exit) end,
    T0 = erlang:monotonic_time(millisecond),
    wait_cursors(Db, 0, T0 + 1000),
    ct:pal("cursor closed ~b ms after its owner exited",
           [erlang:monotonic_time(millisecond) - T0]),
    expect_error(bad_argument, libsql:fetch(Cur, 1)),
    %% The connection itself (owned by this process) is unaffected.
    {ok, _, [{1}]} = libsql:query(Db, "SELECT 1"),
    %% A killed owner, too.
    {Pid2, Mon2} = spawn_monitor(
                     fun() ->
                             {ok, C2} = libsql:cursor_open(Db, ?TEN_SQL, []),
                             Parent ! {self(), C2},
                             receive never -> ok end
                     end),
    _ = receive {Pid2, C2} -> C2 after 5000 -> ct:fail(no_cursor) end,
    {ok, #{cursors := 1}} = libsql:stats(Db),
    exit(Pid2, kill),
    receive {'DOWN', Mon2, process, Pid2, killed} -> ok after 5000 -> ct:fail(no_exit) end,
    wait_cursors(Db, 0, erlang:monotonic_time(millisecond) + 1000),
    ok = libsql:close(Db).

-spec cursor_open_errors(config()) -> ok.
cursor_open_errors(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    E1 = expect_error(error, libsql:cursor_open(Db, "SELECT * FROM nope", [])),
    <<"SELECT * FROM nope">> = maps:get(sql, E1),
    expect_error(bad_argument, libsql:cursor_open(Db, "SELECT ?", [])),
    expect_error(bad_argument, libsql:cursor_open(Db, "SELECT ?", [self()])),
    expect_error(bad_argument, libsql:cursor_open(Db, "", [])),
    expect_error(bad_argument, libsql:cursor_open(Db, 42, [])),
    expect_error(bad_argument, libsql:cursor_open(not_a_db, "SELECT 1", [])),
    {ok, #{cursors := 0}} = libsql:stats(Db),
    ok = libsql:close(Db).

-spec cursor_open_timeout_opt(config()) -> ok.
cursor_open_timeout_opt(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    {ok, #libsql_cursor{timeout = 5000} = Cur} =
        libsql:cursor_open(Db, ?TEN_SQL, [], #{timeout => 5000}),
    {ok, [{1}, {2}, {3}, {4}], more} = libsql:fetch(Cur, 4),
    ok = libsql:cursor_close(Cur),
    %% A fetch that runs past the cursor's deadline times out and the
    %% connection stays usable.
    {ok, Slow} = libsql:cursor_open(Db, ?ENDLESS_SQL, [], #{timeout => 300}),
    {T, R} = timed(fun() -> libsql:fetch(Slow, 1) end),
    expect_error(timeout, R),
    assert_less(fetch_timeout_ms, T, 3000),
    true = T >= 250,
    ok = libsql:cursor_close(Slow),
    {ok, _, [{1}]} = libsql:query(Db, "SELECT 1"),
    {ok, #{cursors := 0}} = libsql:stats(Db),
    ok = libsql:close(Db).

%% The fun raises in the first of several chunks, while the next chunk is
%% in flight.
-spec fold_fun_raises(config()) -> ok.
fold_fun_raises(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    Sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 5000) "
          "SELECT x FROM c",
    Fun = fun({5}, _) -> error({boom, 5});
             ({X}, Acc) -> Acc + X
          end,
    {error, {boom, 5}, _} = in_fresh_process(
                              fun() -> libsql:fold(Db, Sql, [], Fun, 0, #{chunk => 100}) end),
    {ok, #{cursors := 0}} = libsql:stats(Db),
    %% Same in this process: nothing is left in the mailbox.
    {messages, []} = process_info(self(), messages),
    try libsql:fold(Db, Sql, [], Fun, 0, #{chunk => 100}) of
        Other -> ct:fail({fold_returned, Other})
    catch
        error:{boom, 5} -> ok
    end,
    timer:sleep(100),
    {messages, []} = process_info(self(), messages),
    {ok, #{cursors := 0}} = libsql:stats(Db),
    {ok, 12502500} = libsql:fold(Db, Sql, [], fun({X}, A) -> A + X end, 0, #{chunk => 100}),
    {ok, _, [{1}]} = libsql:query(Db, "SELECT 1"),
    ok = libsql:close(Db).

%% The fun raises in the last chunk (no fetch in flight).
-spec fold_fun_raises_last_chunk(config()) -> ok.
fold_fun_raises_last_chunk(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    Fun = fun({10}, _) -> error(last);
             ({X}, Acc) -> Acc + X
          end,
    {error, last, _} = in_fresh_process(
                         fun() -> libsql:fold(Db, ?TEN_SQL, [], Fun, 0, #{chunk => 3}) end),
    {error, last, _} = in_fresh_process(
                         fun() -> libsql:fold(Db, ?TEN_SQL, [], Fun, 0, #{chunk => 100}) end),
    {ok, #{cursors := 0}} = libsql:stats(Db),
    {ok, 55} = libsql:fold(Db, ?TEN_SQL, [], fun({X}, A) -> A + X end, 0, #{chunk => 3}),
    ok = libsql:close(Db).

-spec fold_fun_throws_exits(config()) -> ok.
fold_fun_throws_exits(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    {throw, found_3, _} =
        in_fresh_process(fun() ->
                                 libsql:fold(Db, ?TEN_SQL, [],
                                             fun({3}, _) -> throw(found_3); (_, A) -> A end,
                                             0, #{chunk => 2})
                         end),
    {exit, stop_here, _} =
        in_fresh_process(fun() ->
                                 libsql:fold(Db, ?TEN_SQL, [],
                                             fun({7}, _) -> exit(stop_here); (_, A) -> A end,
                                             0, #{chunk => 2})
                         end),
    {ok, #{cursors := 0}} = libsql:stats(Db),
    ok = libsql:close(Db).

-spec fold_sql_error(config()) -> ok.
fold_sql_error(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    E = expect_error(error, libsql:fold(Db, "SELECT * FROM missing", [],
                                        fun(_, A) -> A end, 0)),
    <<"SELECT * FROM missing">> = maps:get(sql, E),
    expect_error(bad_argument, libsql:fold(Db, "SELECT ?", [1, 2], fun(_, A) -> A end, 0)),
    {ok, #{cursors := 0}} = libsql:stats(Db),
    {messages, []} = process_info(self(), messages),
    ok = libsql:close(Db).

%% The statement fails in the third chunk: the error is returned, the rows
%% before it were folded, and the cursor is closed.
-spec fold_midstream_error(config()) -> ok.
fold_midstream_error(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    Sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 5000) "
          "SELECT CASE WHEN x = 2500 THEN abs(-9223372036854775807 - 1) ELSE x END FROM c",
    Parent = self(),
    Fun = fun({X}, N) -> Parent ! {seen, X}, N + 1 end,
    R = libsql:fold(Db, Sql, [], Fun, 0, #{chunk => 1000}),
    E = expect_error(error, R),
    contains(maps:get(message, E), <<"overflow">>),
    Seen = collect_seen([]),
    %% Rows 1..2000 came in two full chunks; the third failed.
    Seen = lists:seq(1, 2000),
    {messages, []} = process_info(self(), messages),
    {ok, #{cursors := 0}} = libsql:stats(Db),
    {ok, _, [{1}]} = libsql:query(Db, "SELECT 1"),
    ok = libsql:close(Db).

-spec fold_bad_args(config()) -> ok.
fold_bad_args(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    F = fun(_, A) -> A end,
    [expect_error(bad_argument, libsql:fold(Db, ?TEN_SQL, [], F, 0, #{chunk => C}))
     || C <- [0, -1, 1.5, x]],
    expect_error(bad_argument, libsql:fold(Db, ?TEN_SQL, [], fun(_) -> ok end, 0)),
    expect_error(bad_argument, libsql:fold(Db, ?TEN_SQL, [], F, 0, not_a_map)),
    {ok, #{cursors := 0}} = libsql:stats(Db),
    ok = libsql:close(Db).

-spec fold_rows_maps(config()) -> ok.
fold_rows_maps(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    {ok, _} = libsql:execute(Db, "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, b BLOB)"),
    {ok, _} = libsql:execute_many(Db, "INSERT INTO t VALUES (?, ?, ?)",
                                  [[1, <<"one">>, {blob, <<1>>}], [2, null, {blob, <<>>}],
                                   [3, <<"three">>, null]]),
    {ok, Rows} = libsql:fold(Db, "SELECT id, name, b FROM t ORDER BY id", [],
                             fun(R, Acc) -> [R | Acc] end, [],
                             #{rows => maps, chunk => 2}),
    Expected = [#{<<"id">> => 1, <<"name">> => <<"one">>, <<"b">> => {blob, <<1>>}},
                #{<<"id">> => 2, <<"name">> => null, <<"b">> => {blob, <<>>}},
                #{<<"id">> => 3, <<"name">> => <<"three">>, <<"b">> => null}],
    Expected = lists:reverse(Rows),
    %% Tuples are the default.
    {ok, [{3, <<"three">>, null}, {2, null, {blob, <<>>}}, {1, <<"one">>, {blob, <<1>>}}]} =
        libsql:fold(Db, "SELECT id, name, b FROM t ORDER BY id", [],
                    fun(R, Acc) -> [R | Acc] end, []),
    ok = libsql:close(Db).

-spec fold_in_transaction(config()) -> ok.
fold_in_transaction(Config) ->
    Path = db_path(Config, "fold_tx.db"),
    {ok, Db} = libsql:open(#{path => Path}),
    {ok, _} = libsql:execute(Db, "CREATE TABLE t(x INTEGER)"),
    {ok, _} = libsql:execute(Db, "INSERT INTO t VALUES (1)"),
    Sum = fun({X}, A) -> A + X end,
    %% Committed: the fold inside sees the uncommitted rows.
    {ok, {16, 16}} =
        libsql:transaction(Db, fun(C) ->
                                       {ok, _} = libsql:execute(C, "INSERT INTO t VALUES (5), (10)"),
                                       {ok, S1} = libsql:fold(C, "SELECT x FROM t", [], Sum, 0,
                                                              #{chunk => 1}),
                                       %% Db (not C) is pinned to the same connection.
                                       {ok, S2} = libsql:fold(Db, "SELECT x FROM t", [], Sum, 0),
                                       {S1, S2}
                               end),
    {ok, 16} = libsql:fold(Db, "SELECT x FROM t", [], Sum, 0),
    %% Rolled back: the fold saw the rows, which are then gone.
    Self = self(),
    try
        libsql:transaction(Db, fun(C) ->
                                       {ok, _} = libsql:execute(C, "INSERT INTO t VALUES (100)"),
                                       {ok, S} = libsql:fold(C, "SELECT x FROM t", [], Sum, 0),
                                       Self ! {inside, S},
                                       error(roll_back)
                               end)
    of
        Other -> ct:fail({transaction_returned, Other})
    catch
        error:roll_back -> ok
    end,
    receive {inside, 116} -> ok after 0 -> ct:fail(fold_inside_tx_missing) end,
    {ok, 16} = libsql:fold(Db, "SELECT x FROM t", [], Sum, 0),
    %% A second connection does not see uncommitted rows folded inside.
    {ok, Other2} = libsql:open(#{path => Path}),
    ok = libsql:begin_transaction(Db),
    {ok, _} = libsql:execute(Db, "INSERT INTO t VALUES (1000)"),
    {ok, 1016} = libsql:fold(Db, "SELECT x FROM t", [], Sum, 0),
    {ok, 16} = libsql:fold(Other2, "SELECT x FROM t", [], Sum, 0),
    ok = libsql:rollback(Db),
    {ok, #{cursors := 0}} = libsql:stats(Db),
    ok = libsql:close(Other2),
    ok = libsql:close(Db).

-spec fold_default_chunk(config()) -> ok.
fold_default_chunk(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    Sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 2500) "
          "SELECT x FROM c",
    {ok, {2500, 3126250}} = libsql:fold(Db, Sql, [], fun({X}, {N, S}) -> {N + 1, S + X} end,
                                        {0, 0}),
    %% Exactly a multiple of the chunk size, and chunk 1.
    {ok, 10} = libsql:fold(Db, ?TEN_SQL, [], fun(_, N) -> N + 1 end, 0, #{chunk => 5}),
    {ok, 10} = libsql:fold(Db, ?TEN_SQL, [], fun(_, N) -> N + 1 end, 0, #{chunk => 1}),
    {ok, 10} = libsql:fold(Db, ?TEN_SQL, [], fun(_, N) -> N + 1 end, 0, #{chunk => 10}),
    {ok, none} = libsql:fold(Db, "SELECT 1 WHERE 0", [], fun(_, _) -> some end, none),
    {ok, [3, 2, 1]} = libsql:fold(Db, "SELECT x FROM (SELECT 1 AS x UNION ALL SELECT 2 "
                                      "UNION ALL SELECT 3) WHERE x <= ?", [3],
                                  fun({X}, L) -> [X | L] end, []),
    {ok, #{cursors := 0}} = libsql:stats(Db),
    ok = libsql:close(Db).

%% interrupt/1 stops a fold between chunks or inside one: the fold returns
%% the error, its cursor is closed and nothing is left in the mailbox.
-spec fold_interrupted(config()) -> ok.
fold_interrupted(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    Parent = self(),
    Sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) "
          "SELECT x FROM c WHERE x % 100000000 = 0",
    {Pid, Mon} = spawn_monitor(
                   fun() ->
                           R = libsql:fold(Db, Sql, [], fun(_, A) -> A + 1 end, 0,
                                           #{timeout => 20000}),
                           timer:sleep(100),
                           {messages, M} = process_info(self(), messages),
                           Parent ! {self(), R, M}
                   end),
    timer:sleep(300),
    ok = libsql:interrupt(Db),
    receive
        {Pid, R, Mailbox} ->
            expect_error(interrupted, R),
            [] = Mailbox
    after 10000 ->
            ct:fail(fold_not_interrupted)
    end,
    receive {'DOWN', Mon, process, Pid, normal} -> ok end,
    {ok, #{cursors := 0}} = libsql:stats(Db),
    {ok, 10} = libsql:fold(Db, ?TEN_SQL, [], fun(_, A) -> A + 1 end, 0),
    ok = libsql:close(Db).

%% The connection closes in the middle of a fold: {error, closed}, and no
%% stray message in the folding process.
-spec fold_conn_closed(config()) -> ok.
fold_conn_closed(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    Parent = self(),
    {Pid, Mon} = spawn_monitor(
                   fun() ->
                           R = libsql:fold(Db, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                                               "SELECT x+1 FROM c) SELECT x FROM c", [],
                                           fun(_, A) -> A + 1 end, 0, #{chunk => 10}),
                           timer:sleep(100),
                           {messages, M} = process_info(self(), messages),
                           Parent ! {self(), R, M}
                   end),
    timer:sleep(300),
    ok = libsql:close(Db),
    receive
        {Pid, R, Mailbox} ->
            expect_error(closed, R),
            [] = Mailbox
    after 10000 ->
            ct:fail(fold_not_stopped)
    end,
    receive {'DOWN', Mon, process, Pid, normal} -> ok end,
    ok.

%% ---- metadata and control --------------------------------------------------

-spec info_memory(config()) -> ok.
info_memory(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    {ok, Info} = libsql:info(Db),
    #{last_insert_rowid := 0, changes := 0, total_changes := 0, autocommit := true,
      file := <<>>, read_only := false, journal_mode := <<"memory">>, mode := local,
      encrypted := false} = Info,
    9 = maps:size(Info),
    ok = libsql:close(Db),
    expect_error(closed, libsql:info(Db)),
    expect_error(bad_argument, libsql:info(not_a_db)),
    ok.

-spec info_counters(config()) -> ok.
info_counters(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    {ok, _} = libsql:execute(Db, "CREATE TABLE t(id INTEGER PRIMARY KEY, x)"),
    {ok, _} = libsql:execute(Db, "INSERT INTO t VALUES (10, 'a'), (11, 'b'), (12, 'c')"),
    {ok, #{last_insert_rowid := 12, changes := 3, total_changes := 3}} = libsql:info(Db),
    {ok, _} = libsql:execute(Db, "UPDATE t SET x = 'z' WHERE id >= 11"),
    {ok, #{last_insert_rowid := 12, changes := 2, total_changes := 5}} = libsql:info(Db),
    {ok, _} = libsql:execute(Db, "INSERT INTO t(x) VALUES ('d')"),
    {ok, #{last_insert_rowid := 13, changes := 1, total_changes := 6}} = libsql:info(Db),
    {ok, _} = libsql:execute(Db, "DELETE FROM t"),
    {ok, #{last_insert_rowid := 13, changes := 4, total_changes := 10}} = libsql:info(Db),
    ok = libsql:close(Db).

-spec info_file(config()) -> ok.
info_file(Config) ->
    Path = db_path(Config, "info_file.db"),
    {ok, Db} = libsql:open(#{path => Path}),
    Abs = list_to_binary(Path),
    {ok, #{file := Abs, read_only := false, journal_mode := <<"delete">>, mode := local,
           autocommit := true}} = libsql:info(Db),
    ok = libsql:close(Db).

%% A relative path is reported as the absolute path of the file.
-spec info_relative_file(config()) -> ok.
info_relative_file(Config) ->
    Path = db_path(Config, "info_rel.db"),
    {ok, Cwd} = file:get_cwd(),
    Rel = relative_path(Path, Cwd),
    false = filename:pathtype(Rel) =:= absolute,
    {ok, Db} = libsql:open(#{path => Rel}),
    {ok, _} = libsql:execute(Db, "CREATE TABLE t(x)"),
    true = filelib:is_regular(Path),
    {ok, #{file := File}} = libsql:info(Db),
    case list_to_binary(Path) of
        File -> ok;
        Abs -> ct:fail({info_file, File, expected, Abs, relative, Rel})
    end,
    ok = libsql:close(Db).

-spec info_read_only(config()) -> ok.
info_read_only(Config) ->
    Path = db_path(Config, "info_ro.db"),
    {ok, W} = libsql:open(#{path => Path}),
    {ok, _} = libsql:execute(W, "CREATE TABLE t(x)"),
    ok = libsql:close(W),
    {ok, Db} = libsql:open(#{path => Path, read_only => true}),
    Abs = list_to_binary(Path),
    {ok, #{read_only := true, file := Abs, autocommit := true}} = libsql:info(Db),
    expect_error(readonly, libsql:execute(Db, "INSERT INTO t VALUES (1)")),
    ok = libsql:close(Db),
    %% A read-only URI: the file is the plain absolute path.
    {ok, U} = libsql:open(#{path => "file:" ++ Path ++ "?mode=ro"}),
    {ok, #{read_only := true, file := Abs}} = libsql:info(U),
    ok = libsql:close(U),
    {ok, W2} = libsql:open(#{path => Path}),
    {ok, #{read_only := false, file := Abs}} = libsql:info(W2),
    ok = libsql:close(W2).

-spec info_autocommit(config()) -> ok.
info_autocommit(Config) ->
    {ok, Db} = libsql:open(#{path => db_path(Config, "info_ac.db")}),
    {ok, _} = libsql:execute(Db, "CREATE TABLE t(x)"),
    {ok, #{autocommit := true}} = libsql:info(Db),
    ok = libsql:begin_transaction(Db),
    {ok, #{autocommit := false}} = libsql:info(Db),
    ok = libsql:commit(Db),
    {ok, #{autocommit := true}} = libsql:info(Db),
    ok = libsql:begin_transaction(Db, #{mode => immediate}),
    {ok, #{autocommit := false}} = libsql:info(Db),
    ok = libsql:rollback(Db),
    {ok, #{autocommit := true}} = libsql:info(Db),
    {ok, false} = libsql:transaction(Db, fun(C) ->
                                                 {ok, #{autocommit := A}} = libsql:info(C),
                                                 A
                                         end),
    {ok, #{autocommit := true}} = libsql:info(Db),
    ok = libsql:close(Db).

-spec info_journal_wal(config()) -> ok.
info_journal_wal(Config) ->
    {ok, Db} = libsql:open(#{path => db_path(Config, "info_wal.db")}),
    {ok, #{journal_mode := <<"delete">>}} = libsql:info(Db),
    {ok, wal} = libsql_pragma:journal_mode(Db, wal),
    {ok, #{journal_mode := <<"wal">>}} = libsql:info(Db),
    {ok, delete} = libsql_pragma:journal_mode(Db, delete),
    {ok, #{journal_mode := <<"delete">>}} = libsql:info(Db),
    ok = libsql:close(Db).

-spec busy_timeout_set(config()) -> ok.
busy_timeout_set(Config) ->
    Path = db_path(Config, "busy.db"),
    {ok, A} = libsql:open(#{path => Path}),
    {ok, _} = libsql:execute(A, "CREATE TABLE t(x)"),
    {ok, B} = libsql:open(#{path => Path}),
    ok = libsql:begin_transaction(A, #{mode => exclusive}),
    ok = libsql:set_busy_timeout(B, 300),
    {T300, R300} = timed(fun() -> libsql:query(B, "SELECT count(*) FROM t") end),
    expect_error(busy, R300),
    true = T300 >= 250,
    assert_less(busy_300_ms, T300, 3000),
    ok = libsql:set_busy_timeout(B, 0),
    {T0, R0} = timed(fun() -> libsql:query(B, "SELECT count(*) FROM t") end),
    expect_error(busy, R0),
    assert_less(busy_0_ms, T0, 200),
    ct:pal("busy after ~b ms with busy_timeout 300, ~b ms with 0", [T300, T0]),
    ok = libsql:commit(A),
    {ok, _, [{0}]} = libsql:query(B, "SELECT count(*) FROM t"),
    [ok = libsql:close(X) || X <- [A, B]],
    ok.

-spec busy_timeout_bad(config()) -> ok.
busy_timeout_bad(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    [expect_error(bad_argument, libsql:set_busy_timeout(Db, V))
     || V <- [-1, 1 bsl 31, 1.5, infinity, <<"100">>]],
    ok = libsql:set_busy_timeout(Db, 0),
    ok = libsql:set_busy_timeout(Db, 16#7fffffff),
    expect_error(bad_argument, libsql:set_busy_timeout(not_a_db, 10)),
    ok = libsql:close(Db).

-spec interrupt_long_query(config()) -> ok.
interrupt_long_query(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    Parent = self(),
    {Pid, Mon} = spawn_monitor(
                   fun() ->
                           T0 = erlang:monotonic_time(microsecond),
                           R = libsql:query(Db, ?ENDLESS_SQL, [], #{timeout => 20000}),
                           T1 = erlang:monotonic_time(microsecond),
                           Parent ! {self(), R, T0, T1}
                   end),
    timer:sleep(500),
    receive {Pid, Early, _, _} -> ct:fail({query_finished_early, Early}) after 0 -> ok end,
    TI = erlang:monotonic_time(microsecond),
    ok = libsql:interrupt(Db),
    receive
        {Pid, R, T0, T1} ->
            LatencyUs = T1 - TI,
            ct:pal("interrupted after running ~b ms; caller answered ~b us after the "
                   "interrupt call", [(TI - T0) div 1000, LatencyUs]),
            E = expect_error(interrupted, R),
            9 = maps:get(extended_code, E, 9),
            assert_less(interrupt_latency_us, LatencyUs, 100000)
    after 25000 ->
            ct:fail(query_not_interrupted)
    end,
    receive {'DOWN', Mon, process, Pid, normal} -> ok end,
    %% The connection keeps working, and later statements are not interrupted.
    {ok, _, [{1}]} = libsql:query(Db, "SELECT 1"),
    {ok, _, [{100}]} = libsql:query(Db, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                                        "SELECT x+1 FROM c WHERE x < 100) SELECT count(*) FROM c"),
    ok = libsql:ping(Db),
    ok = libsql:close(Db).

-spec interrupt_idle(config()) -> ok.
interrupt_idle(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    ok = libsql:interrupt(Db),
    ok = libsql:interrupt(Db),
    {ok, _, [{2}]} = libsql:query(Db, "SELECT 1 + 1"),
    {ok, _, [{10}]} = libsql:query(Db, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                                       "SELECT x+1 FROM c WHERE x < 10) SELECT count(*) FROM c"),
    ok = libsql:close(Db),
    expect_error(closed, libsql:interrupt(Db)),
    ok.

%% BUG: interrupt/1 while nothing runs but a cursor is open (partly
%% fetched) is not a no-op: sqlite3_interrupt's flag stays set while any
%% statement is active, so the next statements of the connection, which
%% started after the interrupt, fail with `interrupted' (here SELECT 1 and
%% SELECT 2, then the cursor's own fetch) although interrupt/1 promises to
%% stop only "the statement running on a connection now". Fails until fixed.
-spec interrupt_idle_open_cursor(config()) -> ok.
interrupt_idle_open_cursor(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    {ok, Cur} = libsql:cursor_open(Db, ?TEN_SQL, []),
    {ok, [{1}, {2}], more} = libsql:fetch(Cur, 2),
    ok = libsql:interrupt(Db),
    R1 = libsql:query(Db, "SELECT 1"),
    R2 = libsql:query(Db, "SELECT 2"),
    R3 = libsql:fetch(Cur, 2),
    ok = libsql:cursor_close(Cur),
    {ok, _, [{4}]} = libsql:query(Db, "SELECT 4"),
    ok = libsql:close(Db),
    case {R1, R2, R3} of
        {{ok, _, [{1}]}, {ok, _, [{2}]}, {ok, [{3}, {4}], more}} -> ok;
        _ -> ct:fail({statements_after_idle_interrupt, R1, R2, R3})
    end.

-spec reset_clean_state(config()) -> ok.
reset_clean_state(Config) ->
    Path = db_path(Config, "reset.db"),
    {ok, Db} = libsql:open(#{path => Path}),
    {ok, _} = libsql:execute(Db, "CREATE TABLE t(x)"),
    {ok, _} = libsql:execute(Db, "INSERT INTO t VALUES (1)"),
    ok = libsql:begin_transaction(Db),
    {ok, _} = libsql:execute(Db, "INSERT INTO t VALUES (2), (3)"),
    {ok, _, [{3}]} = libsql:query(Db, "SELECT count(*) FROM t"),
    {ok, Cur} = libsql:cursor_open(Db, ?TEN_SQL, []),
    {ok, [{1}], more} = libsql:fetch(Cur, 1),
    {ok, Stmt} = libsql:prepare(Db, "SELECT x FROM t ORDER BY x"),
    {ok, [<<"x">>], [{1}, {2}, {3}]} = libsql:query(Db, Stmt, []),
    {ok, #{cursors := 1, statements := 1}} = libsql:stats(Db),
    {ok, #{autocommit := false}} = libsql:info(Db),
    ok = libsql:reset(Db),
    {ok, #{autocommit := true}} = libsql:info(Db),
    {ok, #{cursors := 0, statements := 0}} = libsql:stats(Db),
    {ok, _, [{1}]} = libsql:query(Db, "SELECT count(*) FROM t"),
    expect_error(bad_argument, libsql:query(Db, Stmt, [])),
    expect_error(bad_argument, libsql:execute(Db, Stmt, [])),
    expect_error(bad_argument, libsql:fetch(Cur, 1)),
    ok = libsql:cursor_close(Cur),
    %% Nothing was committed: a new connection sees one row.
    {ok, Db2} = libsql:open(#{path => Path}),
    {ok, _, [{1}]} = libsql:query(Db2, "SELECT count(*) FROM t"),
    ok = libsql:close(Db2),
    %% The connection works normally afterwards.
    ok = libsql:begin_transaction(Db),
    {ok, _} = libsql:execute(Db, "INSERT INTO t VALUES (4)"),
    ok = libsql:commit(Db),
    {ok, _, [{2}]} = libsql:query(Db, "SELECT count(*) FROM t"),
    ok = libsql:close(Db).

-spec reset_idle(config()) -> ok.
reset_idle(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    ok = libsql:reset(Db),
    ok = libsql:reset(Db),
    {ok, #{autocommit := true}} = libsql:info(Db),
    %% A read_only transaction's query_only is switched off by reset.
    ok = libsql:begin_transaction(Db, #{mode => read_only}),
    ok = libsql:reset(Db),
    {ok, _} = libsql:execute(Db, "CREATE TABLE t(x)"),
    {ok, _, [{0}]} = libsql:query(Db, "PRAGMA query_only"),
    %% A cursor whose owner dies after a reset: nothing breaks.
    Parent = self(),
    {Pid, Mon} = spawn_monitor(fun() ->
                                       {ok, C} = libsql:cursor_open(Db, ?TEN_SQL, []),
                                       Parent ! {self(), C},
                                       receive go -> ok end
                               end),
    receive {Pid, _} -> ok end,
    ok = libsql:reset(Db),
    {ok, #{cursors := 0}} = libsql:stats(Db),
    Pid ! go,
    receive {'DOWN', Mon, process, Pid, normal} -> ok end,
    {ok, _, [{1}]} = libsql:query(Db, "SELECT 1"),
    ok = libsql:close(Db),
    expect_error(closed, libsql:reset(Db)),
    ok.

-spec limit_variable_number(config()) -> ok.
limit_variable_number(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    {ok, Default} = libsql:limit(Db, variable_number),
    ct:pal("variable_number limit: ~p", [Default]),
    true = is_integer(Default) andalso Default >= 999,
    {ok, Default} = libsql:limit(Db, variable_number, 5),
    {ok, 5} = libsql:limit(Db, variable_number),
    {ok, _, [{1, 2, 3, 4, 5}]} = libsql:query(Db, "SELECT ?, ?, ?, ?, ?", [1, 2, 3, 4, 5]),
    E = expect_error(error, libsql:query(Db, "SELECT ?, ?, ?, ?, ?, ?", [1, 2, 3, 4, 5, 6])),
    contains(maps:get(message, E), <<"too many SQL variables">>),
    expect_error(error, libsql:query(Db, "SELECT ?6", [1, 2, 3, 4, 5, 6])),
    %% -1 reads without changing.
    {ok, 5} = libsql:limit(Db, variable_number, -1),
    {ok, 5} = libsql:limit(Db, variable_number, Default),
    {ok, Default} = libsql:limit(Db, variable_number),
    {ok, _, [{1, 2, 3, 4, 5, 6}]} =
        libsql:query(Db, "SELECT ?, ?, ?, ?, ?, ? ", [1, 2, 3, 4, 5, 6]),
    %% Another limit: sql_length.
    {ok, SqlLen} = libsql:limit(Db, sql_length),
    {ok, SqlLen} = libsql:limit(Db, sql_length, 20),
    expect_error(toobig, libsql:query(Db, "SELECT 1 + 1 + 1 + 1 + 1 + 1")),
    {ok, 20} = libsql:limit(Db, sql_length, SqlLen),
    ok = libsql:close(Db).

-spec limit_bad(config()) -> ok.
limit_bad(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    expect_error(bad_argument, libsql:limit(Db, no_such_limit)),
    expect_error(bad_argument, libsql:limit(Db, no_such_limit, 5)),
    expect_error(bad_argument, libsql:limit(Db, "variable_number")),
    expect_error(bad_argument, libsql:limit(Db, <<"variable_number">>, 5)),
    expect_error(bad_argument, libsql:limit(Db, variable_number, -2)),
    expect_error(bad_argument, libsql:limit(Db, variable_number, 1 bsl 31)),
    expect_error(bad_argument, libsql:limit(Db, variable_number, 1.0)),
    {ok, _} = libsql:limit(Db, variable_number),
    ok = libsql:close(Db).

-spec backup_roundtrip(config()) -> ok.
backup_roundtrip(Config) ->
    Path = db_path(Config, "backup_src.db"),
    Dest = db_path(Config, "backup_dst.db"),
    {ok, Db} = libsql:open(#{path => Path}),
    {ok, _} = libsql:execute(Db, "CREATE TABLE t(id INTEGER PRIMARY KEY, s TEXT, b BLOB)"),
    {ok, _} = libsql:execute(Db, "INSERT INTO t(id, s, b) WITH RECURSIVE c(x) AS "
                                 "(SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 5000) "
                                 "SELECT x, printf('row %d', x), zeroblob(x % 50) FROM c"),
    {ok, _, Rows} = libsql:query(Db, "SELECT * FROM t ORDER BY id"),
    5000 = length(Rows),
    ok = libsql:backup(Db, Dest),
    true = filelib:is_regular(Dest),
    {ok, Copy} = libsql:open(#{path => Dest, create => false}),
    {ok, _, Rows} = libsql:query(Copy, "SELECT * FROM t ORDER BY id"),
    ok = libsql_pragma:integrity_check(Copy),
    ok = libsql:close(Copy),
    %% The source is still usable; a second backup overwrites the first.
    {ok, _} = libsql:execute(Db, "DELETE FROM t WHERE id > 10"),
    ok = libsql:backup(Db, list_to_binary(Dest)),
    {ok, Copy2} = libsql:open(#{path => Dest, create => false}),
    {ok, _, [{10}]} = libsql:query(Copy2, "SELECT count(*) FROM t"),
    ok = libsql:close(Copy2),
    ok = libsql:close(Db).

-spec backup_memory(config()) -> ok.
backup_memory(Config) ->
    Dest = db_path(Config, "backup_mem.db"),
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    {ok, _} = libsql:execute(Db, "CREATE TABLE kv(k TEXT PRIMARY KEY, v)"),
    {ok, _} = libsql:execute_many(Db, "INSERT INTO kv VALUES (?, ?)",
                                  [[<<"a">>, 1], [<<"b">>, 2.5], [<<"c">>, {blob, <<0, 1>>}]]),
    ok = libsql:backup(Db, Dest),
    {ok, Copy} = libsql:open(#{path => Dest}),
    {ok, [<<"k">>, <<"v">>], [{<<"a">>, 1}, {<<"b">>, 2.5}, {<<"c">>, {blob, <<0, 1>>}}]} =
        libsql:query(Copy, "SELECT k, v FROM kv ORDER BY k"),
    ok = libsql:close(Copy),
    ok = libsql:close(Db).

-spec backup_unwritable(config()) -> ok.
backup_unwritable(Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    {ok, _} = libsql:execute(Db, "CREATE TABLE t(x)"),
    {ok, _} = libsql:execute(Db, "INSERT INTO t VALUES (1)"),
    {ok, OsPid} = libsql_conn:os_pid(Db),
    E = expect_error(cantopen, libsql:backup(Db, "/proc/nope/x.db")),
    ct:pal("backup to /proc/nope/x.db: ~p", [E]),
    %% The same port still serves the connection.
    {ok, OsPid} = libsql_conn:os_pid(Db),
    true = is_process_alive(Db),
    {ok, _, [{1}]} = libsql:query(Db, "SELECT x FROM t"),
    %% A directory, and a file that is not a database.
    expect_error(cantopen, libsql:backup(Db, ?config(priv_dir, Config))),
    Garbage = db_path(Config, "garbage.db"),
    ok = file:write_file(Garbage, binary:copy(<<"not a database file ">>, 500)),
    expect_error(notadb, libsql:backup(Db, Garbage)),
    {ok, OsPid} = libsql_conn:os_pid(Db),
    {ok, _, [{1}]} = libsql:query(Db, "SELECT x FROM t"),
    ok = libsql:close(Db).

-spec backup_bad_path(config()) -> ok.
backup_bad_path(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    [expect_error(bad_argument, libsql:backup(Db, P)) || P <- ["", <<>>, 42, {x}]],
    ok = libsql:ping(Db),
    ok = libsql:close(Db).

%% ---- pragmas -----------------------------------------------------------

-spec pragma_foreign_keys(config()) -> ok.
pragma_foreign_keys(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    {ok, _} = libsql:execute(Db, "CREATE TABLE p(id INTEGER PRIMARY KEY)"),
    {ok, _} = libsql:execute(Db, "CREATE TABLE c(id INTEGER PRIMARY KEY, "
                                 "p INTEGER REFERENCES p(id))"),
    {ok, false} = libsql_pragma:foreign_keys(Db),
    %% Off: a dangling reference is accepted.
    {ok, #{changes := 1}} = libsql:execute(Db, "INSERT INTO c VALUES (1, 99)"),
    {ok, _} = libsql:execute(Db, "DELETE FROM c"),
    ok = libsql_pragma:foreign_keys(Db, true),
    {ok, true} = libsql_pragma:foreign_keys(Db),
    E = expect_error(constraint, libsql:execute(Db, "INSERT INTO c VALUES (1, 99)")),
    787 = maps:get(extended_code, E),
    {ok, _} = libsql:execute(Db, "INSERT INTO p VALUES (99)"),
    {ok, #{changes := 1}} = libsql:execute(Db, "INSERT INTO c VALUES (1, 99)"),
    expect_error(constraint, libsql:execute(Db, "DELETE FROM p WHERE id = 99")),
    ok = libsql_pragma:foreign_keys(Db, false),
    {ok, false} = libsql_pragma:foreign_keys(Db),
    ok = libsql:close(Db).

-spec pragma_journal_mode(config()) -> ok.
pragma_journal_mode(Config) ->
    {ok, Db} = libsql:open(#{path => db_path(Config, "pragma_jm.db")}),
    {ok, delete} = libsql_pragma:journal_mode(Db),
    {ok, wal} = libsql_pragma:journal_mode(Db, wal),
    {ok, wal} = libsql_pragma:journal_mode(Db),
    {ok, truncate} = libsql_pragma:journal_mode(Db, truncate),
    {ok, truncate} = libsql_pragma:journal_mode(Db),
    ok = libsql:close(Db),
    %% :memory: keeps its mode when asked for wal.
    {ok, M} = libsql:open(#{path => ":memory:"}),
    {ok, memory} = libsql_pragma:journal_mode(M),
    {ok, memory} = libsql_pragma:journal_mode(M, wal),
    ok = libsql:close(M).

-spec pragma_synchronous(config()) -> ok.
pragma_synchronous(Config) ->
    {ok, Db} = libsql:open(#{path => db_path(Config, "pragma_sync.db")}),
    {ok, Default} = libsql_pragma:synchronous(Db),
    true = lists:member(Default, [normal, full]),
    [begin
         ok = libsql_pragma:synchronous(Db, L),
         {ok, L} = libsql_pragma:synchronous(Db)
     end || L <- [off, normal, full, extra, normal]],
    ok = libsql:close(Db).

-spec pragma_cache_size(config()) -> ok.
pragma_cache_size(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    {ok, Default} = libsql_pragma:cache_size(Db),
    true = is_integer(Default),
    ok = libsql_pragma:cache_size(Db, 500),
    {ok, 500} = libsql_pragma:cache_size(Db),
    ok = libsql_pragma:cache_size(Db, -4096),
    {ok, -4096} = libsql_pragma:cache_size(Db),
    ok = libsql:close(Db).

-spec pragma_table_info(config()) -> ok.
pragma_table_info(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    {ok, _} = libsql:execute(Db, "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                                 "score REAL DEFAULT 1.5)"),
    {ok, [#{<<"cid">> := 0, <<"name">> := <<"id">>, <<"type">> := <<"INTEGER">>,
            <<"notnull">> := 0, <<"dflt_value">> := null, <<"pk">> := 1},
          #{<<"cid">> := 1, <<"name">> := <<"name">>, <<"type">> := <<"TEXT">>,
            <<"notnull">> := 1, <<"dflt_value">> := null, <<"pk">> := 0},
          #{<<"cid">> := 2, <<"name">> := <<"score">>, <<"type">> := <<"REAL">>,
            <<"notnull">> := 0, <<"dflt_value">> := <<"1.5">>, <<"pk">> := 0}]} =
        libsql_pragma:table_info(Db, <<"t">>),
    {ok, [_, _, _]} = libsql_pragma:table_info(Db, t),
    {ok, [_, _, _]} = libsql_pragma:table_info(Db, "t"),
    {ok, []} = libsql_pragma:table_info(Db, <<"missing">>),
    %% The name is bound, not interpolated.
    {ok, []} = libsql_pragma:table_info(Db, <<"t'); DROP TABLE t; --">>),
    {ok, [_, _, _]} = libsql_pragma:table_info(Db, t),
    ok = libsql:close(Db).

-spec pragma_index_list(config()) -> ok.
pragma_index_list(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    {ok, _} = libsql:execute(Db, "CREATE TABLE t(a INTEGER, b TEXT)"),
    {ok, []} = libsql_pragma:index_list(Db, t),
    {ok, _} = libsql:execute(Db, "CREATE INDEX t_a ON t(a)"),
    {ok, [#{<<"seq">> := 0, <<"name">> := <<"t_a">>, <<"unique">> := 0, <<"origin">> := <<"c">>,
            <<"partial">> := 0}]} = libsql_pragma:index_list(Db, t),
    {ok, _} = libsql:execute(Db, "CREATE UNIQUE INDEX t_b ON t(b) WHERE b IS NOT NULL"),
    {ok, L} = libsql_pragma:index_list(Db, <<"t">>),
    [#{<<"name">> := <<"t_a">>, <<"unique">> := 0, <<"partial">> := 0},
     #{<<"name">> := <<"t_b">>, <<"unique">> := 1, <<"partial">> := 1}] =
        lists:sort(fun(X, Y) -> maps:get(<<"name">>, X) =< maps:get(<<"name">>, Y) end, L),
    ok = libsql:close(Db).

-spec pragma_integrity_check(config()) -> ok.
pragma_integrity_check(Config) ->
    {ok, Db} = libsql:open(#{path => db_path(Config, "pragma_ic.db")}),
    ok = libsql_pragma:integrity_check(Db),
    {ok, _} = libsql:execute(Db, "CREATE TABLE t(x UNIQUE)"),
    {ok, _} = libsql:execute(Db, "INSERT INTO t WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                                 "SELECT x+1 FROM c WHERE x < 1000) SELECT x FROM c"),
    ok = libsql_pragma:integrity_check(Db),
    ok = libsql:close(Db).

-spec pragma_wal_checkpoint(config()) -> ok.
pragma_wal_checkpoint(Config) ->
    {ok, Db} = libsql:open(#{path => db_path(Config, "pragma_ckpt.db")}),
    %% Not in WAL mode: SQLite answers -1, -1.
    {ok, #{busy := false, log := -1, checkpointed := -1}} = libsql_pragma:wal_checkpoint(Db),
    {ok, wal} = libsql_pragma:journal_mode(Db, wal),
    {ok, _} = libsql:execute(Db, "CREATE TABLE t(x)"),
    {ok, _} = libsql:execute(Db, "INSERT INTO t WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                                 "SELECT x+1 FROM c WHERE x < 1000) SELECT randomblob(100) FROM c"),
    {ok, #{busy := false, log := Log, checkpointed := Log} = M} =
        libsql_pragma:wal_checkpoint(Db),
    3 = maps:size(M),
    true = Log > 0,
    {ok, #{busy := false, log := Log, checkpointed := Log}} =
        libsql_pragma:wal_checkpoint(Db, full),
    {ok, #{busy := false, log := 0, checkpointed := 0}} =
        libsql_pragma:wal_checkpoint(Db, truncate),
    {ok, #{busy := false}} = libsql_pragma:wal_checkpoint(Db, restart),
    ct:pal("wal_checkpoint: ~b pages", [Log]),
    %% A reader holding an old snapshot stops a passive checkpoint short.
    {ok, R} = libsql:open(#{path => db_path(Config, "pragma_ckpt.db")}),
    ok = libsql:begin_transaction(R),
    {ok, _, [{1000}]} = libsql:query(R, "SELECT count(*) FROM t"),
    {ok, _} = libsql:execute(Db, "INSERT INTO t SELECT randomblob(100) FROM t"),
    {ok, #{busy := false, log := Log2, checkpointed := Done2}} =
        libsql_pragma:wal_checkpoint(Db),
    ct:pal("with a reader pinned: log ~b, checkpointed ~b", [Log2, Done2]),
    true = Log2 > 0 andalso Done2 < Log2,
    ok = libsql:commit(R),
    {ok, #{busy := false, log := Log2, checkpointed := Log2}} =
        libsql_pragma:wal_checkpoint(Db),
    ok = libsql:close(R),
    ok = libsql:close(Db).

-spec pragma_user_version(config()) -> ok.
pragma_user_version(Config) ->
    Path = db_path(Config, "pragma_uv.db"),
    {ok, Db} = libsql:open(#{path => Path}),
    {ok, 0} = libsql_pragma:user_version(Db),
    ok = libsql_pragma:user_version(Db, 42),
    {ok, 42} = libsql_pragma:user_version(Db),
    ok = libsql_pragma:user_version(Db, -1),
    {ok, -1} = libsql_pragma:user_version(Db),
    ok = libsql_pragma:user_version(Db, 16#7fffffff),
    ok = libsql:close(Db),
    %% It is stored in the file.
    {ok, Db2} = libsql:open(#{path => Path}),
    {ok, 16#7fffffff} = libsql_pragma:user_version(Db2),
    ok = libsql:close(Db2).

-spec pragma_optimize(config()) -> ok.
pragma_optimize(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    ok = libsql_pragma:optimize(Db),
    {ok, _} = libsql:execute(Db, "CREATE TABLE t(a)"),
    {ok, _} = libsql:execute(Db, "CREATE INDEX t_a ON t(a)"),
    ok = libsql_pragma:optimize(Db),
    ok = libsql:close(Db),
    expect_error(closed, libsql_pragma:optimize(Db)),
    ok.

-spec pragma_bad_setters(config()) -> ok.
pragma_bad_setters(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    [expect_error(bad_argument, libsql_pragma:foreign_keys(Db, V))
     || V <- [1, 0, on, <<"ON">>, undefined]],
    [expect_error(bad_argument, libsql_pragma:journal_mode(Db, V))
     || V <- [bogus, <<"wal">>, "wal", 'wal; DROP TABLE x', 1]],
    [expect_error(bad_argument, libsql_pragma:synchronous(Db, V))
     || V <- [0, 2, <<"full">>, fast, "normal"]],
    [expect_error(bad_argument, libsql_pragma:cache_size(Db, V))
     || V <- [1.5, <<"100">>, 16#7fffffff, -16#7fffffff, big]],
    [expect_error(bad_argument, libsql_pragma:user_version(Db, V))
     || V <- [16#80000000, -16#80000001, 1.0, <<"1">>, v]],
    [expect_error(bad_argument, libsql_pragma:wal_checkpoint(Db, V))
     || V <- [bogus, <<"full">>, 1]],
    %% Nothing changed.
    {ok, false} = libsql_pragma:foreign_keys(Db),
    {ok, memory} = libsql_pragma:journal_mode(Db),
    {ok, 0} = libsql_pragma:user_version(Db),
    ok = libsql:close(Db).

%% BUG: a table name that is not iodata (42, {t}) makes table_info/2 and
%% index_list/2 raise badarg (iolist_to_binary in libsql_pragma:name/1)
%% instead of returning {error, #{code := bad_argument}} as every other
%% bad argument does. Fails until fixed.
-spec pragma_table_name_not_text(config()) -> ok.
pragma_table_name_not_text(_Config) ->
    {ok, Db} = libsql:open(#{path => ":memory:"}),
    [begin
         expect_error(bad_argument, catch_all(fun() -> libsql_pragma:table_info(Db, V) end)),
         expect_error(bad_argument, catch_all(fun() -> libsql_pragma:index_list(Db, V) end))
     end || V <- [42, {t}, [<<"t">>, x]]],
    ok = libsql:close(Db).

%% ---- concurrency ----------------------------------------------------------

-spec wal_reader_not_blocked(config()) -> ok.
wal_reader_not_blocked(Config) ->
    Path = db_path(Config, "wal_rw.db"),
    {ok, W} = libsql:open(#{path => Path}),
    {ok, wal} = libsql_pragma:journal_mode(W, wal),
    {ok, _} = libsql:execute(W, "CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER)"),
    {ok, _} = libsql:execute(W, "INSERT INTO t(v) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                                "SELECT x+1 FROM c WHERE x < 10) SELECT x FROM c"),
    {ok, R} = libsql:open(#{path => Path, busy_timeout => 5000}),
    {ok, #{journal_mode := <<"wal">>}} = libsql:info(R),
    ok = libsql:begin_transaction(W, #{mode => immediate}),
    {ok, #{changes := 100}} =
        libsql:execute(W, "INSERT INTO t(v) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                          "SELECT x+1 FROM c WHERE x < 100) SELECT 1000 + x FROM c"),
    {ok, _, [{110}]} = libsql:query(W, "SELECT count(*) FROM t"),
    {T, Res} = timed(fun() -> libsql:query(R, "SELECT count(*), sum(v) FROM t") end),
    ct:pal("reader answered in ~b ms while the writer held its transaction", [T]),
    {ok, _, [{10, 55}]} = Res,
    assert_less(reader_ms, T, 500),
    {ok, 55} = libsql:fold(R, "SELECT v FROM t", [], fun({V}, A) -> A + V end, 0),
    %% A read transaction on the reader keeps its snapshot across the commit.
    ok = libsql:begin_transaction(R),
    {ok, _, [{10}]} = libsql:query(R, "SELECT count(*) FROM t"),
    ok = libsql:commit(W),
    {ok, _, [{10}]} = libsql:query(R, "SELECT count(*) FROM t"),
    ok = libsql:commit(R),
    {ok, _, [{110, 105105}]} = libsql:query(R, "SELECT count(*), sum(v) FROM t"),
    [ok = libsql:close(X) || X <- [R, W]],
    ok.

-spec wal_four_writers(config()) -> ok.
wal_four_writers(Config) ->
    Path = db_path(Config, "wal_writers.db"),
    {ok, Db} = libsql:open(#{path => Path}),
    {ok, wal} = libsql_pragma:journal_mode(Db, wal),
    {ok, _} = libsql:execute(Db, "CREATE TABLE counter(id INTEGER PRIMARY KEY, n INTEGER)"),
    {ok, _} = libsql:execute(Db, "INSERT INTO counter VALUES (1, 0)"),
    {ok, _} = libsql:execute(Db, "CREATE TABLE log(id INTEGER PRIMARY KEY, w INTEGER, "
                                 "seen INTEGER)"),
    Parent = self(),
    Writer = fun(W) ->
                     {ok, C} = libsql:open(#{path => Path}),
                     Parent ! {ready, self()},
                     receive go -> ok end,
                     Rs = [libsql:transaction(
                             C,
                             fun(X) ->
                                     {ok, _, [{N}]} =
                                         libsql:query(X, "SELECT n FROM counter WHERE id = 1"),
                                     {ok, #{changes := 1}} =
                                         libsql:execute(X, "UPDATE counter SET n = ? WHERE id = 1",
                                                        [N + 1]),
                                     {ok, #{changes := 1}} =
                                         libsql:execute(X, "INSERT INTO log(w, seen) VALUES (?, ?)",
                                                        [W, N]),
                                     N
                             end, #{mode => immediate})
                           || _ <- lists:seq(1, 500)],
                     ok = libsql:close(C),
                     Parent ! {done, self(), Rs}
             end,
    Pids = [spawn_link(fun() -> Writer(W) end) || W <- lists:seq(1, 4)],
    [receive {ready, P} -> ok after 10000 -> ct:fail(writer_not_ready) end || P <- Pids],
    T0 = erlang:monotonic_time(millisecond),
    [P ! go || P <- Pids],
    Results = [receive {done, P, Rs} -> Rs after 80000 -> ct:fail(writer_not_done) end
               || P <- Pids],
    Ms = erlang:monotonic_time(millisecond) - T0,
    All = lists:append(Results),
    ct:pal("4 writers x 500 immediate transactions: ~b ms (~b tx/s)",
           [Ms, 2000 * 1000 div max(Ms, 1)]),
    2000 = length(All),
    case [R || R <- All, not is_tuple(R) orelse element(1, R) =/= ok] of
        [] -> ok;
        Bad -> ct:fail({writers_saw_errors, length(Bad), lists:sublist(Bad, 5)})
    end,
    %% Every transaction saw a distinct counter value: 0..1999 exactly once.
    Seen = lists:sort([N || {ok, N} <- All]),
    Seen = lists:seq(0, 1999),
    {ok, _, [{2000}]} = libsql:query(Db, "SELECT n FROM counter WHERE id = 1"),
    {ok, _, [{2000, 2000}]} = libsql:query(Db, "SELECT count(*), count(DISTINCT seen) FROM log"),
    {ok, _, [{0, 1999}]} = libsql:query(Db, "SELECT min(seen), max(seen) FROM log"),
    {ok, _, PerWriter} = libsql:query(Db, "SELECT w, count(*) FROM log GROUP BY w ORDER BY w"),
    [{1, 500}, {2, 500}, {3, 500}, {4, 500}] = PerWriter,
    ok = libsql_pragma:integrity_check(Db),
    ok = libsql:close(Db).

%% ---- helpers ----------------------------------------------------------------

assert_less(What, Value, Limit) ->
    case Value < Limit of
        true -> ok;
        false -> ct:fail({What, Value, not_below, Limit})
    end.

%% Run Fun in a new process; {Class, Reason, Mailbox} if it raised (the
%% mailbox as it was right after, and 100 ms later), else a failure.
in_fresh_process(Fun) ->
    Parent = self(),
    {Pid, Mon} = spawn_monitor(
                   fun() ->
                           R = try Fun() of
                                   V -> {returned, V}
                               catch
                                   C:E -> {C, E}
                               end,
                           {messages, M1} = process_info(self(), messages),
                           timer:sleep(100),
                           {messages, M2} = process_info(self(), messages),
                           Parent ! {self(), R, M1 ++ M2}
                   end),
    receive
        {Pid, {returned, V}, _} ->
            ct:fail({fold_returned, V});
        {Pid, {Class, Reason}, Mailbox} ->
            receive {'DOWN', Mon, process, Pid, _} -> ok end,
            case Mailbox of
                [] -> {Class, Reason, Mailbox};
                _ -> ct:fail({stray_messages, Mailbox})
            end
    after 10000 ->
            ct:fail(fresh_process_timeout)
    end.

%% The last rows of a cursor: {Rows, done}, or {Rows, more} then {[], done}.
fetch_last(Cur, N, Rows) ->
    case libsql:fetch(Cur, N) of
        {ok, Rows, done} -> ok;
        {ok, Rows, more} ->
            case libsql:fetch(Cur, N) of
                {ok, [], done} -> ok;
                Other -> ct:fail({after_last_rows, Other})
            end;
        Other ->
            ct:fail({expected_last_rows, Rows, got, Other})
    end.

catch_all(Fun) ->
    try Fun()
    catch C:E -> {crashed, C, E}
    end.

wait_cursors(Db, N, Deadline) ->
    case libsql:stats(Db) of
        {ok, #{cursors := N}} ->
            ok;
        {ok, #{cursors := M}} ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> ct:fail({cursors, M, expected, N});
                false -> timer:sleep(10), wait_cursors(Db, N, Deadline)
            end
    end.

collect_seen(Acc) ->
    receive {seen, X} -> collect_seen([X | Acc])
    after 0 -> lists:reverse(Acc)
    end.

%% Path relative to Cwd ("../.." as needed).
relative_path(Path, Cwd) ->
    P = filename:split(Path),
    C = filename:split(Cwd),
    {Ps, Cs} = drop_common(P, C),
    filename:join([".." || _ <- Cs] ++ Ps).

drop_common([X | A], [X | B]) -> drop_common(A, B);
drop_common(A, B) -> {A, B}.
