%% Common Test suite: a PropEr state-machine model of one libsql session.
%%
%% Random sequences of API calls run against a real database, and every
%% result is checked against a model of what SQLite must answer:
%%
%%   data        insert / update / delete / delete_all through execute/3,
%%               select_all, count and get_key through query/2,3; a duplicate
%%               key is a constraint error that changes nothing;
%%   statements  prepare "SELECT v FROM kv WHERE k = ?", run it, finalize
%%               it, run or finalize it again (bad_argument);
%%   transactions begin_transaction (deferred / immediate / exclusive /
%%               read_only, where every write is `readonly'), commit,
%%               rollback, savepoint, release, rollback_to, with SQLite's
%%               exact errors for BEGIN inside a transaction, COMMIT /
%%               ROLLBACK without one and an unknown savepoint (names
%%               compare case-insensitively, as in SQLite);
%%   cursors     cursor_open on "SELECT k, v FROM kv ORDER BY k" (the same
%%               text select_all runs, so the statement cache is exercised
%%               with a cursor holding that statement), fetch N, cursor_close;
%%   connection  reconnect: close, check the old handle says `closed', open
%%               the file again; uncommitted work is lost and every earlier
%%               statement and cursor handle is stale.
%%
%% Two properties: prop_conn_model on a connection from libsql:open/1 (a
%% fresh file per test run), prop_pool_model on a pool of 2 (a fresh pool
%% and file per test run) with the whole sequence inside libsql:with_conn/2
%% and every call made on the pool name, so the pinning path is the one
%% under test. The pool model has no reconnect; it has `peek' instead: a
%% read from another process, served by the other worker, which must see
%% exactly the committed rows (or `busy' while an EXCLUSIVE transaction
%% holds the lock: the pool runs with busy_timeout 0). After each sequence
%% the committed rows are read back: after close and reopen, or through the
%% pool once with_conn's reset of the worker has run.
%%
%% The model follows SQLite's rules: reads inside a transaction see its own
%% writes, a savepoint opened outside a transaction starts one and its
%% RELEASE commits it, ROLLBACK TO keeps the savepoint, COMMIT / ROLLBACK
%% end every savepoint. What a cursor sees when the table changes under it
%% is SQLite's business, not this library's: while a cursor that has not yet
%% reported `done' is open, no write is generated, and neither a ROLLBACK nor
%% a ROLLBACK TO that would succeed (both would rewrite what it reads); its
%% fetches are checked against the rows visible when it was opened. fetch
%% answers `more' when it returned N rows and `done' when the statement ran
%% out before N (measured; asserted exactly). BEGIN IMMEDIATE / EXCLUSIVE
%% are only generated outside a transaction: inside one they run into the
%% SQLite defect that savepoint_failed_begin_rollback_to shows.
%%
%% Tests per property: 200 (connection) and 100 (pool), or
%% $LIBSQL_MODEL_NUMTESTS for both (`make proper' runs 2000).
%%
%% PropEr is called without proper.hrl (Debian's erlang-proper ships no
%% include/ directory): proper:forall/2, proper_types and proper_statem
%% directly; the state-machine callbacks are the exported initial_state/0,
%% command/1, precondition/2, postcondition/3 and next_state/3, and the
%% commands are symbolic calls to the exported wrappers below.
-module(libsql_model_SUITE).

-include_lib("common_test/include/ct.hrl").
-include("libsql.hrl").

-import(libsql_test_util, [db_path/2]).

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1]).
-export([prop_conn_model/1, prop_pool_model/1, savepoint_failed_begin_rollback_to/1]).
%% proper_statem callbacks
-export([initial_state/0, command/1, precondition/2, postcondition/3, next_state/3]).
%% commands (symbolic calls {call, ?MODULE, F, Args})
-export([insert/2, update/2, delete/1, delete_all/0, select_all/0, count/0, get_key/1,
         prepare/0, run_stmt/2, finalize/1,
         begin_tx/1, commit/0, rollback/0, savepoint/1, release/1, rollback_to/1,
         cursor_open/0, fetch/2, cursor_close/1, reconnect/0, peek/0]).

-type config() :: [{atom(), term()}].

-define(CONN_NUMTESTS, 200).
-define(POOL_NUMTESTS, 100).
-define(POOL, libsql_model_pool).
-define(DB_KEY, libsql_model_db).
-define(PATH_KEY, libsql_model_path).
-define(STATS, libsql_model_stats).

-define(CREATE, <<"CREATE TABLE kv(k INTEGER PRIMARY KEY, v)">>).
-define(INSERT, <<"INSERT INTO kv(k, v) VALUES (?, ?)">>).
-define(UPDATE, <<"UPDATE kv SET v = ? WHERE k = ?">>).
-define(DELETE, <<"DELETE FROM kv WHERE k = ?">>).
-define(DELETE_ALL, <<"DELETE FROM kv">>).
-define(SELECT_ALL, <<"SELECT k, v FROM kv ORDER BY k">>).
-define(COUNT, <<"SELECT count(*) FROM kv">>).
-define(GET, <<"SELECT v FROM kv WHERE k = ?">>).
-define(SAVEPOINTS, [a, b, c, 'A']).
-define(MAX_OPEN_CURSORS, 3).
%% PropEr's size: sequences grow from about START_SIZE commands to about
%% MAX_SIZE.
-define(START_SIZE, 10).
-define(MAX_SIZE, 60).

-type rows() :: #{integer() => term()}.
-type mode() :: deferred | immediate | exclusive | read_only.

%% A transaction: the rows it sees, its savepoints (newest first, each with
%% the rows when it was taken), whether BEGIN started it (false: the first
%% SAVEPOINT did) and the BEGIN mode.
-record(tx, {rows :: rows(),
             sps = [] :: [{binary(), rows()}],
             begun :: boolean(),
             mode :: mode()}).

%% Handles are the symbolic variables of prepare/cursor_open while commands
%% are generated and their real results ({ok, Stmt} / {ok, Cursor}) while
%% they run; the model keys on them either way.
-type cursor_state() :: {open, [{integer(), term()}], Done :: boolean()} | closed | stale.
-record(model, {kind = conn :: conn | pool,
                committed = #{} :: rows(),
                tx = none :: none | #tx{},
                last_rowid = 0 :: integer(),
                stmts = [] :: [{term(), open | finalized | stale}],
                cursors = [] :: [{term(), cursor_state()}]}).
-type state() :: #model{}.

%% ---- CT callbacks ------------------------------------------------------

-spec suite() -> [tuple()].
suite() ->
    %% 2000 tests of each property (make proper) need far more than the
    %% default run's budget.
    Secs = case numtests_env() of
               undefined -> 300;
               N -> max(300, N div 2)
           end,
    [{timetrap, {seconds, Secs}}].

-spec all() -> [atom()].
all() ->
    [prop_conn_model, prop_pool_model, savepoint_failed_begin_rollback_to].

-spec init_per_suite(config()) -> config().
init_per_suite(Config) ->
    libsql_test_util:init_per_suite(?MODULE, Config).

-spec end_per_suite(config()) -> ok.
end_per_suite(_Config) ->
    ok.

%% ---- cases -----------------------------------------------------------------

-spec prop_conn_model(config()) -> ok.
prop_conn_model(Config) ->
    Base = db_path(Config, "model_"),
    check_model(conn, Base, numtests(?CONN_NUMTESTS),
                proper_statem:commands(?MODULE)).

-spec prop_pool_model(config()) -> ok.
prop_pool_model(Config) ->
    Base = db_path(Config, "model_"),
    check_model(pool, Base, numtests(?POOL_NUMTESTS),
                proper_statem:commands(?MODULE, #model{kind = pool})).

%% Found by prop_conn_model (LIBSQL_MODEL_NUMTESTS=2000), shrunk to: a
%% connection that has not read the database yet runs SAVEPOINT c, then
%% BEGIN IMMEDIATE (or EXCLUSIVE), which fails with "cannot start a
%% transaction within a transaction", then ROLLBACK TO c and RELEASE c; all
%% succeed, and the database file is left empty: every table is gone, for
%% this connection and every later one. The same sequence does it through
%% Python's sqlite3 on this machine's libsqlite3 (3.40.1), so the defect is
%% SQLite's, reached through libsql's public API; with any read before the
%% SAVEPOINT, or BEGIN DEFERRED instead, nothing is lost. The model keeps
%% BEGIN IMMEDIATE / EXCLUSIVE outside transactions (see begin_mode/1) so
%% that this case, not a flaky property, is what shows the defect. It
%% passes once the row survives, whatever the four calls answer (say,
%% begin_transaction/2 refusing to BEGIN inside a transaction, or a fixed
%% SQLite).
-spec savepoint_failed_begin_rollback_to(config()) -> ok.
savepoint_failed_begin_rollback_to(Config) ->
    Path = fresh_path(db_path(Config, "model_")),
    {ok, C0} = libsql:open(#{path => Path}),
    {ok, _} = libsql:execute(C0, ?CREATE),
    {ok, _} = libsql:execute(C0, ?INSERT, [1, <<"one">>]),
    ok = libsql:close(C0),
    {ok, C} = libsql:open(#{path => Path}),
    Steps = [{savepoint, libsql:savepoint(C, c)},
             {begin_immediate, libsql:begin_transaction(C, #{mode => immediate})},
             {rollback_to, libsql:rollback_to(C, c)},
             {release, libsql:release(C, c)}],
    ok = libsql:close(C),
    {ok, C2} = libsql:open(#{path => Path}),
    After = libsql:query(C2, ?SELECT_ALL),
    ok = libsql:close(C2),
    delete_db(Path),
    ct:log("steps: ~p~nrows afterwards: ~p", [Steps, After]),
    case After of
        {ok, [<<"k">>, <<"v">>], [{1, <<"one">>}]} -> ok;
        _ -> ct:fail({committed_data_lost, Steps, After})
    end.

check_model(Kind, Base, N, CommandsGen) ->
    Stats = ets:new(?STATS, [public, set]),
    Prop = proper:forall(
             CommandsGen,
             fun(Cmds) ->
                     %% Nothing may raise out of here either (see guard/1).
                     case guard(fun() -> run_sequence(Kind, Base, Cmds, Stats) end) of
                         {_History, _State, ok} ->
                             true;
                         {_History, _State, Failure} ->
                             io:format(user, "~nthe sequence ended with ~0P~n", [Failure, 30]),
                             false;
                         Other ->
                             io:format(user, "~nthe sequence ended with ~0P~n", [Other, 30]),
                             false
                     end
             end),
    {Micros, Result} =
        timer:tc(fun() ->
                         proper:quickcheck(Prop, [{numtests, N}, {start_size, ?START_SIZE},
                                                  {max_size, ?MAX_SIZE},
                                                  {to_file, user}, long_result])
                 end),
    ct:log("~p model: ~b tests in ~b ms: ~p~n~ncommand outcomes:~n~ts",
           [Kind, N, Micros div 1000, Result, format_stats(Stats)]),
    ets:delete(Stats),
    case Result of
        true ->
            ok;
        [Cmds] ->
            %% Run the shrunk counterexample once more for its transcript.
            Transcript = case guard(fun() -> run_sequence(Kind, Base, Cmds, undefined) end) of
                             {_, _, _} = Again -> transcript(Cmds, Again);
                             Other -> io_lib:format("  ended with: ~0p~n", [Other])
                         end,
            ct:pal("~p model: shrunk counterexample (~b commands):~n~ts",
                   [Kind, length([C || {set, _, _} = C <- Cmds]), Transcript]),
            ct:fail({model_failed, Kind, lists:flatten(Transcript)});
        Other ->
            ct:fail({model_failed, Kind, Other})
    end.

%% ---- running one sequence -----------------------------------------------------

%% A fresh file (and, for a pool, a fresh pool) per sequence.
run_sequence(conn, Base, Cmds, Stats) ->
    Path = fresh_path(Base),
    C = open_fast(Path),
    {ok, _} = libsql:execute(C, ?CREATE),
    put(?DB_KEY, C),
    put(?PATH_KEY, Path),
    try
        Res = proper_statem:run_commands(?MODULE, Cmds),
        count_outcomes(Stats, Cmds, Res),
        %% Closing keeps exactly what was committed.
        ok = libsql:close(get(?DB_KEY)),
        C2 = open_fast(Path),
        put(?DB_KEY, C2),
        final_check(Res, libsql:query(C2, ?SELECT_ALL))
    after
        _ = libsql:close(erase(?DB_KEY)),
        erase(?PATH_KEY),
        delete_db(Path)
    end;
run_sequence(pool, Base, Cmds, Stats) ->
    Path = fresh_path(Base),
    {ok, _} = libsql:start_pool(?POOL, #{path => Path, size => 2, busy_timeout => 0}),
    try
        Res = libsql:with_conn(?POOL, fun(_Conn) ->
            ok = libsql_pragma:synchronous(?POOL, off),
            {ok, _} = libsql:execute(?POOL, ?CREATE),
            put(?DB_KEY, ?POOL),
            try
                R = proper_statem:run_commands(?MODULE, Cmds),
                count_outcomes(Stats, Cmds, R),
                R
            after
                erase(?DB_KEY)
            end
        end),
        %% The worker went back through a reset: what was not committed
        %% is gone, what was committed is there. The reset runs after
        %% with_conn has returned (checkin is a cast): wait for it, or an
        %% EXCLUSIVE lock the sequence left may still be held (busy).
        final_check(Res, case await_idle(?POOL, 2, 200) of
                             ok -> libsql:query(?POOL, ?SELECT_ALL);
                             NotIdle -> NotIdle
                         end)
    after
        ok = libsql:stop_pool(?POOL),
        delete_db(Path)
    end.

await_idle(Pool, Size, Tries) ->
    case libsql:stats(Pool) of
        {ok, #{idle := Size}} -> ok;
        _ when Tries > 0 -> timer:sleep(5), await_idle(Pool, Size, Tries - 1);
        Other -> {pool_not_idle, Other}
    end.

final_check({History, State, ok}, Rows) ->
    Expected = {ok, [<<"k">>, <<"v">>], lists:sort(maps:to_list(State#model.committed))},
    case Rows of
        Expected -> {History, State, ok};
        _ -> {History, State, {after_the_sequence, {expected, Expected}, {got, Rows}}}
    end;
final_check(Res, _Rows) ->
    Res.

%% No fsync per commit: nothing here is about surviving a power cut, and
%% the model runs thousands of commits.
open_fast(Path) ->
    {ok, C} = libsql:open(#{path => Path}),
    ok = libsql_pragma:synchronous(C, off),
    C.

%% Base (a db_path/2 prefix) ++ a number unique in this VM ++ ".db".
fresh_path(Base) ->
    Base ++ integer_to_list(erlang:unique_integer([positive])) ++ ".db".

delete_db(Path) ->
    _ = [file:delete(Path ++ Suffix) || Suffix <- ["", "-journal", "-wal", "-shm"]],
    ok.

%% ---- the state machine ----------------------------------------------------------

-spec initial_state() -> state().
initial_state() ->
    #model{kind = conn}.

-spec command(state()) -> term().
command(S) ->
    Stmts = [H || {H, _} <- S#model.stmts],
    Cursors = [H || {H, _} <- S#model.cursors],
    Writes = writes_allowed(S),
    Cmds =
        [{6, {call, ?MODULE, insert, [key(S), value()]}} || Writes] ++
        [{3, {call, ?MODULE, update, [key(S), value()]}} || Writes] ++
        [{3, {call, ?MODULE, delete, [key(S)]}} || Writes] ++
        [{1, {call, ?MODULE, delete_all, []}} || Writes] ++
        [{3, {call, ?MODULE, select_all, []}},
         {2, {call, ?MODULE, count, []}},
         {2, {call, ?MODULE, get_key, [key(S)]}},
         {2, {call, ?MODULE, prepare, []}}] ++
        [{4, {call, ?MODULE, run_stmt, [proper_types:elements(Stmts), key(S)]}}
         || Stmts =/= []] ++
        [{2, {call, ?MODULE, finalize, [proper_types:elements(Stmts)]}} || Stmts =/= []] ++
        [{3, {call, ?MODULE, begin_tx, [begin_mode(S)]}},
         {2, {call, ?MODULE, commit, []}}] ++
        [{2, {call, ?MODULE, rollback, []}}
         || S#model.tx =:= none orelse not cursor_active(S)] ++
        [{3, {call, ?MODULE, savepoint, [savepoint_name()]}},
         {2, {call, ?MODULE, release, [savepoint_name(S)]}}] ++
        [{2, {call, ?MODULE, rollback_to, [savepoint_name(S)]}}
         || not cursor_active(S)] ++
        [{2, {call, ?MODULE, cursor_open, []}} || open_cursors(S) < ?MAX_OPEN_CURSORS] ++
        [{5, {call, ?MODULE, fetch, [proper_types:elements(Cursors), fetch_count()]}}
         || Cursors =/= []] ++
        [{3, {call, ?MODULE, cursor_close, [proper_types:elements(Cursors)]}}
         || Cursors =/= []] ++
        [{1, {call, ?MODULE, reconnect, []}} || S#model.kind =:= conn] ++
        [{2, {call, ?MODULE, peek, []}} || S#model.kind =:= pool],
    proper_types:frequency(Cmds).

-spec precondition(state(), tuple()) -> boolean().
precondition(S, {call, _, F, _}) when F =:= insert; F =:= update; F =:= delete;
                                      F =:= delete_all ->
    writes_allowed(S);
precondition(S, {call, _, F, [H | _]}) when F =:= run_stmt; F =:= finalize ->
    lists:keymember(H, 1, S#model.stmts);
precondition(S, {call, _, F, [H | _]}) when F =:= fetch; F =:= cursor_close ->
    lists:keymember(H, 1, S#model.cursors);
precondition(S, {call, _, begin_tx, [Mode]}) ->
    S#model.tx =:= none orelse Mode =:= deferred orelse Mode =:= read_only;
precondition(S, {call, _, cursor_open, []}) ->
    open_cursors(S) < ?MAX_OPEN_CURSORS;
precondition(S, {call, _, rollback, []}) ->
    S#model.tx =:= none orelse not cursor_active(S);
precondition(S, {call, _, rollback_to, [Name]}) ->
    find_savepoint(S, Name) =:= none orelse not cursor_active(S);
precondition(S, {call, _, reconnect, []}) ->
    S#model.kind =:= conn;
precondition(S, {call, _, peek, []}) ->
    S#model.kind =:= pool;
precondition(_S, _Call) ->
    true.

-spec postcondition(state(), tuple(), term()) -> boolean().
postcondition(S, Call, Result) ->
    Expected = expected(S, Call),
    case matches(Expected, Result) of
        true ->
            true;
        false ->
            io:format(user, "~nmodel mismatch in ~0p~n  expected ~0p~n  got      ~0p~n",
                      [Call, Expected, Result]),
            false
    end.

-spec next_state(state(), term(), tuple()) -> state().
next_state(S, _Res, {call, _, insert, [K, V]}) ->
    Rows = visible(S),
    case write_blocked(S) orelse maps:is_key(K, Rows) of
        true -> S;
        false -> (set_rows(S, Rows#{K => norm(V)}))#model{last_rowid = K}
    end;
next_state(S, _Res, {call, _, update, [K, V]}) ->
    Rows = visible(S),
    case write_blocked(S) orelse not maps:is_key(K, Rows) of
        true -> S;
        false -> set_rows(S, Rows#{K => norm(V)})
    end;
next_state(S, _Res, {call, _, delete, [K]}) ->
    case write_blocked(S) of
        true -> S;
        false -> set_rows(S, maps:remove(K, visible(S)))
    end;
next_state(S, _Res, {call, _, delete_all, []}) ->
    case write_blocked(S) of
        true -> S;
        false -> set_rows(S, #{})
    end;
next_state(S, Res, {call, _, prepare, []}) ->
    S#model{stmts = S#model.stmts ++ [{Res, open}]};
next_state(S, _Res, {call, _, finalize, [H]}) ->
    case lists:keyfind(H, 1, S#model.stmts) of
        {H, open} -> S#model{stmts = lists:keystore(H, 1, S#model.stmts, {H, finalized})};
        _ -> S
    end;
next_state(#model{tx = none} = S, _Res, {call, _, begin_tx, [Mode]}) ->
    S#model{tx = #tx{rows = S#model.committed, begun = true, mode = Mode}};
next_state(#model{tx = #tx{rows = Rows}} = S, _Res, {call, _, commit, []}) ->
    S#model{committed = Rows, tx = none};
next_state(#model{tx = #tx{}} = S, _Res, {call, _, rollback, []}) ->
    S#model{tx = none};
next_state(#model{tx = none} = S, _Res, {call, _, savepoint, [Name]}) ->
    Rows = S#model.committed,
    S#model{tx = #tx{rows = Rows, sps = [{sp_key(Name), Rows}], begun = false,
                     mode = deferred}};
next_state(#model{tx = Tx} = S, _Res, {call, _, savepoint, [Name]}) ->
    S#model{tx = Tx#tx{sps = [{sp_key(Name), Tx#tx.rows} | Tx#tx.sps]}};
next_state(S, _Res, {call, _, release, [Name]}) ->
    case find_savepoint(S, Name) of
        none ->
            S;
        I ->
            #tx{sps = Sps, begun = Begun, rows = Rows} = Tx = S#model.tx,
            case {lists:nthtail(I, Sps), Begun} of
                {[], false} -> S#model{committed = Rows, tx = none};
                {Rest, _} -> S#model{tx = Tx#tx{sps = Rest}}
            end
    end;
next_state(S, _Res, {call, _, rollback_to, [Name]}) ->
    case find_savepoint(S, Name) of
        none ->
            S;
        I ->
            #tx{sps = Sps} = Tx = S#model.tx,
            [{_, Snapshot} | _] = Kept = lists:nthtail(I - 1, Sps),
            S#model{tx = Tx#tx{rows = Snapshot, sps = Kept}}
    end;
next_state(S, Res, {call, _, cursor_open, []}) ->
    Rows = lists:sort(maps:to_list(visible(S))),
    S#model{cursors = S#model.cursors ++ [{Res, {open, Rows, false}}]};
next_state(S, _Res, {call, _, fetch, [H, N]}) ->
    case lists:keyfind(H, 1, S#model.cursors) of
        {H, {open, Rows, false}} ->
            {_, Rest, Done} = fetch_model(Rows, N),
            S#model{cursors = lists:keystore(H, 1, S#model.cursors, {H, {open, Rest, Done}})};
        _ ->
            S
    end;
next_state(S, _Res, {call, _, cursor_close, [H]}) ->
    case lists:keyfind(H, 1, S#model.cursors) of
        {H, {open, _, _}} -> S#model{cursors = lists:keystore(H, 1, S#model.cursors,
                                                              {H, closed})};
        _ -> S
    end;
next_state(S, _Res, {call, _, reconnect, []}) ->
    S#model{tx = none, last_rowid = 0,
            stmts = [{H, stale} || {H, _} <- S#model.stmts],
            cursors = [{H, stale} || {H, _} <- S#model.cursors]};
next_state(S, _Res, _Call) ->
    %% Reads, and commands that failed without changing anything.
    S.

%% ---- the model's answers ------------------------------------------------------

%% What a call must return in state S: a term, or {match, Fun} for the
%% results that hold values the model cannot know (handles).
expected(S, {call, _, insert, [K, _V]}) ->
    case write_error(S, ?INSERT) of
        none ->
            case maps:is_key(K, visible(S)) of
                true -> {error, #{code => constraint, extended_code => 1555,
                                  message => <<"UNIQUE constraint failed: kv.k">>,
                                  sql => ?INSERT}};
                false -> {ok, #{changes => 1, last_insert_rowid => K}}
            end;
        E -> E
    end;
expected(S, {call, _, update, [K, _V]}) ->
    changes(S, ?UPDATE, length([K || maps:is_key(K, visible(S))]));
expected(S, {call, _, delete, [K]}) ->
    changes(S, ?DELETE, length([K || maps:is_key(K, visible(S))]));
expected(S, {call, _, delete_all, []}) ->
    changes(S, ?DELETE_ALL, map_size(visible(S)));
expected(S, {call, _, select_all, []}) ->
    {ok, [<<"k">>, <<"v">>], lists:sort(maps:to_list(visible(S)))};
expected(S, {call, _, count, []}) ->
    {ok, [<<"count(*)">>], [{map_size(visible(S))}]};
expected(S, {call, _, get_key, [K]}) ->
    lookup(S, K);
expected(_S, {call, _, prepare, []}) ->
    {match, fun({ok, #libsql_stmt{id = Id, sql = ?GET, columns = [<<"v">>], param_count = 1,
                                  readonly = true}}) -> is_integer(Id);
               (_) -> false
            end};
expected(S, {call, _, run_stmt, [H, K]}) ->
    case lists:keyfind(H, 1, S#model.stmts) of
        {H, open} ->
            lookup(S, K);
        {H, finalized} ->
            {error, #{code => bad_argument, message => unknown_stmt(H), sql => ?GET}};
        {H, stale} ->
            {error, #{code => bad_argument,
                      message => <<"the statement belongs to another connection">>,
                      sql => ?GET}}
    end;
expected(S, {call, _, finalize, [H]}) ->
    case lists:keyfind(H, 1, S#model.stmts) of
        {H, open} -> ok;
        {H, finalized} -> {error, #{code => bad_argument, message => unknown_stmt(H)}};
        {H, stale} -> closed()
    end;
expected(#model{tx = none}, {call, _, begin_tx, [_Mode]}) ->
    ok;
expected(_S, {call, _, begin_tx, [Mode]}) ->
    sql_error(<<"cannot start a transaction within a transaction">>, begin_sql(Mode));
expected(#model{tx = none}, {call, _, commit, []}) ->
    sql_error(<<"cannot commit - no transaction is active">>, <<"COMMIT">>);
expected(#model{tx = none}, {call, _, rollback, []}) ->
    sql_error(<<"cannot rollback - no transaction is active">>, <<"ROLLBACK">>);
expected(_S, {call, _, F, []}) when F =:= commit; F =:= rollback ->
    ok;
expected(_S, {call, _, savepoint, [_Name]}) ->
    ok;
expected(S, {call, _, F, [Name]}) when F =:= release; F =:= rollback_to ->
    case find_savepoint(S, Name) of
        none ->
            Prefix = case F of
                         release -> <<"RELEASE SAVEPOINT ">>;
                         rollback_to -> <<"ROLLBACK TO SAVEPOINT ">>
                     end,
            N = atom_to_binary(Name, utf8),
            sql_error(<<"no such savepoint: ", N/binary>>,
                      <<Prefix/binary, $", N/binary, $">>);
        _ ->
            ok
    end;
expected(_S, {call, _, cursor_open, []}) ->
    {match, fun({ok, #libsql_cursor{id = Id, columns = [<<"k">>, <<"v">>]}}) ->
                    is_integer(Id);
               (_) -> false
            end};
expected(S, {call, _, fetch, [H, N]}) ->
    case lists:keyfind(H, 1, S#model.cursors) of
        {H, {open, _Rows, true}} ->
            {ok, [], done};
        {H, {open, Rows, false}} ->
            {Got, _Rest, Done} = fetch_model(Rows, N),
            {ok, Got, case Done of true -> done; false -> more end};
        {H, closed} ->
            {ok, #libsql_cursor{id = Id}} = H,
            {error, #{code => bad_argument,
                      message => <<"unknown or closed cursor ",
                                   (integer_to_binary(Id))/binary>>}};
        {H, stale} ->
            closed()
    end;
expected(_S, {call, _, cursor_close, [_H]}) ->
    ok;
expected(_S, {call, _, reconnect, []}) ->
    %% close/1's answer, then a query on the closed handle.
    {ok, closed()};
expected(#model{tx = #tx{mode = exclusive}}, {call, _, peek, []}) ->
    {error, #{code => busy, extended_code => 5, message => <<"database is locked">>,
              sql => ?SELECT_ALL}};
expected(S, {call, _, peek, []}) ->
    {ok, [<<"k">>, <<"v">>], lists:sort(maps:to_list(S#model.committed))}.

matches({match, Fun}, Result) -> Fun(Result);
matches(Expected, Result) -> Expected =:= Result.

changes(S, Sql, N) ->
    case write_error(S, Sql) of
        none -> {ok, #{changes => N, last_insert_rowid => S#model.last_rowid}};
        E -> E
    end.

%% Inside a read_only transaction every write fails, before any constraint
%% is looked at.
write_error(#model{tx = #tx{mode = read_only}}, Sql) ->
    write_error(read_only, Sql);
write_error(read_only, Sql) ->
    {error, #{code => readonly, extended_code => 8,
              message => <<"attempt to write a readonly database">>, sql => Sql}};
write_error(_S, _Sql) ->
    none.

write_blocked(S) -> write_error(S, <<>>) =/= none.

lookup(S, K) ->
    case maps:find(K, visible(S)) of
        {ok, V} -> {ok, [<<"v">>], [{V}]};
        error -> {ok, [<<"v">>], []}
    end.

sql_error(Message, Sql) ->
    {error, #{code => error, extended_code => 1, message => Message, sql => Sql}}.

closed() ->
    {error, #{code => closed, message => <<"the connection is closed">>}}.

unknown_stmt({ok, #libsql_stmt{id = Id}}) ->
    <<"unknown or finalized statement ", (integer_to_binary(Id))/binary>>.

begin_sql(immediate) -> <<"BEGIN IMMEDIATE">>;
begin_sql(exclusive) -> <<"BEGIN EXCLUSIVE">>;
begin_sql(_DeferredOrReadOnly) -> <<"BEGIN DEFERRED">>.

%% fetch N from the remaining Rows: {Returned, Rest, Done}.
fetch_model(Rows, N) when length(Rows) >= N ->
    {Got, Rest} = lists:split(N, Rows),
    {Got, Rest, false};
fetch_model(Rows, _N) ->
    {Rows, [], true}.

visible(#model{tx = none, committed = Rows}) -> Rows;
visible(#model{tx = #tx{rows = Rows}}) -> Rows.

set_rows(#model{tx = none} = S, Rows) -> S#model{committed = Rows};
set_rows(#model{tx = Tx} = S, Rows) -> S#model{tx = Tx#tx{rows = Rows}}.

%% 1-based position of the newest savepoint called Name, or none.
find_savepoint(#model{tx = none}, _Name) -> none;
find_savepoint(#model{tx = #tx{sps = Sps}}, Name) ->
    find_savepoint(Sps, sp_key(Name), 1).

find_savepoint([], _Key, _I) -> none;
find_savepoint([{Key, _} | _], Key, I) -> I;
find_savepoint([_ | Rest], Key, I) -> find_savepoint(Rest, Key, I + 1).

sp_key(Name) -> string:lowercase(atom_to_binary(Name, utf8)).

%% A cursor that may still return rows.
cursor_active(S) ->
    lists:any(fun({_, {open, _, Done}}) -> not Done; (_) -> false end, S#model.cursors).

writes_allowed(S) -> not cursor_active(S).

open_cursors(S) ->
    length([H || {H, {open, _, _}} <- S#model.cursors]).

norm(undefined) -> null;
norm(true) -> 1;
norm(false) -> 0;
norm(V) -> V.

%% ---- generators ------------------------------------------------------------------

%% Mostly a small range (duplicates and hits), the keys present, sometimes
%% any 64-bit key.
key(S) ->
    Present = maps:keys(visible(S)),
    proper_types:frequency(
      [{6, proper_types:integer(1, 6)},
       {1, proper_types:elements([-(1 bsl 63), (1 bsl 63) - 1, 0, -1, 1 bsl 40])},
       {1, proper_types:integer()}] ++
      [{6, proper_types:elements(Present)} || Present =/= []]).

value() ->
    proper_types:frequency(
      [{2, proper_types:elements([null, undefined, true, false])},
       {4, proper_types:integer()},
       {1, proper_types:elements([-(1 bsl 63), (1 bsl 63) - 1, 0])},
       {3, proper_types:binary()},
       {1, proper_types:bind(proper_types:binary(), fun(B) -> {blob, B} end, false)}]).

%% BEGIN IMMEDIATE / EXCLUSIVE only outside a transaction: inside one it
%% fails, yet takes the write lock first (SQLite), and on a connection that
%% has not read the database yet, SAVEPOINT + that failed BEGIN + ROLLBACK TO
%% + RELEASE empties the database file (the SQLite 3.40.1 defect that
%% savepoint_failed_begin_rollback_to reproduces). The error path itself
%% stays covered by BEGIN DEFERRED and read_only inside a transaction.
begin_mode(#model{tx = none}) ->
    proper_types:elements([deferred, deferred, immediate, exclusive, read_only]);
begin_mode(_S) ->
    proper_types:elements([deferred, read_only]).

fetch_count() ->
    proper_types:frequency([{3, proper_types:exactly(1)}, {2, proper_types:exactly(2)},
                            {1, proper_types:integer(3, 5)}]).

savepoint_name() ->
    proper_types:elements(?SAVEPOINTS).

%% Mostly a name that is open (in either case), sometimes any.
savepoint_name(#model{tx = #tx{sps = [_ | _] = Sps}}) ->
    Open = [N || N <- ?SAVEPOINTS, lists:keymember(sp_key(N), 1, Sps)],
    proper_types:frequency([{3, proper_types:elements(Open)}, {1, savepoint_name()}]);
savepoint_name(_S) ->
    savepoint_name().

%% ---- commands ---------------------------------------------------------------------
%%
%% No command raises: Debian's PropEr 1.2 calls erlang:get_stacktrace/0
%% (gone since OTP 23) when one does, and dies with `undef' instead of
%% reporting. An exception comes back as {raised, Class, Reason, Stack},
%% which no postcondition accepts, so it shows in the counterexample.

-spec insert(integer(), libsql:value()) -> term().
insert(K, V) -> guard(fun() -> libsql:execute(db(), ?INSERT, [K, V]) end).

-spec update(integer(), libsql:value()) -> term().
update(K, V) -> guard(fun() -> libsql:execute(db(), ?UPDATE, [V, K]) end).

-spec delete(integer()) -> term().
delete(K) -> guard(fun() -> libsql:execute(db(), ?DELETE, [K]) end).

-spec delete_all() -> term().
delete_all() -> guard(fun() -> libsql:execute(db(), ?DELETE_ALL) end).

-spec select_all() -> term().
select_all() -> guard(fun() -> libsql:query(db(), ?SELECT_ALL) end).

-spec count() -> term().
count() -> guard(fun() -> libsql:query(db(), ?COUNT) end).

-spec get_key(integer()) -> term().
get_key(K) -> guard(fun() -> libsql:query(db(), ?GET, [K]) end).

-spec prepare() -> term().
prepare() -> guard(fun() -> libsql:prepare(db(), ?GET) end).

-spec run_stmt({ok, libsql:stmt()}, integer()) -> term().
run_stmt(Handle, K) ->
    guard(fun() -> {ok, Stmt} = Handle, libsql:query(db(), Stmt, [K]) end).

-spec finalize({ok, libsql:stmt()}) -> term().
finalize(Handle) ->
    guard(fun() -> {ok, Stmt} = Handle, libsql:finalize(Stmt) end).

-spec begin_tx(mode()) -> term().
begin_tx(Mode) -> guard(fun() -> libsql:begin_transaction(db(), #{mode => Mode}) end).

-spec commit() -> term().
commit() -> guard(fun() -> libsql:commit(db()) end).

-spec rollback() -> term().
rollback() -> guard(fun() -> libsql:rollback(db()) end).

-spec savepoint(atom()) -> term().
savepoint(Name) -> guard(fun() -> libsql:savepoint(db(), Name) end).

-spec release(atom()) -> term().
release(Name) -> guard(fun() -> libsql:release(db(), Name) end).

-spec rollback_to(atom()) -> term().
rollback_to(Name) -> guard(fun() -> libsql:rollback_to(db(), Name) end).

-spec cursor_open() -> term().
cursor_open() -> guard(fun() -> libsql:cursor_open(db(), ?SELECT_ALL, []) end).

-spec fetch({ok, libsql:cursor()}, pos_integer()) -> term().
fetch(Handle, N) ->
    guard(fun() -> {ok, Cursor} = Handle, libsql:fetch(Cursor, N) end).

-spec cursor_close({ok, libsql:cursor()}) -> term().
cursor_close(Handle) ->
    guard(fun() -> {ok, Cursor} = Handle, libsql:cursor_close(Cursor) end).

%% Close the connection, check the old handle answers `closed', open the
%% same file again.
-spec reconnect() -> term().
reconnect() ->
    guard(fun() ->
                  Old = db(),
                  Closed = libsql:close(Old),
                  After = libsql:query(Old, ?SELECT_ALL),
                  put(?DB_KEY, open_fast(get(?PATH_KEY))),
                  {Closed, After}
          end).

%% Read the table from another process: on the pool, with our worker
%% pinned, the other worker serves it.
-spec peek() -> term().
peek() ->
    Pool = db(),
    {Pid, Ref} = spawn_monitor(fun() -> exit({peek, libsql:query(Pool, ?SELECT_ALL)}) end),
    receive
        {'DOWN', Ref, process, Pid, {peek, Result}} -> Result;
        {'DOWN', Ref, process, Pid, Other} -> {peek_crashed, Other}
    after 10000 ->
            exit(Pid, kill),
            peek_timeout
    end.

db() -> get(?DB_KEY).

guard(Fun) ->
    try Fun()
    catch Class:Reason:Stack -> {raised, Class, Reason, Stack}
    end.

%% ---- reporting -------------------------------------------------------------------

numtests_env() ->
    case os:getenv("LIBSQL_MODEL_NUMTESTS") of
        false -> undefined;
        "" -> undefined;
        S -> list_to_integer(S)
    end.

numtests(Default) ->
    case numtests_env() of
        undefined -> Default;
        N -> N
    end.

%% Per command, how often each outcome (ok or the error code) was seen.
count_outcomes(undefined, _Cmds, _Res) ->
    ok;
count_outcomes(Stats, Cmds, {History, _State, _Result}) ->
    Calls = [Call || {set, _, Call} <- Cmds],
    _ = ets:update_counter(Stats, {'(sequences)', run}, 1, {{'(sequences)', run}, 0}),
    _ = ets:update_counter(Stats, {'(commands)', run}, length(History),
                           {{'(commands)', run}, 0}),
    lists:foreach(fun({{call, _, F, _}, {_S, Res}}) ->
                          Key = {F, outcome(F, Res)},
                          _ = ets:update_counter(Stats, Key, 1, {Key, 0})
                  end, proper_statem:zip(Calls, History)).

outcome(fetch, {ok, _, More}) -> More;
outcome(_F, {error, #{code := Code}}) -> Code;
outcome(reconnect, {ok, _}) -> ok;
outcome(_F, {ok, _, []}) -> ok_empty;
outcome(_F, {ok, _, _}) -> ok;
outcome(_F, {ok, _}) -> ok;
outcome(_F, ok) -> ok;
outcome(_F, _) -> other.

format_stats(Stats) ->
    [io_lib:format("  ~-14s ~-14s ~b~n", [F, O, N])
     || {{F, O}, N} <- lists:sort(ets:tab2list(Stats))].

transcript(Cmds, {History, State, Result}) ->
    Calls = [{V, Call} || {set, V, Call} <- Cmds],
    Lines = [io_lib:format("  ~s = ~s~n      -> ~0p~n",
                           [var(V), call_text(Call), Res])
             || {{V, Call}, {_S, Res}} <- proper_statem:zip(Calls, History)],
    [Lines, io_lib:format("  result: ~0p~n  model state where it stopped: ~0p~n",
                          [Result, State])].

var({var, N}) -> "V" ++ integer_to_list(N).

call_text({call, _M, F, Args}) ->
    io_lib:format("~s(~s)", [F, lists:join(", ", [arg_text(A) || A <- Args])]).

arg_text({var, _} = V) -> var(V);
arg_text(A) -> io_lib:format("~0p", [A]).
