%% Common Test suite: what only a local connection has (DESIGN.md section
%% 3), against real SQLite files and :memory: databases, through the port
%% program: opening files (URIs, read_only, create, busy_timeout, spin_us),
%% a UTF-16 database, errors without a connection, and transactions beyond
%% what a remote server without streams supports (rollback on raise,
%% nesting, locking modes).
%%
%% The API itself (types, statements, parameters, errors, batches,
%% execute_many, scripts, transactions, prepared statements, streaming,
%% connections) runs with the same case bodies against a local file and a
%% remote server in libsql_api_SUITE.
%%
%% Every case asserts exact values. A case whose name ends in `_bug'
%% exposes a defect found while writing this suite: it is meant to fail
%% until the defect is fixed (see the comment above it).
-module(libsql_local_SUITE).

-include_lib("common_test/include/ct.hrl").

-import(libsql_test_util, [db_path/2, expect_error/2, contains/2, timed/1, same/3]).

-export([all/0, groups/0, suite/0, init_per_suite/1, end_per_suite/1]).

%% open / close
-export([open_file_creates/1, open_memory/1, open_uri_read_only/1,
         open_read_only_option/1, open_create_false_missing/1,
         open_create_false_existing/1, open_busy_timeout/1, open_bad_busy_timeout/1, open_spin_us/1,
         open_unknown_option/1, open_missing_path/1, open_not_a_map/1]).
%% types
-export([types_utf16_file/1]).
%% bad arguments
-export([bad_db/1]).
%% errors
-export([format_error_codes/1, format_error_misc/1]).
%% transactions
-export([tx_rollback_error/1, tx_rollback_exit/1, tx_rollback_throw/1,
         tx_nested/1, tx_nested_outer_fails/1, tx_modes_locking/1,
         tx_bad_mode/1, tx_inside_manual_begin/1]).

-type config() :: [{atom(), term()}].

-define(INT64_MIN, -9223372036854775808).
-define(INT64_MAX, 9223372036854775807).

%% ---- CT callbacks ------------------------------------------------------

-spec suite() -> [tuple()].
suite() -> [{timetrap, {seconds, 60}}].

-spec all() -> [{group, atom()}].
all() ->
    [{group, open}, {group, types}, {group, bad_arguments}, {group, errors},
     {group, transactions}].

-spec groups() -> [{atom(), list(), [atom()]}].
groups() ->
    [{open, [], [open_file_creates, open_memory, open_uri_read_only,
                 open_read_only_option, open_create_false_missing,
                 open_create_false_existing, open_busy_timeout, open_bad_busy_timeout, open_spin_us,
                 open_unknown_option, open_missing_path, open_not_a_map]},
     {types, [], [types_utf16_file]},
     {bad_arguments, [], [bad_db]},
     {errors, [], [format_error_codes, format_error_misc]},
     {transactions, [], [tx_rollback_error, tx_rollback_exit, tx_rollback_throw,
                         tx_nested, tx_nested_outer_fails, tx_modes_locking,
                         tx_bad_mode, tx_inside_manual_begin]}].

-spec init_per_suite(config()) -> config().
init_per_suite(Config) ->
    libsql_test_util:init_per_suite(?MODULE, Config).

-spec end_per_suite(config()) -> ok.
end_per_suite(_Config) ->
    ok.

%% ---- open / close ------------------------------------------------------

-spec open_file_creates(config()) -> ok.
open_file_creates(Config) ->
    Path = db_path(Config, "created.db"),
    false = filelib:is_file(Path),
    {ok, C} = libsql:open(#{path => Path}),
    {ok, #{changes := 0}} = libsql:execute(C, "CREATE TABLE t(v)"),
    {ok, #{changes := 1, last_insert_rowid := 1}} =
        libsql:execute(C, "INSERT INTO t VALUES (?)", [<<"kept">>]),
    ok = libsql:close(C),
    true = filelib:is_regular(Path),
    true = filelib:file_size(Path) > 0,
    %% The data is really in the file: a new connection reads it back.
    {ok, C2} = libsql:open(#{path => list_to_binary(Path), create => false}),
    {ok, [<<"v">>], [{<<"kept">>}]} = libsql:query(C2, "SELECT v FROM t"),
    ok = libsql:close(C2).

-spec open_memory(config()) -> ok.
open_memory(_Config) ->
    {ok, C} = libsql:open(#{path => ":memory:"}),
    true = is_pid(C),
    {ok, [<<"1 + 1">>], [{2}]} = libsql:query(C, "SELECT 1 + 1"),
    %% Each :memory: connection is its own database.
    {ok, C2} = libsql:open(#{path => <<":memory:">>}),
    {ok, _} = libsql:execute(C, "CREATE TABLE only_in_c(x)"),
    {ok, [<<"n">>], [{1}]} =
        libsql:query(C, "SELECT count(*) AS n FROM sqlite_master WHERE name = 'only_in_c'"),
    {ok, [<<"n">>], [{0}]} =
        libsql:query(C2, "SELECT count(*) AS n FROM sqlite_master WHERE name = 'only_in_c'"),
    ok = libsql:close(C),
    ok = libsql:close(C2).

-spec open_uri_read_only(config()) -> ok.
open_uri_read_only(Config) ->
    Path = make_db(Config, "uri_ro.db"),
    {ok, C} = libsql:open(#{path => "file:" ++ Path ++ "?mode=ro"}),
    {ok, [<<"v">>], [{1}, {2}]} = libsql:query(C, "SELECT v FROM t ORDER BY v"),
    E = expect_error(readonly, libsql:execute(C, "INSERT INTO t VALUES (3)")),
    8 = maps:get(extended_code, E),
    <<"INSERT INTO t VALUES (3)">> = maps:get(sql, E),
    expect_error(readonly, libsql:execute(C, "CREATE TABLE t2(x)")),
    %% Reads still work after the failed write, and nothing changed.
    {ok, [<<"n">>], [{2}]} = libsql:query(C, "SELECT count(*) AS n FROM t"),
    ok = libsql:close(C).

-spec open_read_only_option(config()) -> ok.
open_read_only_option(Config) ->
    Path = make_db(Config, "opt_ro.db"),
    {ok, C} = libsql:open(#{path => Path, read_only => true}),
    {ok, [<<"v">>], [{1}, {2}]} = libsql:query(C, "SELECT v FROM t ORDER BY v"),
    E = expect_error(readonly, libsql:execute(C, "UPDATE t SET v = v + 1")),
    8 = maps:get(extended_code, E),
    {ok, [<<"v">>], [{1}, {2}]} = libsql:query(C, "SELECT v FROM t ORDER BY v"),
    ok = libsql:close(C),
    %% read_only never creates: create => true is ignored.
    Missing = db_path(Config, "ro_missing.db"),
    expect_error(cantopen, libsql:open(#{path => Missing, read_only => true, create => true})),
    false = filelib:is_file(Missing),
    ok.

-spec open_create_false_missing(config()) -> ok.
open_create_false_missing(Config) ->
    Path = db_path(Config, "never_created.db"),
    E = expect_error(cantopen, libsql:open(#{path => Path, create => false})),
    14 = maps:get(extended_code, E),
    false = filelib:is_file(Path),
    ok.

-spec open_create_false_existing(config()) -> ok.
open_create_false_existing(Config) ->
    Path = make_db(Config, "exists.db"),
    {ok, C} = libsql:open(#{path => Path, create => false}),
    {ok, #{changes := 1, last_insert_rowid := 3}} =
        libsql:execute(C, "INSERT INTO t VALUES (3)"),
    {ok, [<<"s">>], [{6}]} = libsql:query(C, "SELECT sum(v) AS s FROM t"),
    ok = libsql:close(C).

%% busy_timeout is accepted, and really governs how long a locked database
%% is waited for.
-spec open_busy_timeout(config()) -> ok.
open_busy_timeout(Config) ->
    Path = make_db(Config, "busy.db"),
    {ok, A} = libsql:open(#{path => Path}),
    {ok, B300} = libsql:open(#{path => Path, busy_timeout => 300}),
    {ok, B0} = libsql:open(#{path => Path, busy_timeout => 0}),
    {ok, _} = libsql:execute(A, "BEGIN EXCLUSIVE"),
    {T300, R300} = timed(fun() -> libsql:query(B300, "SELECT count(*) FROM t") end),
    E = expect_error(busy, R300),
    5 = maps:get(extended_code, E),
    true = T300 >= 250 andalso T300 < 3000,
    {T0, R0} = timed(fun() -> libsql:query(B0, "SELECT count(*) FROM t") end),
    expect_error(busy, R0),
    true = T0 < 250,
    {ok, _} = libsql:execute(A, "COMMIT"),
    {ok, [<<"count(*)">>], [{2}]} = libsql:query(B0, "SELECT count(*) FROM t"),
    [ok = libsql:close(X) || X <- [A, B300, B0]],
    ok.

-spec open_bad_busy_timeout(config()) -> ok.
open_bad_busy_timeout(_Config) ->
    [begin
         E = expect_error(bad_argument, libsql:open(#{path => ":memory:", busy_timeout => V})),
         contains(maps:get(message, E), <<"busy_timeout">>)
     end || V <- [-1, <<"x">>, 1.5, infinity, 1 bsl 31]],
    %% The boundaries are accepted.
    [begin {ok, C} = libsql:open(#{path => ":memory:", busy_timeout => V}),
           ok = libsql:close(C)
     end || V <- [0, 16#7fffffff]],
    ok.

%% spin_us: how long the port busy-polls for the next request. Bad values
%% are refused; with the largest budget, a connection that goes idle after
%% a burst stops spinning (its port uses almost no CPU while idle).
-spec open_spin_us(config()) -> ok.
open_spin_us(Config) ->
    [begin
         E = expect_error(bad_argument, libsql:open(#{path => ":memory:", spin_us => V})),
         contains(maps:get(message, E), <<"spin_us">>)
     end || V <- [-1, 10001, 1.5, fast]],
    Path = db_path(Config, "spin.db"),
    [begin
         {ok, C} = libsql:open(#{path => Path, spin_us => Us}),
         {ok, _} = libsql:execute(C, "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY)"),
         {ok, _} = libsql:execute(C, "INSERT OR IGNORE INTO t VALUES (7)"),
         {ok, Pid} = libsql_conn:os_pid(C),
         [{ok, [<<"id">>], [{7}]} = libsql:query(C, "SELECT id FROM t WHERE id = ?", [7])
          || _ <- lists:seq(1, 3000)],
         Busy = libsql_test_util:cpu_ms(Pid),
         timer:sleep(1000),
         Idle = libsql_test_util:cpu_ms(Pid) - Busy,
         ct:pal("spin_us ~b: the port used ~b ms of CPU in 1 s idle", [Us, Idle]),
         %% at most one budget (10 ms) of spinning, plus clock-tick slack
         true = Idle =< 60,
         ok = libsql:close(C)
     end || Us <- [0, 50, 10000]],
    ok.

-spec open_unknown_option(config()) -> ok.
open_unknown_option(_Config) ->
    E = expect_error(bad_argument, libsql:open(#{path => ":memory:", frobnicate => 1})),
    contains(maps:get(message, E), <<"frobnicate">>),
    ok.

-spec open_missing_path(config()) -> ok.
open_missing_path(_Config) ->
    expect_error(bad_argument, libsql:open(#{})),
    expect_error(bad_argument, libsql:open(#{read_only => true})),
    expect_error(bad_argument, libsql:open(#{path => ""})),
    expect_error(bad_argument, libsql:open(#{path => 42})),
    ok.

-spec open_not_a_map(config()) -> ok.
open_not_a_map(_Config) ->
    [expect_error(bad_argument, libsql:open(X))
     || X <- [":memory:", [{path, ":memory:"}], undefined, 42]],
    ok.

%% ---- types -------------------------------------------------------------

%% {Input, ExpectedOutput, typeof() in SQL}
type_cases() ->
    [{?INT64_MIN, ?INT64_MIN, <<"integer">>},
     {?INT64_MAX, ?INT64_MAX, <<"integer">>},
     {0, 0, <<"integer">>},
     {-1, -1, <<"integer">>},
     {1.0e308, 1.0e308, <<"real">>},
     {-1.0e308, -1.0e308, <<"real">>},
     {5.0e-324, 5.0e-324, <<"real">>},
     {neg_zero(), neg_zero(), <<"real">>},
     {0.0, 0.0, <<"real">>},
     {0.1, 0.1, <<"real">>},
     {1.7976931348623157e308, 1.7976931348623157e308, <<"real">>},
     {infinity, infinity, <<"real">>},
     {neg_infinity, neg_infinity, <<"real">>},
     {<<"a", 0, "b", 0>>, <<"a", 0, "b", 0>>, <<"text">>},
     {<<16#1F600/utf8, "x", 16#10FFFF/utf8>>, <<16#1F600/utf8, "x", 16#10FFFF/utf8>>,
      <<"text">>},
     {<<>>, <<>>, <<"text">>},
     {{blob, <<>>}, {blob, <<>>}, <<"blob">>},
     {{blob, <<0, 1, 2, 255, 0>>}, {blob, <<0, 1, 2, 255, 0>>}, <<"blob">>},
     {null, null, <<"null">>},
     {undefined, null, <<"null">>},
     {true, 1, <<"integer">>},
     {false, 0, <<"integer">>},
     {{text, "iolist"}, <<"iolist">>, <<"text">>},
     {{text, [<<"io">>, "li", $s, [<<"t">>]]}, <<"iolist">>, <<"text">>}].

%% A database stored as UTF-16 (big and little endian): SQLite converts text
%% to UTF-8 when the port reads it, and every value comes back as written.
-spec types_utf16_file(config()) -> ok.
types_utf16_file(Config) ->
    [begin
         Path = db_path(Config, "utf16" ++ Enc ++ ".db"),
         {ok, C} = libsql:open(#{path => Path}),
         {ok, _} = libsql:execute(C, ["PRAGMA encoding = 'UTF-16", Enc, "'"]),
         {ok, _} = libsql:execute(C, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)"),
         [{ok, _} = libsql:execute(C, "INSERT INTO t(v) VALUES (?)", [In])
          || {In, _, _} <- type_cases()],
         {ok, _, [{Stored}]} = libsql:query(C, "PRAGMA encoding"),
         <<"UTF-16", _/binary>> = Stored,
         {ok, _, Rows} = libsql:query(C, "SELECT v, typeof(v) FROM t ORDER BY id"),
         same([{Out, Type} || {_, Out, Type} <- type_cases()], Rows, {utf16, Enc}),
         %% and streamed, 3 rows a chunk
         {ok, Folded} = libsql:fold(C, "SELECT v FROM t ORDER BY id", [],
                                    fun({V}, Acc) -> [V | Acc] end, [], #{chunk => 3}),
         same([Out || {_, Out, _} <- type_cases()], lists:reverse(Folded), {utf16_fold, Enc}),
         ok = libsql:close(C)
     end || Enc <- ["le", "be"]],
    ok.

%% ---- bad arguments ---------------------------------------------------------

-spec bad_db(config()) -> ok.
bad_db(_Config) ->
    expect_error(bad_argument, libsql:query(not_a_db, "SELECT 1")),
    expect_error(bad_argument, libsql:execute(42, "SELECT 1")),
    expect_error(bad_argument, libsql:ping(<<"x">>)),
    expect_error(bad_argument, libsql:transaction(not_a_db, fun(_) -> ok end)),
    ok.

%% ---- errors ----------------------------------------------------------------------

-spec format_error_codes(config()) -> ok.
format_error_codes(_Config) ->
    Codes = libsql_error:codes(),
    true = length(lists:usort(Codes)) =:= length(Codes),
    Bare = [libsql:format_error(#{code => Code, message => <<>>}) || Code <- Codes],
    [true = is_binary(B) andalso byte_size(B) > 0 || B <- Bare],
    true = length(lists:usort(Bare)) =:= length(Codes),
    lists:foreach(
      fun(Code) ->
              E = #{code => Code, message => <<"the detail">>},
              F = libsql:format_error(E),
              contains(F, <<"the detail">>),
              contains(F, libsql_error:describe(Code)),
              F = libsql:format_error({error, E}),
              %% A description is a phrase, not the bare atom echoed back
              %% (except where the atom already is the phrase).
              true = byte_size(libsql_error:describe(Code)) > 0
      end, Codes),
    ok.

-spec format_error_misc(config()) -> ok.
format_error_misc(_Config) ->
    F1 = libsql:format_error(foo),
    contains(F1, <<"foo">>),
    F2 = libsql:format_error({some, <<"odd">>, term}),
    contains(F2, <<"odd">>),
    F3 = libsql:format_error({error, not_a_map}),
    contains(F3, <<"not_a_map">>),
    F4 = libsql:format_error(#{no_code => 1}),
    true = is_binary(F4) andalso byte_size(F4) > 0,
    %% An unknown code still gives a sentence naming it.
    contains(libsql:format_error(#{code => brand_new_code, message => <<"m">>}),
             <<"brand_new_code">>),
    %% No message key at all.
    <<"timed out">> = libsql:format_error(#{code => timeout}),
    %% Long SQL is cut.
    Long = binary:copy(<<"x">>, 1000),
    F5 = libsql:format_error(#{code => error, message => <<"m">>, sql => Long}),
    true = byte_size(F5) < 400,
    contains(F5, <<"...">>),
    %% Unicode in messages survives.
    contains(libsql:format_error(#{code => error, message => <<"é😀"/utf8>>}),
             <<"é😀"/utf8>>),
    ok.

%% ---- transactions ------------------------------------------------------------

-spec tx_rollback_error(config()) -> ok.
tx_rollback_error(Config) ->
    tx_rollback(Config, error, fun() -> erlang:error({boom, 1}) end, {boom, 1}).

-spec tx_rollback_exit(config()) -> ok.
tx_rollback_exit(Config) ->
    tx_rollback(Config, exit, fun() -> exit(gone) end, gone).

-spec tx_rollback_throw(config()) -> ok.
tx_rollback_throw(Config) ->
    tx_rollback(Config, throw, fun() -> throw(thrown) end, thrown).

tx_rollback(Config, Class, Raise, Reason) ->
    {C, _Path} = tx_db(Config, "tx_rollback_" ++ atom_to_list(Class) ++ ".db"),
    {ok, _} = libsql:execute(C, "INSERT INTO t VALUES (0)"),
    Got = try libsql:transaction(C, fun(Conn) ->
                                            {ok, _} = libsql:execute(Conn, "INSERT INTO t VALUES (1)"),
                                            {ok, _} = libsql:execute(Conn, "DELETE FROM t WHERE v = 0"),
                                            Raise()
                                    end) of
              R -> {returned, R}
          catch
              K:W:Stack -> {K, W, is_list(Stack)}
          end,
    {Class, Reason, true} = Got,
    {ok, _, [{0}]} = libsql:query(C, "SELECT v FROM t ORDER BY v"),
    %% No transaction is left open: a new one starts and commits.
    {ok, ok} = libsql:transaction(C, fun(Conn) ->
                                             {ok, _} = libsql:execute(Conn, "INSERT INTO t VALUES (5)"),
                                             ok
                                     end),
    {ok, _, [{0}, {5}]} = libsql:query(C, "SELECT v FROM t ORDER BY v"),
    expect_error(error, libsql:execute(C, "COMMIT")),   % nothing open
    ok = libsql:close(C).

-spec tx_nested(config()) -> ok.
tx_nested(Config) ->
    {C, _} = tx_db(Config, "tx_nested.db"),
    Ins = fun(Conn, V) -> {ok, #{changes := 1}} =
                              libsql:execute(Conn, "INSERT INTO t VALUES (?)", [V]) end,
    {ok, outer} =
        libsql:transaction(
          C, fun(C1) ->
                     Ins(C1, 1),
                     {ok, inner_ok} = libsql:transaction(C1, fun(C2) -> Ins(C2, 2), inner_ok end),
                     caught = try libsql:transaction(C1, fun(C2) -> Ins(C2, 3), throw(inner_fail) end)
                              catch throw:inner_fail -> caught
                              end,
                     %% Three levels: the innermost failure rolls back only itself.
                     {ok, mid} =
                         libsql:transaction(
                           C1, fun(C2) ->
                                       Ins(C2, 4),
                                       {'EXIT', {deep, _}} =
                                           catch libsql:transaction(
                                                   C2, fun(C3) -> Ins(C3, 5), error(deep) end),
                                       Ins(C2, 6),
                                       mid
                               end),
                     %% Inside the savepoints the outer data is visible.
                     {ok, _, [{1}, {2}, {4}, {6}]} = libsql:query(C1, "SELECT v FROM t ORDER BY v"),
                     Ins(C1, 7),
                     outer
             end),
    {ok, _, [{1}, {2}, {4}, {6}, {7}]} = libsql:query(C, "SELECT v FROM t ORDER BY v"),
    ok = libsql:close(C).

-spec tx_nested_outer_fails(config()) -> ok.
tx_nested_outer_fails(Config) ->
    {C, _} = tx_db(Config, "tx_nested_outer.db"),
    {'EXIT', {outer_failed, _}} =
        catch libsql:transaction(
                C, fun(C1) ->
                           {ok, _} = libsql:execute(C1, "INSERT INTO t VALUES (1)"),
                           {ok, ok} = libsql:transaction(
                                        C1, fun(C2) ->
                                                    {ok, _} = libsql:execute(C2, "INSERT INTO t VALUES (2)"),
                                                    ok
                                            end),
                           error(outer_failed)
                   end),
    %% The released savepoint went with the outer rollback.
    {ok, _, [{0}]} = libsql:query(C, "SELECT count(*) FROM t"),
    ok = libsql:close(C).

%% deferred takes no lock up front, immediate a write lock, exclusive a lock
%% that keeps readers out: observed from a second connection.
-spec tx_modes_locking(config()) -> ok.
tx_modes_locking(Config) ->
    {A, Path} = tx_db(Config, "tx_modes.db"),
    {ok, B} = libsql:open(#{path => Path, busy_timeout => 0}),
    {ok, deferred} =
        libsql:transaction(A, fun(_) ->
                                      {ok, #{changes := 1}} =
                                          libsql:execute(B, "INSERT INTO t VALUES (10)"),
                                      deferred
                              end, #{mode => deferred}),
    {ok, immediate} =
        libsql:transaction(A, fun(Conn) ->
                                      expect_error(busy, libsql:execute(B, "INSERT INTO t VALUES (11)")),
                                      {ok, _, [{1}]} = libsql:query(B, "SELECT count(*) FROM t"),
                                      {ok, _} = libsql:execute(Conn, "INSERT INTO t VALUES (20)"),
                                      immediate
                              end, #{mode => immediate}),
    {ok, exclusive} =
        libsql:transaction(A, fun(Conn) ->
                                      expect_error(busy, libsql:query(B, "SELECT count(*) FROM t")),
                                      {ok, _} = libsql:execute(Conn, "INSERT INTO t VALUES (30)"),
                                      exclusive
                              end, #{mode => exclusive}),
    {ok, _, [{10}, {20}, {30}]} = libsql:query(B, "SELECT v FROM t ORDER BY v"),
    ok = libsql:close(B),
    ok = libsql:close(A).

-spec tx_bad_mode(config()) -> ok.
tx_bad_mode(_Config) ->
    C = mem(),
    Self = self(),
    Fun = fun(_) -> Self ! fun_ran, ok end,
    E = expect_error(bad_argument, libsql:transaction(C, Fun, #{mode => sometimes})),
    contains(maps:get(message, E), <<"sometimes">>),
    expect_error(bad_argument, libsql:transaction(C, Fun, [{mode, immediate}])),
    expect_error(bad_argument, libsql:transaction(C, fun() -> ok end)),
    expect_error(bad_argument, libsql:transaction(C, not_a_fun)),
    receive fun_ran -> ct:fail(fun_ran_despite_bad_argument) after 0 -> ok end,
    %% No transaction was left open.
    expect_error(error, libsql:execute(C, "COMMIT")),
    ok = libsql:close(C).

%% BUG (erl/libsql.erl, top_transaction/5): when BEGIN fails, the library
%% still sends ROLLBACK. If the caller had opened a transaction of its own
%% with execute(C, "BEGIN"), libsql:transaction/2 returns an error *and*
%% silently rolls back the caller's uncommitted work. Expected: the error,
%% with the caller's transaction left as it was.
-spec tx_inside_manual_begin(config()) -> ok.
tx_inside_manual_begin(_Config) ->
    C = mem(),
    {ok, _} = libsql:execute(C, "CREATE TABLE t(v)"),
    {ok, _} = libsql:execute(C, "BEGIN"),
    {ok, _} = libsql:execute(C, "INSERT INTO t VALUES (1)"),
    E = expect_error(error, libsql:transaction(C, fun(_) -> ran end)),
    <<"cannot start a transaction within a transaction">> = maps:get(message, E),
    %% The caller's own transaction must still be open, with its row.
    {ok, _, [{1}]} = libsql:query(C, "SELECT count(*) FROM t"),
    {ok, _} = libsql:execute(C, "COMMIT"),
    {ok, _, [{1}]} = libsql:query(C, "SELECT count(*) FROM t"),
    ok = libsql:close(C).

%% ---- helpers -------------------------------------------------------------

mem() ->
    {ok, C} = libsql:open(#{path => ":memory:"}),
    C.

%% A database file with table t(v) holding 1 and 2; returns its path.
make_db(Config, Name) ->
    Path = db_path(Config, Name),
    {ok, C} = libsql:open(#{path => Path}),
    {ok, _} = libsql:execute(C, "CREATE TABLE t(v)"),
    {ok, _} = libsql:execute(C, "INSERT INTO t VALUES (1), (2)"),
    ok = libsql:close(C),
    Path.

%% A connection to a new file with an empty table t(v).
tx_db(Config, Name) ->
    Path = db_path(Config, Name),
    {ok, C} = libsql:open(#{path => Path}),
    {ok, _} = libsql:execute(C, "CREATE TABLE t(v)"),
    {C, Path}.

neg_zero() ->
    <<F:64/float>> = <<1:1, 0:63>>,
    F.
