%% Common Test suite: the API is documented and the modules have no dead
%% exports.
%%
%% * Every exported function of the public modules has a spec and a doc
%%   in the EEP-48 chunks that the shells read (made by the post-compile
%%   hook, `make doc-chunks'), h/3 renders it, and the chunks hold nothing
%%   that is not exported.
%% * Internal modules export nothing that nothing calls: every export of a
%%   non-public module is called from another module (the application's own
%%   or its tests), is a callback of a behaviour the module declares, or is
%%   a start function named in a child spec (which xref cannot see).
-module(libsql_docs_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1]).
-export([public_functions_documented/1, shell_renders_docs/1, internal_exports_used/1,
         every_module_classified/1]).

-type config() :: [{atom(), term()}].

-define(PUBLIC, [libsql, libsql_pragma, libsql_events, libsql_vector, libsql_json]).
-define(INTERNAL, [libsql_app, libsql_conn, libsql_subs, libsql_callback, libsql_functions, libsql_conn_sup, libsql_error, libsql_opts,
                   libsql_pool, libsql_pool_sup, libsql_pools_sup, libsql_proto,
                   libsql_route, libsql_secret, libsql_stream, libsql_sup, libsql_table,
                   libsql_tx, libsql_nif]).
%% Called only through child specs ({M, F, A} tuples) or the .app file.
-define(STARTED_BY_MFA, [{libsql_conn_sup, start_link, 0}, {libsql_pools_sup, start_link, 0},
                         {libsql_pool, start_link, 2}, {libsql_pool_sup, start_link, 2},
                         {libsql_pool_sup, start_worker, 2}]).

-spec all() -> [atom()].
all() -> [every_module_classified, public_functions_documented, shell_renders_docs,
          internal_exports_used].

-spec init_per_suite(config()) -> config().
init_per_suite(Config) ->
    Config.

-spec end_per_suite(config()) -> ok.
end_per_suite(_Config) ->
    ok.

%% The lists above name every module of the application, so a new module
%% is a decision: public (documented) or internal (@private, no dead
%% exports).
-spec every_module_classified(config()) -> ok.
every_module_classified(_Config) ->
    _ = application:load(libsql),
    {ok, Mods} = application:get_key(libsql, modules),
    ?assertEqual(lists:sort(Mods), lists:sort(?PUBLIC ++ ?INTERNAL)),
    ok.

-spec public_functions_documented(config()) -> ok.
public_functions_documented(_Config) ->
    Missing =
        [{M, F, A, What}
         || M <- ?PUBLIC,
            {F, A} <- M:module_info(exports), F =/= module_info,
            What <- missing(M, F, A)],
    ?assertEqual([], Missing),
    %% Nothing else: internals are not shown as API by h/1.
    [?assertEqual({M, lists:sort([FA || {F, _} = FA <- M:module_info(exports),
                                        F =/= module_info])},
                  {M, lists:sort([{F, A} || {{function, F, A}, _, _, _, _} <- chunk_docs(M)])})
     || M <- ?PUBLIC],
    ok.

chunk_docs(M) ->
    {ok, {docs_v1, _, erlang, _, _, _, Docs}} = code:get_doc(M),
    Docs.

missing(M, F, A) ->
    {ok, {docs_v1, _, erlang, _, ModDoc, _, Docs}} = code:get_doc(M),
    ?assert(text_size(ModDoc) > 100),
    case [{Doc, Meta} || {{function, F1, A1}, _, _, Doc, Meta} <- Docs, F1 =:= F, A1 =:= A] of
        [{Doc, Meta}] when is_map(Doc) ->
            [short_doc || text_size(Doc) < 40] ++
            [no_spec || not maps:is_key(signature, Meta) andalso not has_spec(M, F, A)];
        [_] -> [no_doc];
        [] -> [not_in_chunk]
    end.

%% The length of the text of a doc (application/erlang+html: a tree of
%% elements with binaries at the leaves).
text_size(#{<<"en">> := Doc}) -> text_size(Doc);
text_size(B) when is_binary(B) -> byte_size(B);
text_size(L) when is_list(L) -> lists:sum([text_size(E) || E <- L]);
text_size({_Tag, _Attrs, Content}) -> text_size(Content);
text_size(_) -> 0.

has_spec(M, F, A) ->
    {ok, {M, [{attributes, Attrs}]}} = beam_lib:chunks(code:which(M), [attributes]),
    lists:member({F, A}, [FA || {spec, Specs} <- Attrs, {FA, _} <- Specs]).

%% What h/3 prints in the shell: the doc text, not "no documentation".
-spec shell_renders_docs(config()) -> ok.
shell_renders_docs(_Config) ->
    {ok, Docs} = code:get_doc(libsql),
    Text = unicode:characters_to_binary(shell_docs:render(libsql, query, 3, Docs)),
    ?assertEqual(nomatch, binary:match(Text, <<"no documentation">>)),
    ?assertNotEqual(nomatch, binary:match(Text, <<"query(">>)),
    ?assertNotEqual(nomatch, binary:match(Text, <<"bad_argument">>)),
    ok.

-spec internal_exports_used(config()) -> ok.
internal_exports_used(_Config) ->
    {ok, X} = xref:start([{xref_mode, functions}]),
    try
        ok = xref:set_default(X, [{warnings, false}, {verbose, false}]),
        AppEbin = filename:dirname(code:which(libsql)),
        TestDir = filename:dirname(code:which(?MODULE)),
        {ok, _} = xref:add_directory(X, AppEbin),
        {ok, _} = xref:add_directory(X, TestDir),
        {ok, Unused} = xref:q(X, "X - XU"),
        Dead = [MFA || {M, F, A} = MFA <- Unused, lists:member(M, ?INTERNAL),
                       not lists:member({F, A}, callbacks(M)),
                       not lists:member(MFA, ?STARTED_BY_MFA),
                       F =/= module_info],
        ?assertEqual([], Dead)
    after
        xref:stop(X)
    end,
    ok.

callbacks(M) ->
    [CB || {behaviour, Bs} <- M:module_info(attributes), B <- Bs,
           CB <- B:behaviour_info(callbacks) ++ optional(B)].

optional(B) ->
    try B:behaviour_info(optional_callbacks) catch error:_ -> [] end.
