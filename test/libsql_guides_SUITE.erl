%% Common Test suite: the documentation runs. Every ```erlang code block of
%% README.md and of every guide in doc/guides/ is evaluated here, in the
%% order of its file, all blocks of a file in one fresh process with one set
%% of bindings (as if typed into one shell), in a scratch directory of its
%% own. A block that raises or whose match fails fails its file's case,
%% naming the file and line. The remote guide runs against a real tursodb
%% (the hook); every file starts with the bindings `Url' (that server) and
%% `Token' (a token, which tursodb does not check).
%%
%% The ```elixir block of the README runs in test/dep_check.sh (a mix
%% project), where Elixir is.
-module(libsql_guides_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([readme/1, guide_local/1, guide_remote/1, guide_replica/1, guide_encryption/1,
         guide_callbacks/1, guide_vectors/1,
         every_guide_is_run/1,
         runner_catches_failures/1]).

-type config() :: [{atom(), term()}].

%% The guides this suite runs, one case each: a new guide gets a case here
%% (every_guide_is_run fails until it does).
-define(GUIDES, [{guide_local, "doc/guides/local.md"}, {guide_remote, "doc/guides/remote.md"},
                 {guide_replica, "doc/guides/replica.md"},
                 {guide_encryption, "doc/guides/encryption.md"},
                 {guide_callbacks, "doc/guides/callbacks.md"},
                 {guide_vectors, "doc/guides/vectors.md"}]).

-spec suite() -> [tuple()].
suite() -> [{timetrap, {minutes, 5}}, {ct_hooks, [libsql_tursodb_cth]}].

-spec all() -> [atom()].
all() -> [runner_catches_failures, every_guide_is_run, readme, guide_local, guide_remote,
          guide_replica, guide_encryption, guide_callbacks, guide_vectors].

-spec init_per_suite(config()) -> config().
init_per_suite(Config) ->
    {ok, _} = application:ensure_all_started(libsql),
    %% CT runs with the test directory as cwd; the docs live at the top.
    Root = filename:dirname(filename:dirname(code:which(libsql))),
    Top = case filelib:is_regular(filename:join(Root, "README.md")) of
              true -> Root;
              false -> filename:absname(filename:join([Root, "..", "..", "..", ".."]))
          end,
    [{top, Top} | Config].

-spec end_per_suite(config()) -> ok.
end_per_suite(_Config) ->
    ok.

-spec init_per_testcase(atom(), config()) -> config().
init_per_testcase(Case, Config) ->
    Dir = filename:join(?config(priv_dir, Config), atom_to_list(Case)),
    ok = filelib:ensure_path(Dir),
    {ok, Cwd} = file:get_cwd(),
    ok = file:set_cwd(Dir),
    [{old_cwd, Cwd}, {pools_before, pools()} | Config].

-spec end_per_testcase(atom(), config()) -> ok.
end_per_testcase(_Case, Config) ->
    ok = file:set_cwd(?config(old_cwd, Config)),
    %% Pools a document started (and left running) go, so that the next
    %% document can use the same names.
    [ok = supervisor:terminate_child(libsql_pools_sup, P)
     || P <- pools() -- ?config(pools_before, Config)],
    ok.

%% =============================================================================
%% cases
%% =============================================================================

-spec readme(config()) -> ok.
readme(Config) ->
    run_file(Config, "README.md").

-spec guide_local(config()) -> ok.
guide_local(Config) ->
    run_file(Config, proplists:get_value(guide_local, ?GUIDES)).

-spec guide_remote(config()) -> ok.
guide_remote(Config) ->
    run_file(Config, proplists:get_value(guide_remote, ?GUIDES)).

-spec guide_replica(config()) -> ok.
guide_replica(Config) ->
    run_file(Config, proplists:get_value(guide_replica, ?GUIDES)).

-spec guide_encryption(config()) -> ok.
guide_encryption(Config) ->
    run_file(Config, proplists:get_value(guide_encryption, ?GUIDES)).

-spec guide_callbacks(config()) -> ok.
guide_callbacks(Config) ->
    run_file(Config, proplists:get_value(guide_callbacks, ?GUIDES)).

-spec guide_vectors(config()) -> ok.
guide_vectors(Config) ->
    run_file(Config, proplists:get_value(guide_vectors, ?GUIDES)).

%% Every guide in doc/guides/ is one of the cases above, and has code.
-spec every_guide_is_run(config()) -> ok.
every_guide_is_run(Config) ->
    Found = lists:sort(filelib:wildcard("doc/guides/*.md", ?config(top, Config))),
    ?assertNotEqual([], Found),
    ?assertEqual(Found, lists:sort([F || {_, F} <- ?GUIDES])),
    [?assertNotEqual({F, []}, {F, blocks(read(Config, F))}) || F <- Found],
    ok.

%% The runner itself: a failing match, a raise and a syntax error are
%% failures that name their line, and bindings carry from block to block.
-spec runner_catches_failures(config()) -> ok.
runner_catches_failures(_Config) ->
    Doc = <<"text\n```erlang\nX = 1 + 1.\n```\nmore\n```erlang\n2 = X,\n"
            "{ok, _} = {error, x}.\n```\n">>,
    ?assertMatch({error, {"t.md", 8, error, {badmatch, {error, x}}}},
                 run_blocks("t.md", blocks(Doc), #{})),
    ?assertMatch({error, {"t.md", 2, error, badarith}},
                 run_blocks("t.md", blocks(<<"```erlang\n1 + a.\n```\n">>), #{})),
    ?assertMatch({error, {"t.md", 2, syntax, _}},
                 run_blocks("t.md", blocks(<<"```erlang\nX = .\n```\n">>), #{})),
    ?assertEqual(ok, run_blocks("t.md", blocks(<<"```erlang\nX = 1.\n```\n"
                                                 "```erlang\n1 = X.\n```\n">>), #{})),
    %% Only erlang blocks run.
    ?assertEqual(ok, run_blocks("t.md", blocks(<<"```sh\nexit 1\n```\n">>), #{})),
    ok.

%% =============================================================================
%% the runner
%% =============================================================================

run_file(Config, File) ->
    Blocks = blocks(read(Config, File)),
    ?assertNotEqual([], Blocks),
    %% Dir: a scratch directory of the file's own; Path: a file in it that
    %% does not exist yet (the replica guide's).
    Dir = filename:join(?config(priv_dir, Config), filename:basename(File, ".md")),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Bindings = #{'Url' => ?config(url, Config), 'Token' => <<"guide-token">>,
                 'Dir' => Dir, 'Path' => filename:join(Dir, "replica.db")},
    %% A fresh process per file: what the document opens belongs to it
    %% and closes when it ends.
    {Pid, Mon} = spawn_monitor(fun() -> exit({done, run_blocks(File, Blocks, Bindings)}) end),
    receive
        {'DOWN', Mon, process, Pid, {done, ok}} ->
            ct:pal("~s: ~b code blocks ran", [File, length(Blocks)]);
        {'DOWN', Mon, process, Pid, {done, {error, {F, Line, Class, Reason}}}} ->
            ct:fail("~s line ~b: ~p:~tP", [F, Line, Class, Reason, 30]);
        {'DOWN', Mon, process, Pid, Other} ->
            ct:fail("~s: the runner died: ~tP", [File, Other, 30])
    end.

read(Config, File) ->
    {ok, Bin} = file:read_file(filename:join(?config(top, Config), File)),
    Bin.

%% The ```erlang blocks of a markdown text: [{FirstLine, Text}].
blocks(Doc) ->
    Lines = binary:split(Doc, <<"\n">>, [global]),
    blocks(lists:zip(lists:seq(1, length(Lines)), Lines), []).

blocks([], Acc) ->
    lists:reverse(Acc);
blocks([{N, Line} | Rest], Acc) ->
    case string:trim(Line) of
        <<"```erlang">> ->
            {Body, After} = lists:splitwith(fun({_, L}) -> string:trim(L) =/= <<"```">> end, Rest),
            Text = iolist_to_binary(lists:join(<<"\n">>, [L || {_, L} <- Body])),
            blocks(tl_or_empty(After), [{N + 1, Text} | Acc]);
        _ ->
            blocks(Rest, Acc)
    end.

tl_or_empty([]) -> [];
tl_or_empty([_ | T]) -> T.

%% Evaluate the blocks in order, each expression sequence (ending with a
%% dot) with the bindings so far.
run_blocks(_File, [], _Bindings) ->
    ok;
run_blocks(File, [{Line, Text} | Rest], Bindings) ->
    case erl_scan:string(unicode:characters_to_list(Text), Line) of
        {ok, Tokens, _} ->
            case run_forms(File, split_dots(Tokens, [], []), Bindings) of
                {ok, Bindings1} -> run_blocks(File, Rest, Bindings1);
                {error, _} = E -> E
            end;
        {error, {ErrLine, Mod, Why}, _} ->
            {error, {File, ErrLine, syntax, Mod:format_error(Why)}}
    end.

split_dots([], [], Acc) -> lists:reverse(Acc);
split_dots([], Cur, Acc) -> lists:reverse([lists:reverse(Cur) | Acc]);
split_dots([{dot, _} = D | Rest], Cur, Acc) -> split_dots(Rest, [], [lists:reverse([D | Cur]) | Acc]);
split_dots([T | Rest], Cur, Acc) -> split_dots(Rest, [T | Cur], Acc).

run_forms(_File, [], Bindings) ->
    {ok, Bindings};
run_forms(File, [Tokens | Rest], Bindings) ->
    case erl_parse:parse_exprs(Tokens) of
        {ok, Exprs} ->
            case run_exprs(File, Exprs, Bindings) of
                {ok, Bindings1} -> run_forms(File, Rest, Bindings1);
                {error, _} = E -> E
            end;
        {error, {ErrLine, Mod, Why}} ->
            {error, {File, erl_anno:line(ErrLine), syntax, Mod:format_error(Why)}}
    end.

%% One expression at a time, so that a failure names its own line.
run_exprs(_File, [], Bindings) ->
    {ok, Bindings};
run_exprs(File, [Expr | Rest], Bindings) ->
    try erl_eval:expr(Expr, Bindings) of
        {value, _Value, Bindings1} -> run_exprs(File, Rest, Bindings1)
    catch
        Class:Reason ->
            {error, {File, erl_anno:line(element(2, Expr)), Class, Reason}}
    end.

pools() ->
    [P || {_, P, _, _} <- supervisor:which_children(libsql_pools_sup)].
