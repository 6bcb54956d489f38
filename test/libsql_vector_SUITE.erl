%% Common Test suite: libSQL's vector SQL functions (vector, vector32, vector64, vector16,
%% vectorb16, vector8, vector1bit, vector_extract, vector_distance_cos, vector_distance_l2,
%% libsql_vector_idx) on every local connection, byte-compatible with libSQL's own engine.
%% The contract is /work/shared/vectors.md (§0-§3, §6, Appendix); the judge is the peer,
%% npm libsql 0.5.29 (libSQL 3.45.1), driven by libsql_vector_peer (test/js/vector_peer.mjs).
%%
%% * The corpus: a seeded generator makes several thousand `SELECT <expr>' statements,
%%   one category a case (constructors on text and on blobs of every type, conversions,
%%   malformed text, bad blobs, wrong value types, vector_extract, distances and their
%%   check order, argument counts, libsql_vector_idx, the big inputs). The peer evaluates
%%   the whole corpus once (init_per_suite), we evaluate each statement through
%%   libsql:query/2, and each result must be the peer's: blobs byte for byte (FLOAT8's
%%   pad bytes masked: the peer leaves them uninitialised), text identical, reals
%%   bit-identical, NULL for NULL, errors with the peer's message text. Where the spec
%%   deliberately departs from the peer (vector_extract and the distances on a blob whose
%%   data part has the wrong size read uninitialised memory in the peer), we must raise
%%   `unexpected data part size' instead (category data_size).
%% * The appendix: the spec's examples asserted literally (on us and on the peer).
%% * Files: the peer writes vectors of every type into a file we read, and the reverse;
%%   both sides compute the same extracts, conversions and distances on the stored blobs.
%%
%% Groups (the same case bodies): local (a file), pool (a pool of 3 on a file), replica
%% (an embedded replica of a real tursodb: reads, and so these functions, run on its local
%% file), remote (tursodb's own vector functions: one case only records how much of the
%% corpus tursodb agrees on, and never fails).
%%
%% The peer missing (node, or the package: test/setup_remote.sh installs it) FAILS the
%% suite in init_per_suite, as does a tursodb that cannot be started (libsql_tursodb_cth).
-module(libsql_vector_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, groups/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2, init_per_testcase/2, end_per_testcase/2]).
-export([ctor_text/1, ctor_blob/1, ctor_convert/1, malformed_text/1, bad_blobs/1,
         value_types/1, extract/1, distances/1, distance_checks/1, arity/1, vector_idx/1,
         big_inputs/1, data_size/1,
         appendix_constructors/1, appendix_text/1, appendix_extract/1, appendix_blobs/1,
         appendix_distances/1, appendix_errors/1,
         peer_file_we_read/1, our_file_peer_reads/1, remote_agreement/1]).
%% The generator, for a look from the shell: libsql_vector_SUITE:corpus().
-export([corpus/0]).

-type config() :: [{atom(), term()}].

-define(CATEGORIES, [ctor_text, ctor_blob, ctor_convert, malformed_text, bad_blobs,
                     value_types, extract, distances, distance_checks, arity, vector_idx,
                     big_inputs, data_size]).
-define(APPENDIX, [appendix_constructors, appendix_text, appendix_extract, appendix_blobs,
                   appendix_distances, appendix_errors]).
-define(FILES, [peer_file_we_read, our_file_peer_reads]).
-define(SEED, {20240529, 3451, 17}).
-define(TYPES, [f32, f64, f16, bf16, f8, b1]).
-define(CTORS, ["vector", "vector32", "vector64", "vector16", "vectorb16", "vector8",
                "vector1bit"]).
-define(DATA_SIZE_ERR, <<"unexpected data part size">>).
-define(CORPUS_KEY, {?MODULE, corpus}).
-define(TOO_LONG, "vector: float string length exceeded 1024 characters: '").

-spec suite() -> [tuple()].
suite() -> [{timetrap, {minutes, 10}}, {ct_hooks, [libsql_tursodb_cth]}].

-spec all() -> [{group, atom()}].
all() ->
    [{group, local}, {group, pool}, {group, replica}, {group, remote}].

-spec groups() -> [{atom(), list(), list()}].
groups() ->
    [{local, [], ?CATEGORIES ++ ?APPENDIX ++ ?FILES},
     {pool, [], ?CATEGORIES ++ ?APPENDIX ++ ?FILES},
     {replica, [], ?CATEGORIES ++ ?APPENDIX},
     {remote, [], [remote_agreement]}].

-spec init_per_suite(config()) -> config().
init_per_suite(Config) ->
    Config1 = libsql_test_util:init_per_suite(?MODULE, Config),
    case libsql_vector_peer:available() of
        true -> ok;
        Why -> ct:fail({vector_peer_not_available, Why,
                        "install it with test/setup_remote.sh (npm libsql@0.5.29 into "
                        "$LIBSQL_TEST_CACHE, default ~/.cache/libsql-test)"})
    end,
    Corpus = corpus(),
    T0 = erlang:monotonic_time(millisecond),
    ForPeer = [Sql || {_, Sql, Expect} <- Corpus, not no_peer(Expect)],
    PeerMap = maps:from_list(lists:zip(ForPeer, libsql_vector_peer:eval(null, ForPeer))),
    PeerResults = [maps:get(Sql, PeerMap, not_run) || {_, Sql, _} <- Corpus],
    ct:log("the peer ran ~b statements in ~b ms",
           [length(ForPeer), erlang:monotonic_time(millisecond) - T0]),
    ByCat = lists:foldr(fun({{Cat, Sql, Expect}, P}, Acc) ->
                                maps:update_with(Cat, fun(L) -> [{Sql, Expect, P} | L] end,
                                                 [{Sql, Expect, P}], Acc)
                        end, #{}, lists:zip(Corpus, PeerResults)),
    ct:log("corpus: ~p", [[{C, length(L)} || {C, L} <- lists:sort(maps:to_list(ByCat))]]),
    %% Not in Config: CT prints the config into every case's log, and the corpus is
    %% megabytes.
    persistent_term:put(?CORPUS_KEY, ByCat),
    Config1.

-spec end_per_suite(config()) -> ok.
end_per_suite(_Config) ->
    _ = persistent_term:erase(?CORPUS_KEY),
    ok.

corpus(Cat) -> maps:get(Cat, persistent_term:get(?CORPUS_KEY)).

-spec init_per_group(atom(), config()) -> config().
init_per_group(G, Config) ->
    [{backend, G} | Config].

-spec end_per_group(atom(), config()) -> ok.
end_per_group(_, _Config) ->
    ok.

-spec init_per_testcase(atom(), config()) -> config().
init_per_testcase(Case, Config) ->
    {ok, _} = application:ensure_all_started(libsql),
    Backend = ?config(backend, Config),
    Path = libsql_test_util:db_path(Config, atom_to_list(Backend) ++ "_" ++ atom_to_list(Case)
                                    ++ ".db"),
    _ = [file:delete(Path ++ S) || S <- ["", "-wal", "-shm", "-journal", "-replica"]],
    Opts = case Backend of
               remote -> #{url => ?config(url, Config)};
               replica -> #{path => Path, url => ?config(url, Config)};
               _ -> #{path => Path}
           end,
    Db = open_db(Backend, Case, Opts),
    [{db, Db}, {case_name, Case} | Config].

-spec end_per_testcase(atom(), config()) -> ok.
end_per_testcase(_Case, Config) ->
    close_db(?config(backend, Config), ?config(db, Config)),
    ok.

open_db(pool, Case, Opts) ->
    Pool = list_to_atom("vector_pool_" ++ atom_to_list(Case) ++ "_"
                        ++ integer_to_list(erlang:unique_integer([positive]))),
    {ok, _} = libsql:start_pool(Pool, Opts#{size => 3}),
    Pool;
open_db(_, _Case, Opts) ->
    {ok, C} = libsql:open(Opts),
    C.

close_db(pool, Pool) -> _ = libsql:stop_pool(Pool), ok;
close_db(_, C) -> _ = libsql:close(C), ok.

%%% ======================================================================================
%%% The corpus cases: each compares one category with the peer
%%% ======================================================================================

-spec ctor_text(config()) -> term().
ctor_text(Config) -> run_category(ctor_text, Config).
-spec ctor_blob(config()) -> term().
ctor_blob(Config) -> run_category(ctor_blob, Config).
-spec ctor_convert(config()) -> term().
ctor_convert(Config) -> run_category(ctor_convert, Config).
-spec malformed_text(config()) -> term().
malformed_text(Config) -> run_category(malformed_text, Config).
-spec bad_blobs(config()) -> term().
bad_blobs(Config) -> run_category(bad_blobs, Config).
-spec value_types(config()) -> term().
value_types(Config) -> run_category(value_types, Config).
-spec extract(config()) -> term().
extract(Config) -> run_category(extract, Config).
-spec distances(config()) -> term().
distances(Config) -> run_category(distances, Config).
-spec distance_checks(config()) -> term().
distance_checks(Config) -> run_category(distance_checks, Config).
-spec arity(config()) -> term().
arity(Config) -> run_category(arity, Config).
-spec vector_idx(config()) -> term().
vector_idx(Config) -> run_category(vector_idx, Config).
-spec big_inputs(config()) -> term().
big_inputs(Config) -> run_category(big_inputs, Config).
-spec data_size(config()) -> term().
data_size(Config) -> run_category(data_size, Config).

run_category(Cat, Config) ->
    Db = ?config(db, Config),
    Cases = corpus(Cat),
    T0 = erlang:monotonic_time(millisecond),
    Checked = [{Sql, Expect, Peer, ours(Db, Sql)} || {Sql, Expect, Peer} <- Cases],
    Ms = erlang:monotonic_time(millisecond) - T0,
    Agree = case {?config(backend, Config), Cat} of
                %% A statement the replica's file cannot compile goes to the server
                %% (doc/guides/replica.md): a wrong argument count is tursodb's error there.
                {replica, arity} -> fun(_, {error, _}, {error, _}) -> true; (_, _, _) -> false end;
                _ -> fun agree/3
            end,
    Bad = [mismatch(Sql, Expect, Peer, Ours)
           || {Sql, Expect, Peer, Ours} <- Checked, not Agree(Expect, Peer, Ours)],
    Kinds = kinds([Peer || {_, _, Peer, _} <- Checked]),
    Summary = io_lib:format("~p: ~b cases (~s), ~b agree, ~b mismatches, ~b ms",
                            [Cat, length(Cases), Kinds, length(Cases) - length(Bad),
                             length(Bad), Ms]),
    ct:log("~s", [Summary]),
    case Bad of
        [] -> {comment, lists:flatten(Summary)};
        _ ->
            ct:log("mismatches of ~p:~n~s", [Cat, [format_mismatch(M) || M <- Bad]]),
            ct:comment(lists:flatten(Summary)),
            mismatches_fail({Cat, length(Bad), mismatches, Bad})
    end.

%% What kinds of results the peer gave: "1200 blob, 30 error, ...".
kinds(Results) ->
    Count = lists:foldl(fun(R, Acc) -> maps:update_with(kind(R), fun(N) -> N + 1 end, 1, Acc) end,
                        #{}, Results),
    lists:join(", ", [io_lib:format("~b ~s", [N, K]) || {K, N} <- lists:sort(maps:to_list(Count))]).

kind(not_run) -> "not run by the peer";
kind({error, _}) -> "error";
kind({rows, [[{K, _}]]}) -> atom_to_list(K);
kind({rows, [[null]]}) -> "null";
kind({rows, _}) -> "rows".

%%% ======================================================================================
%%% Comparing
%%% ======================================================================================

%% Mismatches fail the case, except under valgrind (`make valgrind' sets
%% LIBSQL_VALGRIND_DIR): memcheck computes x87 long doubles as doubles, so libSQL's
%% long-double text parse (FLOAT64) and printer give other bits there. Those runs are for
%% memory errors; every statement still runs, and the mismatches are logged.
mismatches_fail(Why) ->
    case os:getenv("LIBSQL_VALGRIND_DIR") of
        false -> ct:fail(Why);
        _ -> {comment, "under valgrind: mismatches logged, not failed (long double)"}
    end.

%% Our result of one statement, in the peer's shape.
ours(Db, Sql) -> libsql_vector_peer:ours(Db, Sql).

%% Expect: peer (the peer's result), {our_error, Substring} (we must raise an error whose
%% message holds Substring, whatever the peer did) or {ours, Rows} (a documented
%% difference: we must give Rows).
agree(peer, Peer, Ours) -> same(Peer, Ours);
agree({ours, Rows}, _Peer, {rows, Rows}) -> true;
agree(Expect, _Peer, {error, #{message := M}}) when element(1, Expect) =:= our_error ->
    binary:match(M, element(2, Expect)) =/= nomatch;
agree(_Expect, _Peer, _Ours) -> false.

no_peer({our_error, _, no_peer}) -> true;
no_peer(_) -> false.

same({rows, P}, {rows, O}) -> mask_rows(P) =:= mask_rows(O);
same({error, #{message := M}}, {error, #{message := M}}) -> true;
same({error, #{message := <<?TOO_LONG, _/binary>> = P}},
     {error, #{message := <<?TOO_LONG, _/binary>> = O}}) ->
    %% The peer's message holds the token's buffer, which it does not terminate: after
    %% the 1025 characters read come whatever bytes follow on its stack. Compare those.
    N = byte_size(<<?TOO_LONG>>) + 1025,
    byte_size(P) >= N andalso byte_size(O) >= N andalso
        binary:part(P, 0, N) =:= binary:part(O, 0, N);
same(_, _) -> false.

mask_rows(Rows) -> [[mask_cell(C) || C <- Row] || Row <- Rows].

mask_cell({blob, B}) -> {blob, mask_f8(B)};
mask_cell(C) -> C.

%% FLOAT8 blobs: n bytes of q, ALIGN4(n) - n pad bytes, alpha, shift, 00, pad count, 04.
%% The peer leaves the pad bytes uninitialised: zero them on both sides.
mask_f8(B) when byte_size(B) >= 11, byte_size(B) rem 2 =:= 1 ->
    L = byte_size(B),
    case binary:part(B, L - 2, 2) of
        <<Pad, 4>> when Pad =< 3 ->
            N = L - 1 - 10 - Pad,
            case N >= 0 of
                true ->
                    <<Q:N/binary, _:Pad/binary, Rest/binary>> = B,
                    <<Q/binary, 0:(Pad * 8), Rest/binary>>;
                false -> B
            end;
        _ -> B
    end;
mask_f8(B) -> B.

mismatch(Sql, Expect, Peer, Ours) ->
    #{sql => shorten(Sql), expect => Expect, peer => show(Peer), ours => show(Ours)}.

format_mismatch(#{sql := Sql, expect := Expect, peer := P, ours := O}) ->
    io_lib:format("  ~s~n    peer: ~s~n    ours: ~s~s~n",
                  [Sql, P, O, case Expect of
                                  peer -> "";
                                  _ -> io_lib:format("  (wanted an error with ~s)",
                                                     [element(2, Expect)])
                              end]).

shorten(Sql) when byte_size(Sql) > 400 ->
    <<(binary:part(Sql, 0, 300))/binary, "...(", (integer_to_binary(byte_size(Sql)))/binary,
      " bytes)...", (binary:part(Sql, byte_size(Sql) - 60, 60))/binary>>;
shorten(Sql) -> Sql.

show({error, #{message := M}}) -> iolist_to_binary(["ERROR ", shorten(M)]);
show({rows, Rows}) ->
    iolist_to_binary(lists:join(" / ", [lists:join(", ", [show_cell(C) || C <- R]) || R <- Rows]));
show(Other) -> iolist_to_binary(io_lib:format("~0p", [Other])).

show_cell(null) -> "NULL";
show_cell({int, I}) -> integer_to_list(I);
show_cell({real, <<F:64/float>> = Bits}) ->
    io_lib:format("REAL ~s (~s)", [io_lib:format("~.17g", [F]), binary:encode_hex(Bits)]);
show_cell({real, Bits}) -> ["REAL ", binary:encode_hex(Bits)];
show_cell({text, T}) -> ["TEXT '", shorten(T), "'"];
show_cell({blob, B}) when byte_size(B) > 200 ->
    io_lib:format("BLOB ~b bytes ~s...~s", [byte_size(B), binary:encode_hex(binary:part(B, 0, 40)),
                                             binary:encode_hex(binary:part(B, byte_size(B) - 20, 20))]);
show_cell({blob, B}) -> ["BLOB x'", binary:encode_hex(B), "'"];
show_cell(Other) -> io_lib:format("~0p", [Other]).

%%% ======================================================================================
%%% The generator
%%% ======================================================================================

%% @doc The corpus: [{Category, Sql, Expect}], the same every time (seeded).
-spec corpus() -> [{atom(), binary(), peer | {our_error, binary()}
                                      | {our_error, binary(), no_peer} | {ours, list()}}].
corpus() ->
    Old = rand:export_seed(),
    _ = rand:seed(exsss, ?SEED),
    try
        lists:append([gen(Cat) || Cat <- ?CATEGORIES])
    after
        case Old of
            undefined -> _ = erase(rand_seed), ok;
            _ -> _ = rand:seed(Old), ok
        end
    end.

gen(Cat) ->
    [guard({Cat, unicode:characters_to_binary(["SELECT ", E]), Expect})
     || {E, Expect} <- [norm(X) || X <- gen_exprs(Cat)]].

%% Statements that crash the peer (segmentation fault) are not run there; §1 says what we
%% do instead. The cosine of two 1-bit blobs with a negative n (x'FF1103', n = -1):
%% out of memory, as every other function says of such a blob.
%%
%% 1-bit blobs whose trailer claims more padding bits than the blob has (a negative n):
%% the peer's answers come from its wrapped arithmetic and disagree with each other
%% (x'FF1103' is "out of memory" to vector_extract but a garbage blob to vector1bit;
%% x'FFFF03' is "out of memory" to vector_extract but distance 0 to itself). We refuse
%% such a blob wherever it is read, with the error its n gives (vector.c), and the
%% checks before reading (types, lengths) run as on the peer.
guard({Cat, Sql, peer} = Case) ->
    Refused = [{<<"vector_distance_cos(x'FF1103', x'FF1103')">>, <<"out of memory">>, no_peer},
               {<<"vector1bit(x'FF1103')">>, <<"out of memory">>},
               {<<"vector_extract(x'FFFF03')">>, <<"unexpected data part size">>},
               {<<"vector_distance_cos(x'FFFF03', x'FFFF03')">>, <<"unexpected data part size">>}],
    case [R || R <- Refused, binary:match(Sql, element(1, R)) =/= nomatch] of
        [] -> Case;
        [{_, Why, no_peer} | _] -> {Cat, Sql, {our_error, Why, no_peer}};
        [{_, Why} | _] -> {Cat, Sql, {our_error, Why}}
    end;
guard(Case) -> Case.

norm({E, {our_error, _} = X}) -> {E, X};
norm({E, {ours, _} = X}) -> {E, X};
norm(E) -> {E, peer}.

%% ---- constructors on text ----

gen_exprs(ctor_text) ->
    Texts = edge_texts() ++ [rand_vec_text() || _ <- lists:seq(1, 170)],
    [call(C, [lit(T)]) || T <- Texts, C <- ?CTORS];

%% ---- constructors on blobs of every type (x'..' literals: never bound) ----

gen_exprs(ctor_blob) ->
    Blobs = edge_blobs() ++ [rand_blob(T) || T <- ?TYPES, _ <- lists:seq(1, 22)],
    [call(C, [xlit(B)]) || B <- Blobs, C <- ?CTORS];

%% ---- conversions: a constructor of another constructor's result ----

gen_exprs(ctor_convert) ->
    Texts = ["[1,2,3]", "[]", "[0.1]", "[0,-0,1e-45,-1e-40]", "[1e39,-1e39,1e-310]",
             "[65504,65520,-65519,6e-8,3e-8]", "[1,1,1,1]", "[-1,2,-3,4,-5,6,-7,8,-9]"]
        ++ [rand_vec_text() || _ <- lists:seq(1, 14)],
    [call(To, [call(From, [lit(T)])]) || T <- Texts, From <- tl(?CTORS), To <- ?CTORS];

%% ---- malformed text: every error of §2 ----

gen_exprs(malformed_text) ->
    Fs = ["vector", "vector64", "vector16", "vector8", "vector1bit", "vector_extract"],
    [call(F, [T]) || T <- malformed_texts(), F <- Fs]
        ++ [call(D, [T, lit("[1]")]) || T <- malformed_texts(),
                                        D <- ["vector_distance_cos", "vector_distance_l2"]]
        ++ [call("vector_distance_cos", [lit("[1,2]"), T]) || T <- malformed_texts()];

%% ---- bad blobs: every error of §1 ----

gen_exprs(bad_blobs) ->
    Fs = ?CTORS ++ ["vector_extract"],
    Bad = bad_blob_exprs(),
    [call(F, [B]) || B <- Bad, F <- Fs]
        ++ [call(D, [A, B]) || B <- Bad, D <- ["vector_distance_cos", "vector_distance_l2"],
                               A <- [lit("[1,2]"), B]]
        ++ [call("vector_distance_cos", [B, lit("[1,2]")]) || B <- Bad];

%% ---- wrong value types ----

gen_exprs(value_types) ->
    Vals = ["NULL", "1", "-5", "0", "1.5", "0.0", "-0.0", "9223372036854775807", "1e400",
            "-1e400", "(1/0)", "CAST(NULL AS BLOB)"],
    [call(F, [V]) || V <- Vals, F <- ?CTORS ++ ["vector_extract"]]
        ++ [call(D, Args) || V <- Vals, D <- ["vector_distance_cos", "vector_distance_l2"],
                             Args <- [[V, lit("[1]")], [lit("[1]"), V], [V, V],
                                      [V, "vector64('[1]')"]]];

%% ---- vector_extract of every type ----

gen_exprs(extract) ->
    Texts = edge_texts() ++ [rand_vec_text() || _ <- lists:seq(1, 60)] ++ g_probes(),
    Direct = [call("vector_extract", [lit(T)]) || T <- Texts],
    ViaCtor = [call("vector_extract", [call(C, [lit(T)])]) || T <- Texts, C <- tl(?CTORS)],
    Raw = [call("vector_extract", [xlit(B)])
           || B <- edge_blobs() ++ [rand_blob(T) || T <- ?TYPES, _ <- lists:seq(1, 40)]],
    Direct ++ ViaCtor ++ Raw;

%% ---- distances on every type ----

gen_exprs(distances) ->
    Dims = [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33, 64, 100, 257],
    Same = lists:append(
             [begin
                  A = rand_vec_text(D), B = rand_vec_text(D),
                  C = ctor(T),
                  [call(M, [call(C, [lit(A)]), call(C, [lit(B)])]) || M <- metrics(T)]
                      ++ [call(M, [call(C, [lit(B)]), call(C, [lit(A)])]) || M <- metrics(T),
                                                                           T =:= f8]
              end || T <- ?TYPES, D <- Dims, _ <- [1, 2]]),
    %% Text against blobs (text is FLOAT32).
    TextBlob = lists:append(
                 [begin
                      A = rand_vec_text(D), B = rand_vec_text(D),
                      [call(M, [lit(A), call("vector32", [lit(B)])]),
                       call(M, [lit(A), lit(B)]),
                       call(M, [call("vector", [lit(A)]), lit(B)])]
                  end || D <- [1, 3, 10, 50], M <- metrics(f32)]),
    %% Raw blobs, random bits (NaN elements give NULL).
    Raw = lists:append(
            [begin
                 D = pick([1, 2, 3, 5, 8, 13]),
                 A = rand_blob(T, D), B = rand_blob(T, D),
                 [call(M, [xlit(A), xlit(B)]) || M <- metrics(T)]
             end || T <- ?TYPES, _ <- lists:seq(1, 15)]),
    Edge = lists:append(
             [[call(M, [call(C, [lit(A)]), call(C, [lit(B)])]) || M <- metrics(T)]
              || T <- ?TYPES, C <- [ctor(T)],
                 {A, B} <- [{"[0,0]", "[1,2]"}, {"[0,0]", "[0,0]"}, {"[]", "[]"},
                            {"[1e20,1]", "[1,1]"}, {"[1e19,1e19]", "[1,1]"},
                            {"[1e39,1]", "[1,1]"}, {"[1e400]", "[1]"}, {"[0]", "[1e300]"},
                            {"[-0]", "[0]"}, {"[1e-45,1e-45]", "[1e-45,-1e-45]"},
                            {"[3.4e38,3.4e38]", "[-3.4e38,-3.4e38]"},
                            {"[1,2,3]", "[4,5,6]"}, {"[1,0]", "[0,1]"},
                            {"[.1,.2,.3]", "[.3,.2,.1]"}, {"[-1.5,2.25,.001,7]", "[3,-.5,2,1]"},
                            {"[1,1]", "[-1,-1]"}, {"[5,5,5]", "[5,5,5]"},
                            {"[1,2,3]", "[1,2,3]"}, {"[0.1]", "[0.1]"}]])
        ++ [call("vector_distance_l2", ["vector64('[0]')", "vector64('[1e300]')"]),
            call("vector_distance_l2", ["vector64('[0]')", "vector64('[0.1]')"]),
            call("vector_distance_cos", ["x'FF0D03'", "x'070D03'"]),
            call("vector_distance_cos", ["x'FFFF0D03'", "x'00FF0D03'"])],
    Same ++ TextBlob ++ Raw ++ Edge;

%% ---- the order of the distances' checks: every pair of a set of arguments ----

gen_exprs(distance_checks) ->
    Args = ["'[1,2]'", "'[1,2,3]'", "'[]'", "x''", "x'0000803F00000040'",
            "vector64('[1,2]')", "vector64('[1,2,3]')", "vector16('[1,2]')",
            "vectorb16('[1,2]')", "vector8('[1,2]')", "vector8('[1,2,3]')",
            "vector1bit('[1,2]')", "vector1bit('[1,-2,3]')", "'[x]'", "'[1,x]'", "'[1,]'",
            "'[,]'", "'abc'", "'[1,2'", "'  [1, 2]  '", "NULL", "1", "2.5", "x'07'", "x'03'",
            "x'000001'", "x'0000803F02'", "x'FF1103'"],
    [call(M, [A, B]) || M <- ["vector_distance_cos", "vector_distance_l2"], A <- Args, B <- Args];

%% ---- wrong argument counts ----

gen_exprs(arity) ->
    One = "'[1]'",
    [call(F, []) || F <- ?CTORS ++ ["vector_extract"]]
        ++ [call(F, [One, One]) || F <- ?CTORS ++ ["vector_extract"]]
        ++ [call(F, [One, One, One]) || F <- ["vector", "vector8", "vector_extract"]]
        ++ [call(F, Args) || F <- ["vector_distance_cos", "vector_distance_l2"],
                             Args <- [[], [One], [One, One, One], [One, One, One, One],
                                      ["NULL"], ["NULL", "NULL", "NULL"]]]
        ++ [call(F, [One]) || F <- ["vector_distance", "vector_distance_dot",
                                    "vector_distance_jaccard", "vector_hamming"]];

%% ---- libsql_vector_idx: the peer gives argument 1 unchanged; we give NULL ----
%% A deliberate difference (port/vector_sql.c, doc/guides/vectors.md): stock SQLite keeps
%% an ordinary b-tree for a vector index, whose entries are this function's value; NULL
%% keeps them a few bytes a row where a copy of argument 1 would copy every vector.

gen_exprs(vector_idx) ->
    Vals = ["NULL", "1", "-7", "1.5", "'text'", "'[1,2]'", "x'0102'", "x''",
            "vector('[1]')", "vector8('[1,2,3]')", "9223372036854775807", "''", "1e400"],
    Null = {ours, [[null]]},
    [{call("libsql_vector_idx", [V]), Null} || V <- Vals]
        ++ [{call("libsql_vector_idx", [V, "'metric=cosine'"]), Null} || V <- Vals]
        ++ [{call("libsql_vector_idx", [V, "NULL", "3"]), Null} || V <- Vals]
        ++ [{call("libsql_vector_idx", ["'e'", "'type=diskann'", "'metric=l2'", "'x'"]), Null},
            {"typeof(libsql_vector_idx(x'00'))", {ours, [[{text, <<"null">>}]]}},
            {"typeof(libsql_vector_idx(2.0))", {ours, [[{text, <<"null">>}]]}}];

%% ---- the big inputs: 65536/65537 elements, 1025/1026-character tokens ----

gen_exprs(big_inputs) ->
    Ones = fun(N) -> ["('[' || replace(hex(zeroblob(", integer_to_list(N - 1),
                      ")), '00', '1,') || '1]')"] end,
    Token = fun(N) -> ["('[' || replace(hex(zeroblob(", integer_to_list((N - 1) div 2),
                       ")), '00', '11') || '", lists:duplicate((N - 1) rem 2 + 1, $1),
                       "]')"] end,
    Fraction = fun(N) -> ["('[0.' || replace(hex(zeroblob(", integer_to_list((N - 3) div 2),
                          ")), '00', '00') || '", lists:duplicate((N - 3) rem 2 + 1, $7),
                          "]')"] end,
    %% A blob of N 'A' bytes and a type byte (CAST: stock 3.40 has no unhex).
    As = fun(N, Type) -> ["CAST(replace(hex(zeroblob(", integer_to_list(N), ")), '0', 'A')",
                          " || char(", integer_to_list(Type), ") AS BLOB)"] end,
    [["length(", call("vector32", [Ones(65536)]), ")"],
     call("vector_extract", [Ones(65536)]),
     call("vector32", [Ones(65537)]),
     call("vector64", [Ones(65537)]),
     ["length(", call("vector1bit", [Ones(65536)]), ")"],
     call("vector1bit", [Ones(65537)]),
     ["hex(substr(", call("vector8", [Ones(65536)]), ", 65530))"],
     call("vector_distance_cos", [Ones(65537), Ones(65537)]),
     call("vector_distance_l2", [Ones(65536), Ones(65536)]),
     ["length(", call("vector", ["zeroblob(262144)"]), ")"],
     call("vector", ["zeroblob(262148)"]),
     call("vector_extract", ["zeroblob(262148)"]),
     call("vector16", ["zeroblob(262148)"]),
     ["length(", call("vector16", [As(131072, 5)]), ")"],
     call("vector16", [As(131074, 5)]),
     call("vector64", [As(524296, 2)]),
     ["length(", call("vector64", [As(524288, 2)]), ")"],
     call("vector_extract", [As(524296, 2)]),
     call("vector32", [Token(1024)]), call("vector32", [Token(1025)]),
     call("vector32", [Token(1026)]), call("vector64", [Token(1025)]),
     call("vector64", [Token(1026)]), call("vector_extract", [Token(1026)]),
     call("vector32", [Token(2000)]),
     call("vector32", [Fraction(1025)]), call("vector64", [Fraction(1025)]),
     call("vector64", [Fraction(1026)]),
     call("vector32", [lit("[" ++ lists:join(" ", lists:duplicate(1100, "1")) ++ "]")]),
     call("vector64", [lit("[1" ++ lists:duplicate(1022, $0) ++ "e-1000]")]),
     call("vector32", [lit("[0." ++ lists:duplicate(1022, $0) ++ "1]")])];

%% ---- blobs whose data part has the wrong size: we raise where the peer reads garbage ----

gen_exprs(data_size) ->
    %% Even lengths are FLOAT32 of L div 4 elements (L = 2, 6, 10); 8-bit blobs of n=2
    %% with 10 bytes of data part, not 12, and of n=10 with 18, not 20. (A 1-bit blob always passes: the peer reads
    %% its own trailer bytes as data, so those are in the other categories.)
    Blobs = [<<0, 0>>, <<0, 5>>, <<0, 0, 0, 0, 0, 0>>, <<0, 0, 128, 63, 0, 0>>,
             <<0, 0, 0, 0, 0, 0, 0, 0, 0, 3>>, <<0, 0, 0, 0, 0, 0, 0, 0, 0, 4>>,
             <<1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4>>,
             <<0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4>>],
    lists:append(
      [[call(C, [xlit(B)]) || C <- ?CTORS]
       ++ [{call("vector_extract", [xlit(B)]), {our_error, ?DATA_SIZE_ERR}},
           {call("vector_distance_cos", [xlit(B), xlit(B)]), {our_error, ?DATA_SIZE_ERR}}]
       ++ [{call("vector_distance_l2", [xlit(B), xlit(B)]), {our_error, ?DATA_SIZE_ERR}}
           || binary:last(B) =/= 3]
       || B <- Blobs]).

metrics(b1) -> ["vector_distance_cos"];
metrics(_) -> ["vector_distance_cos", "vector_distance_l2"].

ctor(f32) -> "vector32";
ctor(f64) -> "vector64";
ctor(f16) -> "vector16";
ctor(bf16) -> "vectorb16";
ctor(f8) -> "vector8";
ctor(b1) -> "vector1bit".

%% ---- texts ----

edge_texts() ->
    ["[]", "[ ]", " [ ] ", "[0]", "[-0]", "[+0]", "[0.0]", "[-0.0]", "[1,2,3]", "[0.1]",
     "[1 2, 3]", "\t[1,2]\n", " [ 1 , 2 ] ", "[1,\t2]", "[\n1\r,\f2\v]",
     "[1e3,1E+3,1e-3,.5,5.,+1,-0,00012]",
     "[1e-45]", "[1.4e-45]", "[1.401298464324817e-45]", "[7e-46]", "[7.1e-46]", "[1e-40]",
     "[1.1754943508222875e-38]", "[1.1754942e-38]", "[1e-310]", "[5e-324]", "[2e-324]",
     "[1e-400]", "[-1e-400]", "[1e38]", "[3.4028235e38]", "[3.4028235677973366e38]",
     "[3.4028236e38]", "[3.40282357e38]", "[1e39]", "[-1e39]", "[1e300]", "[1e308]",
     "[1.7976931348623157e308]", "[1.8e308]", "[1e400]", "[-1e400]", "[1e10000]",
     "[1e99999999999999999999]", "[0e99999999999999999999]", "[1e-99999999999999999999]",
     "[65504]", "[65519]", "[65519.99]", "[65520]", "[-65520]", "[65536]", "[6e-8]",
     "[6.1e-5]", "[6.103515625e-05]", "[5.960464477539063e-08]", "[3e-8]", "[2.98e-8]",
     "[2.9802326e-8]", "[2.9802322387695312e-08]", "[1e-7]",
     "[0.1,65504,65520,1e-7,6e-8,3e-8,2.98e-8]",
     "[0.6224190]", "[0.1,0.3333333333,1e-5,1e-4,0.0001234567,123456,1234567,1234565,"
     "1234575,100000,1000000,1e16]",
     "[123456789012345678901234567890]", "[12345678901234567890.123456789012345678901]",
     "[0.000000000000000000000000000000000000000000001401298464324817070923729583289916]",
     "[18446744073709551615]", "[18446744073709551616]", "[1844674407370955161]",
     "[9007199254740993]", "[9007199254740993e-300]", "[4.9406564584124654e-324]",
     "[2.2250738585072011e-308]", "[2.2250738585072014e-308]",
     "[00000000000000000000000000000001]", "[0.00000000000000000000000000000000000000000001]",
     "[1,1,1,1]", "[0,0,0,0,0]", "[-1,-1]", "[1,-1,1,1,-1,-1,-1,-1,1]",
     "[1,2,3,4,5,6,7,8]", "[-1.5,2.25,.001,7]", "[1e20,1]", "[1e39,1,2]", "[-1e39,1,2]",
     "[1e39,-1e39]", "[1e-45,1e-45,1e-45]", "[0.1,0.2,0.30000000000000004]",
     "[0.123456789,1234567.8,3.14159265]", "[1.5,2.5,3.5,4.5]", "[255,0,127.5]"].

%% A random vector as text, with random dimensions and number forms.
rand_vec_text() ->
    rand_vec_text(pick([1, 1, 2, 3, 3, 4, 5, 7, 8, 9, 16, 17, 33, 100])).

rand_vec_text(Dims) ->
    Sep = fun() -> pick([",", ",", ",", ", ", " ,", ",\t"]) end,
    Elems = [rand_num_text() || _ <- lists:seq(1, Dims)],
    lists:flatten(["[", lists:join(Sep(), Elems), "]"]).

rand_num_text() ->
    case rand:uniform(11) of
        1 -> integer_to_list(rand:uniform(2001) - 1001);
        2 -> float_to_list(rand:uniform() * 2 - 1, [short]);
        3 -> fmt_e(sign() * rand:uniform() * 10 * math:pow(10, rand:uniform(101) - 51),
                   rand:uniform(16) + 1);
        4 -> float_to_list(rand_f64_finite(), [short]);
        5 -> fmt_f(sign() * rand:uniform() * math:pow(10, rand:uniform(8) - 3),
                   rand:uniform(12));
        6 -> long_digits();
        7 -> odd_form();
        8 -> half_probe();
        9 -> g_tie();
        10 -> fmt_e(sign() * (rand:uniform() * 9 + 1) * math:pow(10, -36 - rand:uniform(10)),
                    rand:uniform(9) + 1);
        11 -> float_to_list(f32_value(), [short])
    end.

sign() -> pick([1, -1]).

fmt_e(X, P) -> lists:flatten(io_lib:format("~.*e", [P, X])).
fmt_f(X, P) -> lists:flatten(io_lib:format("~.*f", [P, X])).

long_digits() ->
    Digits = [$0 + rand:uniform(10) - 1 || _ <- lists:seq(1, rand:uniform(40) + 15)],
    Dot = rand:uniform(length(Digits) + 1) - 1,
    {I, F} = lists:split(Dot, Digits),
    Exp = case rand:uniform(3) of
              1 -> "";
              _ -> "e" ++ integer_to_list(rand:uniform(80) - 40)
          end,
    pick(["", "-", "+"]) ++ I ++ "." ++ F ++ Exp.

odd_form() ->
    pick(["+1", "-.5", ".5", "5.", "+.25e1", "1E+3", "1e-3", "00012", "-00.000", "1.e2",
          ".0e0", "0.", "+0.0e-0", "7E0", "123e-2", "-5e+0", "1e007", "1E-007"]).

%% Values on and between FLOAT16's steps (ties of its rounding).
half_probe() ->
    H = rand:uniform(16#7BFF) - 1,
    <<A:16/float>> = <<H:16>>,
    <<B:16/float>> = <<(H + 1):16>>,
    X = case rand:uniform(3) of
            1 -> A;
            2 -> (A + B) / 2;
            3 -> A + (B - A) * rand:uniform()
        end,
    float_to_list(sign() * X, [short]).

%% 7 significant digits ending in 5: a tie for vector_extract's 6 digits.
g_tie() ->
    M = rand:uniform(900000) + 99999,
    integer_to_list(M) ++ "5e" ++ integer_to_list(rand:uniform(60) - 36).

%% Ties of %g's 6 digits and values around the fixed/exponent switch.
g_probes() ->
    [lists:flatten(["[", lists:join(",", [g_tie() || _ <- lists:seq(1, 8)]), "]"])
     || _ <- lists:seq(1, 20)]
        ++ ["[0.0001,0.00009999995,0.000099999949,999999.5,999999.4,999995,9999995,100000,"
            "1e5,1e6,123456.5,1234565,0.00001234565]",
            "[1e-5,1e-4,1e-3,1e-2,1e-1,1,10,100,1e3,1e4,1e5,1e6,1e7,1e8,1e9,1e10,1e15,1e16,1e17]",
            "[1e37,1e38,3e38,1e-37,1e-38,1e-39,1e-44,1e-45]", "[-0.5,-1e-5,-123456,-1234567]"].

malformed_texts() ->
    Plain = ["", " ", "1,2", "(1,2)", "abc", " x[1]", "{1}", "[", "  [", "[1", "[1,2", "[1,",
             "[1 ", "[1]]", "[1] x", "[1]x", "[1],", "[1] ]", "[[1]", "[[1]]", "[1,]", "[,1]",
             "[,]", "[1,,2]", "[ , ]", "[1,2,]", "[0x10]", "[0X1F]", "[inf]", "[-inf]",
             "[+inf]", "[Inf]", "[nan]", "[NaN]", "[-nan]", "[Infinity]", "[infinity]",
             "[1e]", "[1e+]", "[1e-]", "[1E]", "[.]", "[-]", "[+]", "[e5]", "[E5]", "[.e5]",
             "[1.2.3]", "[1-2]", "[--1]", "[+-1]", "[-+1]", "[1_000]", "[1,2;3]", "[1;2]",
             "['1']", "[\"1\"]", "[1 .5]", "[1 e 5]", "[- 1]", "[1\t2]", "[1\n,\n2]", "[\v1]",
             "[1]\t\n ", "\n\t[1]", "[]]", "[] x", "[1,2,3]a", "[1e5000]", "[1e-5000]",
             "[1,é]", "[é]", "[١]", "[1,2,3,abc,5]", "[1,2,3,4,5,6,7,8,9,x]",
             "[0b101]", "[1f]", "[1d]", "[1.5f]", "[true]", "[null]", "[1/2]", "[1e1.5]",
             "[3e38e1]", "[1,2] [3]", "[1e99999999999999999999999999999]",
             "[" ++ lists:duplicate(20, $9) ++ "x]"],
    [lit(T) || T <- Plain]
        ++ ["('[1' || char(0) || ']')", "('[1]' || char(0) || 'x')",
            "('[' || char(0) || '1]')", "(char(0) || '[1]')", "('[1,2' || char(0))",
            "('[1' || char(9) || '2]')", "('[1,' || char(11) || '2]')",
            "('[' || char(160) || '1]')", "('[1' || char(12288) || ']')"].

%% ---- blobs ----

%% Hand-made blobs of every type with the values that matter.
edge_blobs() ->
    F32s = [0, 16#80000000, 1, 16#80000001, 16#007FFFFF, 16#00800000, 16#7F7FFFFF,
            16#FF7FFFFF, 16#7F800000, 16#FF800000, 16#7FC00000, 16#FFC00000, 16#7F800001,
            16#7FBFFFFF, 16#3F800000, 16#477FE000, 16#477FF000, 16#477FEFFF, 16#33800000,
            16#33000000, 16#33000001, 16#32FFFFFF, 16#387FC000, 16#38800000, 16#3DCCCCCD,
            16#3F801000, 16#3F803000, 16#3F800FFF, 16#387FF000, 16#38001000],
    F64s = [0, 16#8000000000000000, 1, 16#000FFFFFFFFFFFFF, 16#0010000000000000,
            16#7FEFFFFFFFFFFFFF, 16#7FF0000000000000, 16#FFF0000000000000,
            16#7FF8000000000000, 16#FFF8000000000000, 16#7FF0000000000001,
            16#3FF0000000000000, 16#3FB999999999999A, 16#47EFFFFFE0000000,
            16#47EFFFFFF0000000, 16#47EFFFFFEFFFFFFF, 16#36A0000000000000,
            16#3690000000000000, 16#3690000000000001, 16#3FF0000010000000,
            16#3FF0000030000000, 16#3FF0000010000001, 16#C2F0000000000000],
    F16s = [0, 16#8000, 1, 16#03FF, 16#0400, 16#7BFF, 16#FBFF, 16#7C00, 16#FC00, 16#7E00,
            16#FE00, 16#7C01, 16#7DFF, 16#3C00, 16#3555, 16#2E66],
    BF16s = [0, 16#8000, 1, 16#007F, 16#0080, 16#7F7F, 16#7F80, 16#FF80, 16#7FC0, 16#7F81,
             16#3F80, 16#3DCC, 16#C2F7],
    [<<>>, f32_blob(F32s), f32_blob(F32s, <<1>>), f32_blob([16#3F800000], <<1>>),
     f32_blob(lists:duplicate(7, 0)), f32_blob([16#7FC00000, 16#3F800000]),
     <<2>>, f64_blob(F64s), f64_blob([16#7FF8000000000000, 16#3FF0000000000000]),
     <<5>>, f16_blob(F16s), f16_blob([16#7E00, 16#3C00]),
     <<6>>, bf16_blob(BF16s), bf16_blob([16#7FC0, 16#3F80]),
     f8_blob([0, 127, 255], 16#3C008081, 16#3F800000, <<16#69>>),
     f8_blob([0, 127, 255], 16#3C008081, 16#3F800000, <<0>>),
     f8_blob([], 0, 0, <<>>),
     f8_blob([1, 2, 3, 4, 5, 6, 7, 8], 16#3C008081, 16#BF800000, <<>>),
     f8_blob([5, 200], 16#7FC00000, 16#3F800000, <<16#7F, 16#4F>>),
     f8_blob([5, 200, 9], 16#7F800000, 16#3F800000, <<16#AA>>),
     f8_blob([5, 200, 9, 10, 11], 0, 16#C0000000, <<1, 2, 3>>),
     f8_blob([255, 255], 16#7F7FFFFF, 16#7F7FFFFF, <<9, 9>>),
     <<0, 16#10, 3>>, <<16#FF, 16#09, 3>>, <<16#07, 16#0D, 3>>, <<16#0D, 1, 0, 16#17, 3>>,
     <<16#FF, 16#FF, 0, 16#10, 3>>, <<16#AA, 8, 3>>, <<16#FF, 16#0F, 3>>, <<16#01, 16#0F, 3>>,
     %% 1-bit blobs whose n wants more data bytes than there are before the trailer: the
     %% peer reads the trailer itself as data (deterministic), and so must we.
     <<16#FF, 1, 3>>, <<16#FF, 16#FF, 16#FF, 16#0F, 3>>, <<16#5A, 0, 3>>,
     <<0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 4>>].

rand_blob(Type) ->
    rand_blob(Type, pick([1, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33, 64])).

rand_blob(f32, D) ->
    case rand:uniform(4) of
        1 -> f32_blob([rand_f32_word() || _ <- lists:seq(1, D)], <<1>>);
        _ -> f32_blob([rand_f32_word() || _ <- lists:seq(1, D)])
    end;
rand_blob(f64, D) -> f64_blob([rand_f64_word() || _ <- lists:seq(1, D)]);
rand_blob(f16, D) -> f16_blob([rand_f16_word() || _ <- lists:seq(1, D)]);
rand_blob(bf16, D) -> bf16_blob([rand_bf16_word() || _ <- lists:seq(1, D)]);
rand_blob(f8, D) ->
    Pad = (4 - D rem 4) rem 4,
    f8_blob([rand:uniform(256) - 1 || _ <- lists:seq(1, D)],
            pick([rand_f32_word(), rand_f32_modest(), rand_f32_modest()]),
            pick([rand_f32_word(), rand_f32_modest(), rand_f32_modest(), 0]),
            list_to_binary([pick([0, 0, rand:uniform(256) - 1]) || _ <- lists:seq(1, Pad)]));
rand_blob(b1, D) -> b1_blob(D).

f32_blob(Ws) -> << <<W:32/little>> || W <- Ws >>.
f32_blob(Ws, Trailer) -> <<(f32_blob(Ws))/binary, Trailer/binary>>.
f64_blob(Ws) -> <<(<< <<W:64/little>> || W <- Ws >>)/binary, 2>>.
f16_blob(Ws) -> <<(<< <<W:16/little>> || W <- Ws >>)/binary, 5>>.
bf16_blob(Ws) -> <<(<< <<W:16/little>> || W <- Ws >>)/binary, 6>>.

%% FLOAT8: q bytes, pad bytes (given: readers must ignore them), alpha, shift (as f32 bit
%% patterns), 00, the pad count, 04.
f8_blob(Qs, AlphaW, ShiftW, PadBytes) ->
    Pad = (4 - length(Qs) rem 4) rem 4,
    Pad = byte_size(PadBytes),
    <<(list_to_binary(Qs))/binary, PadBytes/binary, AlphaW:32/little, ShiftW:32/little, 0,
      Pad, 4>>.

%% FLOAT1BIT, n bits in random bytes (garbage in the last byte's unused bits too), then
%% 00 when the byte count is even, then 8(L - 1) - n and 03.
b1_blob(N) ->
    Bytes = (N + 7) div 8,
    Data = list_to_binary([rand:uniform(256) - 1 || _ <- lists:seq(1, Bytes)]),
    PadB = case Bytes rem 2 of 0 -> <<0>>; 1 -> <<>> end,
    M = Bytes + byte_size(PadB) + 1,
    <<Data/binary, PadB/binary, (8 * M - N), 3>>.

rand_f32_word() ->
    case rand:uniform(5) of
        1 -> pick([16#7FC00000, 16#FFC00000, 16#7F800001, 16#7F800000, 16#FF800000,
                   16#80000000, 0, 1, 16#007FFFFF, 16#7F7FFFFF, 16#477FF000, 16#33000000]);
        2 -> rand:uniform(1 bsl 32) - 1;
        3 ->
            %% FLOAT16's range, the 13 bits it drops at or around a tie.
            E = 101 + rand:uniform(43),
            Low = pick([16#1000, 16#0FFF, 16#1001, rand:uniform(16#2000) - 1]),
            Hi = rand:uniform(1 bsl 10) - 1,
            (rand:uniform(2) - 1) bsl 31 bor (E bsl 23) bor (Hi bsl 13) bor Low;
        _ -> rand_f32_modest()
    end.

rand_f32_modest() ->
    E = 112 + rand:uniform(30),
    (rand:uniform(2) - 1) bsl 31 bor (E bsl 23) bor (rand:uniform(1 bsl 23) - 1).

rand_f64_word() ->
    case rand:uniform(4) of
        1 -> pick([16#7FF8000000000000, 16#7FF0000000000000, 16#FFF0000000000000,
                   16#8000000000000000, 0, 1, 16#47EFFFFFF0000000, 16#3690000000000000,
                   16#7FEFFFFFFFFFFFFF]);
        2 -> rand:uniform(1 bsl 64) - 1;
        3 ->
            %% FLOAT32's range, the 29 bits it drops at or around a tie.
            E = 1023 - 150 + rand:uniform(280),
            Low = pick([16#10000000, 16#0FFFFFFF, 16#10000001, rand:uniform(1 bsl 29) - 1]),
            (rand:uniform(2) - 1) bsl 63 bor (E bsl 52) bor ((rand:uniform(1 bsl 23) - 1) bsl 29)
                bor Low;
        4 ->
            E = 1023 - 20 + rand:uniform(40),
            (rand:uniform(2) - 1) bsl 63 bor (E bsl 52) bor (rand:uniform(1 bsl 52) - 1)
    end.

rand_f16_word() ->
    case rand:uniform(4) of
        1 -> pick([16#7C00, 16#FC00, 16#7E00, 16#7C01, 0, 16#8000, 1, 16#03FF, 16#7BFF]);
        _ -> rand:uniform(1 bsl 16) - 1
    end.

rand_bf16_word() ->
    case rand:uniform(4) of
        1 -> pick([16#7F80, 16#FF80, 16#7FC0, 16#7F81, 0, 16#8000, 1, 16#7F7F]);
        2 -> rand:uniform(1 bsl 16) - 1;
        _ -> (rand:uniform(2) - 1) bsl 15 bor ((112 + rand:uniform(30)) bsl 7)
                 bor (rand:uniform(128) - 1)
    end.

%% A random finite double (any exponent).
rand_f64_finite() ->
    W = rand:uniform(1 bsl 64) - 1,
    case <<W:64>> of
        <<X:64/float>> -> X;
        _ -> rand_f64_finite()
    end.

%% A random finite float32 value, as a double.
f32_value() ->
    W = rand_f32_modest() bxor (pick([0, 0, 1]) * (rand:uniform(1 bsl 32) - 1)),
    case <<W:32>> of
        <<X:32/float>> -> X;
        _ -> f32_value()
    end.

%% The §1 errors (and the valid neighbours that tell them apart).
bad_blob_exprs() ->
    [xlit(B) || B <- [<<0>>, <<7>>, <<8>>, <<16#FF>>, <<0, 0, 0>>, <<0, 0, 7>>,
                      <<0, 0, 1>>, <<0, 0, 128, 63, 0, 0, 1>>, <<0, 0, 128, 63, 1>>,
                      <<0, 0, 128, 63, 2>>, <<0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2>>,
                      <<2>>, <<0, 0, 5>>, <<0, 0, 6>>, <<3>>, <<0, 0, 3>>,
                      <<16#FF, 16#11, 3>>, <<16#FF, 16#10, 3>>, <<16#FF, 16#FF, 3>>,
                      <<4>>, <<0, 0, 4>>, <<0, 0, 0, 0, 4>>,
                      <<0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4>>, <<0, 0, 0, 0, 0, 0, 0, 0, 0, 16#FF, 4>>]]
        ++ ["zeroblob(262148)", "CAST('[1]' AS BLOB)", "CAST('abc' AS BLOB)"].

%% ---- SQL text ----

call(F, Args) -> [F, "(", lists:join(", ", Args), ")"].

%% A string literal.
lit(T) -> [$', string:replace(T, "'", "''", all), $'].

xlit(B) -> ["x'", binary:encode_hex(B), "'"].

pick(L) -> lists:nth(rand:uniform(length(L)), L).

%%% ======================================================================================
%%% The appendix, asserted literally (on us, and on the peer to keep the spec honest)
%%% ======================================================================================

-spec appendix_constructors(config()) -> term().
appendix_constructors(Config) ->
    F8 = fun(Hex) -> {f8, Hex} end,
    check(Config,
          [{"SELECT hex(vector32('[1,2,3]'))", text("0000803F0000004000004040")},
           {"SELECT hex(vector('[1,2,3]'))", text("0000803F0000004000004040")},
           {"SELECT hex(vector64('[1,2,3]'))",
            text("000000000000F03F0000000000000040000000000000084002")},
           {"SELECT hex(vector16('[1,2,3]'))", text("003C0040004205")},
           {"SELECT hex(vectorb16('[1,2,3]'))", text("803F0040404006")},
           %% The pad byte: ours writes 00, the peer leaves whatever was there.
           {"SELECT hex(vector8('[1,2,3]'))", F8("007FFF008180003C0000803F000104")},
           {"SELECT hex(vector1bit('[1,2,3]'))", text("070D03")},
           {"SELECT hex(vector32('[]')), typeof(vector32('[]'))",
            [[{text, <<>>}, {text, <<"blob">>}]]},
           {"SELECT hex(vector64('[]'))", text("02")},
           {"SELECT hex(vector16('[]'))", text("05")},
           {"SELECT hex(vectorb16('[]'))", text("06")},
           {"SELECT hex(vector8('[]'))", text("0000000000000000000004")},
           {"SELECT hex(vector1bit('[]'))", text("001003")},
           {"SELECT hex(vector32('[0.1]'))", text("CDCCCC3D")},
           {"SELECT hex(vector64('[0.1]'))", text("9A9999999999B93F02")},
           {"SELECT hex(vector16('[0.1]'))", text("662E05")},
           {"SELECT hex(vectorb16('[0.1]'))", text("CC3D06")},
           {"SELECT hex(vector8('[0.1]'))", F8("00000000" "00000000" "CDCCCC3D" "000304")},
           {"SELECT hex(vector1bit('[0.1]'))", text("010F03")},
           {"SELECT hex(vector16('[0.1,65504,65520,1e-7,6e-8,3e-8,2.98e-8]'))",
            text("662EFF7B007C020001000100000005")},
           {"SELECT hex(vector16('[2.9802326e-8]'))", text("000005")},
           {"SELECT hex(vector1bit('[1,-1,1,1,-1,-1,-1,-1,1]'))", text("0D01001703")},
           {"SELECT hex(vector8('[1,2,3,4,5,6,7,8]'))",
            text("0024496D92B6DBFF" "E1E0E03C" "0000803F" "000004")},
           {"SELECT hex(vectorb16(x'0100807F'))", text("807F06")},
           {"SELECT hex(vector32(x'0000803F01'))", text("0000803F")}]).

-spec appendix_text(config()) -> term().
appendix_text(Config) ->
    E = fun(Sql) -> "SELECT vector_extract(vector('" ++ Sql ++ "'))" end,
    check(Config,
          [{E("[1 2, 3]"), text("[12,3]")},
           {E("[1e3,1E+3,1e-3,.5,5.,+1,-0,00012]"), text("[1000,1000,0.001,0.5,5,1,0,12]")},
           {E("[1,]"), err("vector: invalid float at position 1: ''")},
           {E("[0x10]"), err("vector: invalid float at position 0: '0x10'")},
           {E("[inf]"), err("vector: invalid float at position 0: 'inf'")},
           {E("[1e]"), err("vector: invalid float at position 0: '1e'")},
           {E("[1,2"), err("vector: must end with ']'")},
           {E("[1]]"), err("vector: non-space symbols after closing ']' are forbidden")},
           {E("[[1]"), err("vector: invalid float at position 0: '[1'")},
           {E("[1e400]"), text("[Inf]")},
           {"SELECT hex(vector32('[-0]'))", text("00000080")},
           {"SELECT hex(vector64('[0.6224190]'))", text("BA162D40DBEAE33F02")}]).

-spec appendix_extract(config()) -> term().
appendix_extract(Config) ->
    check(Config,
          [{"SELECT vector_extract(vector('[0.1,0.3333333333,1e-5,1e-4,0.0001234567,123456,"
            "1234567,1234565,1234575,100000,1000000,1e16]'))",
            text("[0.1,0.333333,1e-05,0.0001,0.000123457,123456,1.23457e+06,1.23457e+06,"
                 "1.23458e+06,100000,1e+06,1e+16]")},
           {"SELECT vector_extract(x'0000C07F0000C0FF0000807F000080FF01000000')",
            text("[NaN,NaN,Inf,-Inf,1.4013e-45]")},
           {"SELECT vector_extract(vector64('[1e-310]'))", text("[1e-310]")},
           {"SELECT vector32(vector_extract(vector32('[0.123456789,1234567.8,3.14159265]')))"
            " = vector32('[0.123456789,1234567.8,3.14159265]')", [[{int, 0}]]}]).

-spec appendix_blobs(config()) -> term().
appendix_blobs(Config) ->
    Comment = check(Config,
          [{"SELECT vector32(x'000000000003')",
            err("vector: unexpected data part size: type=1, dims=1, 6 != 4")},
           {"SELECT vector_extract(x'0000803F02')",
            err("vector: float64 vector blob length must be divisible by 8 "
                  "(excluding 'type'-byte): length=4")},
           {"SELECT vector_extract(x'03')",
            err("vector: float1bit vector blob length must be divisible by 2 and not be "
                  "empty (excluding 'type'-byte): length=0")},
           {"SELECT vector_extract(x'07')", err("vector: unexpected binary type: 7")},
           {"SELECT vector_extract(x'FF0903')", text("[1,1,1,1,1,1,1]")},
           {"SELECT vector_extract(x'FF1103')", err("out of memory")},
           {"SELECT vector_extract(zeroblob(65537*4))",
            err("vector: max size exceeded: 65537 > 65536")},
           {"SELECT vector_distance_cos(x'FF0D03', x'070D03')", real(5.0)}]),
    %% Where we depart from the peer on purpose: no reading past a short data part.
    Db = ?config(db, Config),
    [?assertMatch({error, #{message := <<"vector: unexpected data part size", _/binary>>}},
                  libsql:query(Db, Sql), Sql)
     || Sql <- ["SELECT vector_extract(x'000000000003')",
                "SELECT vector_distance_cos(x'000000000003', x'000000000003')"]],
    Comment.

-spec appendix_distances(config()) -> term().
appendix_distances(Config) ->
    %% {A, B, Cos, L2}: each a value for every type, or {Default, [{Type, Value}]}.
    Table = [{"[1,2,3]", "[4,5,6]", {0.025368154048919678, [{f8, 0.025410164147615433},
                                                             {b1, 0.0}]},
              5.1961522102355957},
             {"[1,0]", "[0,1]", {1.0, [{b1, 2.0}]}, 1.4142135381698608},
             {"[.1,.2,.3]", "[.3,.2,.1]",
              {0.28571429848670959, [{f16, 0.28591361641883850}, {f8, 0.28603443503379822},
                                     {b1, 0.0}]},
              {0.28284272551536560, [{f16, 0.28294628858566284},
                                     {bf16, 0.28173786401748657}]}},
             {"[-1.5,2.25,.001,7]", "[3,-.5,2,1]",
              {0.95139014720916748, [{bf16, 0.95139020681381226}, {f8, 0.95207750797271729},
                                     {b1, 2.0}]},
              {8.2345914840698242, [{f8, 8.2316675186157227}]}},
             {"[1,1]", "[-1,-1]", 2.0, 2.8284270763397217}],
    Cases = lists:append(
              [[{io_lib:format("SELECT vector_distance_cos(~s('~s'), ~s('~s'))",
                               [ctor(T), A, ctor(T), B]), real(for_type(T, Cos))}
                | [{io_lib:format("SELECT vector_distance_l2(~s('~s'), ~s('~s'))",
                                  [ctor(T), A, ctor(T), B]), real(for_type(T, L2))}
                   || T =/= b1]]
               || {A, B, Cos, L2} <- Table, T <- ?TYPES]),
    check(Config,
          Cases ++
              [{"SELECT vector_distance_l2(vector64('[0]'), vector64('[0.1]'))",
                real(0.10000000149011612)},
               {"SELECT vector_distance_cos('[0,0]', '[1,2]')", [[null]]},
               {"SELECT vector_distance_l2('[]', '[]')", real(0.0)},
               {"SELECT vector_distance_l2(vector64('[0]'), vector64('[1e300]'))",
                [[{real, <<16#7FF0000000000000:64>>}]]},
               {"SELECT vector_distance_cos('[1,2,3]', '[4,5,6]')", real(0.025368154048919678)}]).

for_type(T, {Default, Special}) -> proplists:get_value(T, Special, Default);
for_type(_, V) -> V.

-spec appendix_errors(config()) -> term().
appendix_errors(Config) ->
    check(Config,
          [{"SELECT vector_distance_cos('[1,2,3]', '[1,2]')",
            err("vector_distance: vectors must have the same length: 3 != 2")},
           {"SELECT vector_distance_cos('[1,2,3]', vector64('[1,2,3]'))",
            err("vector_distance: vectors must have the same type: 1 != 2")},
           {"SELECT vector_distance_l2(vector1bit('[1,2]'), vector1bit('[1,2]'))",
            err("vector_distance: l2 distance is not supported for float1bit vectors")},
           {"SELECT vector_distance_cos(NULL, '[1]')",
            err("vector: unexpected value type: got NULL, expected TEXT or BLOB")},
           {"SELECT vector_distance_cos('[1]')",
            {arity, err("wrong number of arguments to function vector_distance_cos()")}},
           {"SELECT vector_distance_cos('[1]', '[x]')",
            err("vector_distance: vectors must have the same length: 1 != 0")},
           {"SELECT vector(NULL)",
            err("vector: unexpected value type: got NULL, expected TEXT or BLOB")},
           {"SELECT vector1bit(3)",
            err("vector: unexpected value type: got INTEGER, expected TEXT or BLOB")},
           {"SELECT vector_extract(1.5)",
            err("vector: unexpected value type: got FLOAT, expected TEXT or BLOB")},
           {"SELECT vector8('abc')", err("vector: must start with '['")},
           {"SELECT vector16(x'00')", err("vector: unexpected binary type: 0")},
           {"SELECT vector_extract('[1,2')", err("vector: must end with ']'")},
           {"SELECT libsql_vector_idx('[1]', 'metric=l2')", {peer_vs_us, text("[1]"), [[null]]}},
           {"SELECT libsql_vector_idx()", [[null]]}]).

text(S) -> [[{text, iolist_to_binary(S)}]].
real(F) -> [[{real, <<F:64/float>>}]].
err(M) -> {error, iolist_to_binary(M)}.

%% Each {Sql, Want} on us and (but libsql_vector_idx() with no arguments) on the peer.
%% Want: rows of cells, {error, Message}, or {f8, Hex} (hex of a FLOAT8 blob: ours has
%% 00 pad bytes, the peer's are masked).
check(Config, Cases) ->
    Db = ?config(db, Config),
    Backend = ?config(backend, Config),
    Sqls = [iolist_to_binary(Sql) || {Sql, _} <- Cases],
    PeerSqls = [S || S <- Sqls, binary:match(S, <<"libsql_vector_idx()">>) =:= nomatch],
    Peer = maps:from_list(lists:zip(PeerSqls, libsql_vector_peer:eval(null, PeerSqls))),
    Bad = lists:append(
            [[{us, Sql, want(Want), show(Ours)} || not fits({us, Backend}, Want, Ours)]
             ++ [{peer, Sql, want(Want), show(P)}
                 || {ok, P} <- [maps:find(Sql, Peer)], not fits(peer, Want, P)]
             || {Sql, Want} <- lists:zip(Sqls, [W || {_, W} <- Cases]),
                Ours <- [ours(Db, Sql)]]),
    case Bad of
        [] -> {comment, io_lib:format("~b statements as the spec says, on us and the peer",
                                      [length(Cases)])};
        _ ->
            ct:log("~s", [[io_lib:format("~p: ~s~n    want ~s~n    got  ~s~n", [W, S, Wt, G])
                           || {W, S, Wt, G} <- Bad]]),
            mismatches_fail({not_as_the_spec_says, Bad})
    end.

%% A statement the replica's file cannot compile goes to the server: its own message.
fits({us, replica}, {arity, {error, _}}, {error, _}) -> true;
fits(Who, {arity, Want}, Got) -> fits(Who, Want, Got);
fits(peer, {peer_vs_us, Want, _}, Got) -> fits(peer, Want, Got);
fits(Us, {peer_vs_us, _, Want}, Got) -> fits(Us, Want, Got);
fits(_, {error, M}, {error, #{message := M}}) -> true;
fits(_, {error, _}, _) -> false;
fits({us, _}, {f8, Hex}, {rows, Rows}) -> Rows =:= text(Hex);
fits(peer, {f8, Hex}, {rows, [[{text, H}]]}) ->
    mask_f8(binary:decode_hex(H)) =:= mask_f8(binary:decode_hex(iolist_to_binary(Hex)));
fits(_, {f8, _}, _) -> false;
fits(_, Rows, {rows, Rows}) -> true;
fits(_, _, _) -> false.

want({arity, W}) -> want(W);
want({peer_vs_us, P, U}) -> ["peer: ", want(P), "; us: ", want(U)];
want({error, M}) -> ["ERROR ", M];
want({f8, Hex}) -> ["TEXT '", Hex, "' (FLOAT8 hex)"];
want(Rows) -> show({rows, Rows}).

%%% ======================================================================================
%%% Files: blobs written by one engine, read by the other
%%% ======================================================================================

%% The peer writes the vectors; we read them (and the peer reads its own file): the same
%% answers to the same queries, and our constructors make the peer's blobs.
-spec peer_file_we_read(config()) -> term().
peer_file_we_read(Config) ->
    Path = file_path(Config, "peer_wrote"),
    ok = libsql_vector_peer:exec(Path, file_script()),
    compare_on_file(Config, Path).

%% We write the vectors; the peer reads them.
-spec our_file_peer_reads(config()) -> term().
our_file_peer_reads(Config) ->
    Path = file_path(Config, "we_wrote"),
    Backend = ?config(backend, Config),
    Db = open_db(Backend, our_writer, #{path => Path}),
    try
        {ok, _} = libsql:execute_script(Db, file_script())
    after
        close_db(Backend, Db)
    end,
    compare_on_file(Config, Path).

file_path(Config, Name) ->
    Path = libsql_test_util:db_path(Config, atom_to_list(?config(backend, Config)) ++ "_"
                                    ++ Name ++ ".db"),
    _ = [file:delete(Path ++ S) || S <- ["", "-wal", "-shm", "-journal"]],
    Path.

%% Table v: id, ty (f32 ...), dims, src (the text), e (the vector, made from src by ty's
%% constructor); table w: one row of typed columns.
file_script() ->
    _ = rand:seed(exsss, {7, 8, 9}),
    Rows = [{T, D, rand_vec_text(D)} || T <- ?TYPES, D <- [1, 3, 8, 17], _ <- lists:seq(1, 5)]
        ++ [{T, 3, "[0,0,0]"} || T <- ?TYPES],
    iolist_to_binary(
      ["CREATE TABLE v(id INTEGER PRIMARY KEY, ty TEXT, dims INTEGER, src TEXT, e BLOB);\n",
       "CREATE TABLE w(id INTEGER PRIMARY KEY, a F32_BLOB(3), b F64_BLOB(3), c F16_BLOB(3),",
       " d FB16_BLOB(3), e F8_BLOB(3), f F1BIT_BLOB(3), g FLOAT32(3));\n",
       "BEGIN;\n",
       [io_lib:format("INSERT INTO v VALUES (~b, '~s', ~b, ~s, ~s);\n",
                      [I, T, D, lit(Src), call(ctor(T), [lit(Src)])])
        || {I, {T, D, Src}} <- lists:zip(lists:seq(1, length(Rows)), Rows)],
       "INSERT INTO w VALUES (1, vector32('[1,2,3]'), vector64('[1,2,3]'),"
       " vector16('[1,2,3]'), vectorb16('[1,2,3]'), vector8('[1,2,3]'),"
       " vector1bit('[1,2,3]'), vector32('[1,2,3]'));\n",
       "INSERT INTO w VALUES (2, vector32('[0.1,-2.5,1e-40]'), vector64('[0.1,-2.5,1e-300]'),"
       " vector16('[0.1,-2.5,1e-6]'), vectorb16('[0.1,-2.5,1e-6]'), vector8('[0.1,-2.5,7]'),"
       " vector1bit('[0.1,-2.5,0]'), '[1,2,3]');\n",
       "COMMIT;\n"]).

file_queries() ->
    Ctors = lists:join(", ", [call(C, ["e"]) || C <- tl(?CTORS)]),
    ["SELECT id, ty, e, vector_extract(e) FROM v ORDER BY id",
     %% Our constructors on the same text: on the peer's file, the peer's blobs.
     %% (FLOAT8: the q bytes and the 11 bytes from alpha on; not the pad bytes.)
     "SELECT id, CASE ty WHEN 'f8' THEN substr(e, 1, dims) = substr(vector8(src), 1, dims)"
     " AND substr(e, -11) = substr(vector8(src), -11) ELSE e = CASE ty"
     " WHEN 'f32' THEN vector32(src) WHEN 'f64' THEN vector64(src) WHEN 'f16' THEN vector16(src)"
     " WHEN 'bf16' THEN vectorb16(src) ELSE vector1bit(src) END END,"
     " CASE ty WHEN 'f32' THEN vector32(src) WHEN 'f64' THEN"
     " vector64(src) WHEN 'f16' THEN vector16(src) WHEN 'bf16' THEN vectorb16(src)"
     " WHEN 'f8' THEN vector8(src) ELSE vector1bit(src) END FROM v ORDER BY id",
     "SELECT id, " ++ Ctors ++ " FROM v ORDER BY id",
     "SELECT id, vector_extract(vector32(e)), vector_extract(vector64(e)) FROM v ORDER BY id",
     "SELECT a.id, b.id, vector_distance_cos(a.e, b.e) FROM v a JOIN v b"
     " ON a.ty = b.ty AND a.dims = b.dims ORDER BY 1, 2",
     "SELECT a.id, b.id, vector_distance_l2(a.e, b.e) FROM v a JOIN v b"
     " ON a.ty = b.ty AND a.dims = b.dims WHERE a.ty <> 'b1' ORDER BY 1, 2",
     "SELECT id, vector_distance_cos(vector32(e), vector32(src)),"
     " vector_distance_l2(vector64(e), vector64(src)) FROM v ORDER BY id",
     "SELECT a.id, b.id, vector_distance_cos(vector32(a.e), vector32(b.e)) FROM v a JOIN v b"
     " ON a.dims = b.dims AND a.ty <> b.ty ORDER BY 1, 2",
     "SELECT * FROM w ORDER BY id",
     "SELECT id, vector_extract(a), vector_extract(b), vector_extract(c), vector_extract(d),"
     " vector_extract(e), vector_extract(f), typeof(g), vector_extract(g) FROM w ORDER BY id",
     "SELECT vector_distance_cos(a, '[3,2,1]'), vector_distance_l2(b, vector64('[3,2,1]')),"
     " vector_distance_cos(c, vector16('[3,2,1]')), vector_distance_l2(d, vectorb16('[3,2,1]')),"
     " vector_distance_cos(e, vector8('[3,2,1]')), vector_distance_cos(f, vector1bit('[3,-2,1]'))"
     " FROM w ORDER BY id",
     "PRAGMA integrity_check",
     "SELECT count(*) FROM v"].

%% The file's queries on the peer and on us (a connection, or a pool, on the file).
compare_on_file(Config, Path) ->
    Backend = ?config(backend, Config),
    Queries = [iolist_to_binary(Q) || Q <- file_queries()],
    Peer = libsql_vector_peer:eval(Path, Queries),
    Db = open_db(Backend, file_reader, #{path => Path}),
    Ours = try [ours(Db, Q) || Q <- Queries] after close_db(Backend, Db) end,
    Bad = [mismatch(Q, peer, P, O) || {Q, P, O} <- lists:zip3(Queries, Peer, Ours),
                                      not same(P, O)],
    Errors = [Q || {Q, {error, _}} <- lists:zip(Queries, Peer)],
    ?assertEqual([], Errors),
    Rows = lists:sum([length(R) || {rows, R} <- Peer]),
    case Bad of
        [] -> {comment, io_lib:format("~b queries, ~b rows, all as the peer's", [length(Queries), Rows])};
        _ ->
            ct:log("~s", [[format_mismatch(M) || M <- Bad]]),
            mismatches_fail({file_mismatches, Bad})
    end.

%%% ======================================================================================
%%% Remote: tursodb's own vector functions, recorded only
%%% ======================================================================================

-spec remote_agreement(config()) -> term().
remote_agreement(Config) ->
    Db = ?config(db, Config),
    All = lists:append([[{Cat, Sql, P} || {Sql, peer, P} <- corpus(Cat)]
                        || Cat <- ?CATEGORIES]),
    Results = [{Cat, Sql, P, ours(Db, Sql)} || {Cat, Sql, P} <- All],
    PerCat = [{Cat, length([x || {C, _, _, _} <- Results, C =:= Cat]),
               length([x || {C, _, P, O} <- Results, C =:= Cat, same(P, O)])}
              || Cat <- ?CATEGORIES],
    Agree = lists:sum([A || {_, _, A} <- PerCat]),
    ct:log("tursodb agrees with libSQL on ~b of ~b statements:~n~s~nsome that differ:~n~s",
           [Agree, length(All),
            [io_lib:format("  ~p: ~b of ~b~n", [C, A, N]) || {C, N, A} <- PerCat],
            [format_mismatch(mismatch(Sql, peer, P, O))
             || {_, Sql, P, O} <- lists:sublist([R || {_, _, P, O} = R <- Results,
                                                      not same(P, O)], 60)]]),
    {comment, io_lib:format("recorded only: tursodb agrees with libSQL on ~b of ~b statements",
                            [Agree, length(All)])}.
