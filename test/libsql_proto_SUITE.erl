%% Common Test suite: libsql_proto, the pure codec of the port protocol
%% (port/PROTOCOL.md), with no port and no processes: SQL text checking,
%% parameter conversion, request frames, reply refs, reply decoding, exit
%% statuses and error terms; the constants of erl/libsql_protocol.hrl are
%% checked against their twins in port/protocol.h.
%%
%% Every case asserts exact values; floats are compared by bit pattern
%% (libsql_test_util:canon/1), so -0.0 vs 0.0 is caught. The cases of the
%% `messages' group reproduced defects this suite found (fixed): a refused
%% value or name printed with characters above 127 made params/1 crash or
%% return a non-binary message, and the empty atom was accepted as a name.
%%
%% The PropEr API is called directly (proper:forall/2, proper_types:bind/3),
%% as in libsql_prop_SUITE (Debian's erlang-proper ships no include/).
%% Tests per property: 500, or $LIBSQL_PROPER_NUMTESTS.
-module(libsql_proto_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-import(libsql_test_util, [canon/1]).

-export([all/0, groups/0, suite/0, init_per_suite/1, end_per_suite/1]).
%% sql/1
-export([sql_binary_passthrough/1, sql_strings/1, sql_iodata/1, sql_codepoints/1,
         sql_invalid_utf8/1, sql_not_text/1, sql_improper/1]).
%% params/1
-export([params_wire_passthrough/1, params_conversions/1, params_text/1,
         params_int64_bounds/1, params_refused_values/1, params_refused_text/1,
         params_error_position/1, params_named/1, params_named_errors/1,
         params_bad_names/1, params_improper/1, params_not_a_collection/1]).
%% encode_body/2 + frame/3
-export([body_arity_and_parts/1, frame_commands/1, frame_small_ref/1, frame_ref_bounds/1,
         frame_large_binaries/1, frame_unicode/1, frame_nested/1]).
%% reply_ref/1 + decode_reply/1
-export([reply_ref_port_frames/1, reply_ref_other/1, decode_ok/1, decode_error/1,
         decode_malformed/1, decode_unexpected/1]).
%% exit_reason/1 and the shared constants
-export([constants_agree/1, exit_codes/1, exit_other/1]).
%% err/2,3
-export([err_shape/1, err_unicode/1, err_extra/1]).
%% properties
-export([prop_params_valid/1, prop_params_named_valid/1, prop_params_out_of_range/1,
         prop_frame/1, prop_reply/1]).
%% defects
-export([params_unicode_value_message/1, params_bad_name_message/1,
         params_empty_atom_name/1]).

-type config() :: [{atom(), term()}].

-define(INT64_MIN, -9223372036854775808).
-define(INT64_MAX, 9223372036854775807).
-define(REF_MAX, 16#7fffffff).
-define(DEFAULT_NUMTESTS, 500).
-define(USE, " (use null, an integer, a float, a binary, {blob, Binary} or {text, IoData})").
-define(NOT_TEXT, <<"SQL must be a binary, a string or iodata">>).
-define(NOT_UTF8, <<"SQL is not valid UTF-8 text">>).
-define(NOT_PARAMS, <<"parameters must be a list (positional) or a map (named)">>).
-define(IMPROPER, <<"parameters must be a proper list">>).

%% What exit_reason/1 must answer for each exit code of the port.
-define(EXIT_REASONS, #{'LSQ_EXIT_OK' => normal,
                        'LSQ_EXIT_READ' => port_read_error,
                        'LSQ_EXIT_WRITE' => port_write_error,
                        'LSQ_EXIT_NOMEM' => port_out_of_memory,
                        'LSQ_EXIT_USAGE' => port_usage,
                        'LSQ_EXIT_THREAD' => port_thread_error}).

%% ---- CT callbacks ------------------------------------------------------

-spec suite() -> [tuple()].
suite() -> [{timetrap, {seconds, 120}}].

-spec all() -> [{group, atom()}].
all() ->
    [{group, sql}, {group, params}, {group, frames}, {group, replies},
     {group, exit}, {group, errors}, {group, properties}, {group, messages}].

-spec groups() -> [{atom(), list(), [atom()]}].
groups() ->
    [{sql, [], [sql_binary_passthrough, sql_strings, sql_iodata, sql_codepoints,
                sql_invalid_utf8, sql_not_text, sql_improper]},
     {params, [], [params_wire_passthrough, params_conversions, params_text,
                   params_int64_bounds, params_refused_values, params_refused_text,
                   params_error_position, params_named, params_named_errors,
                   params_bad_names, params_improper, params_not_a_collection]},
     {frames, [], [body_arity_and_parts, frame_commands, frame_small_ref, frame_ref_bounds,
                   frame_large_binaries, frame_unicode, frame_nested]},
     {replies, [], [reply_ref_port_frames, reply_ref_other, decode_ok, decode_error,
                    decode_malformed, decode_unexpected]},
     {exit, [], [constants_agree, exit_codes, exit_other]},
     {errors, [], [err_shape, err_unicode, err_extra]},
     {properties, [], [prop_params_valid, prop_params_named_valid, prop_params_out_of_range,
                       prop_frame, prop_reply]},
     {messages, [], [params_unicode_value_message, params_bad_name_message,
                 params_empty_atom_name]}].

-spec init_per_suite(config()) -> config().
init_per_suite(Config) ->
    %% Nothing is started: libsql_proto is pure. Only the project root is
    %% needed, to read erl/libsql_protocol.hrl and port/protocol.h.
    [{root, project_root()} | Config].

-spec end_per_suite(config()) -> ok.
end_per_suite(_Config) ->
    ok.

%% ---- sql/1 -------------------------------------------------------------

-spec sql_binary_passthrough(config()) -> ok.
sql_binary_passthrough(_Config) ->
    Sql = <<"SELECT 1">>,
    {ok, Got} = libsql_proto:sql(Sql),
    ?assertEqual(<<"SELECT 1">>, Got),
    ?assert(erts_debug:same(Sql, Got)),
    ?assertEqual({ok, <<>>}, libsql_proto:sql(<<>>)),
    ?assertEqual({ok, <<"SELECT '日本語', 'é'"/utf8>>},
                 libsql_proto:sql(<<"SELECT '日本語', 'é'"/utf8>>)),
    %% Binaries are passed on as they are, unchecked (the port binds bytes
    %% as given): even bytes that are not UTF-8, or a NUL.
    ?assertEqual({ok, <<"SELECT '", 255, 0, "'">>}, libsql_proto:sql(<<"SELECT '", 255, 0, "'">>)),
    ok.

-spec sql_strings(config()) -> ok.
sql_strings(_Config) ->
    ?assertEqual({ok, <<"SELECT 1">>}, libsql_proto:sql("SELECT 1")),
    ?assertEqual({ok, <<>>}, libsql_proto:sql("")),
    ?assertEqual({ok, <<"SELECT 'é', '日本', '😀'"/utf8>>},
                 libsql_proto:sql("SELECT 'é', '日本', '😀'")),
    ?assertEqual({ok, <<"SELECT '", 0, "'">>}, libsql_proto:sql([$S, $E, $L, $E, $C, $T, $\s, $', 0, $'])),
    %% The largest code point.
    ?assertEqual({ok, <<16#10FFFF/utf8>>}, libsql_proto:sql([16#10FFFF])),
    ok.

-spec sql_iodata(config()) -> ok.
sql_iodata(_Config) ->
    ?assertEqual({ok, <<"SELECT 1, 2">>},
                 libsql_proto:sql([<<"SELECT ">>, "1", [$,, [<<" ">>, [[]], "2"]]])),
    ?assertEqual({ok, <<>>}, libsql_proto:sql([<<>>, [], [[<<>>]]])),
    %% A binary tail is iodata too.
    ?assertEqual({ok, <<"ab">>}, libsql_proto:sql([<<"a">> | <<"b">>])),
    ?assertEqual({ok, <<"SELECT 'é日'"/utf8>>},
                 libsql_proto:sql([<<"SELECT '">>, <<"é"/utf8>>, "日", $']),
                 "UTF-8 binaries and code points mixed"),
    ok.

%% Integers in a list are code points, not bytes: a byte >= 128 given as a
%% list element is encoded as the character it numbers (UTF-8 bytes in a
%% list are therefore encoded twice). Binaries inside the list are UTF-8.
-spec sql_codepoints(config()) -> ok.
sql_codepoints(_Config) ->
    ?assertEqual({ok, <<195, 131, 194, 169>>}, libsql_proto:sql([195, 169])),
    ?assertEqual({ok, <<"é"/utf8>>}, libsql_proto:sql([233])),
    ?assertEqual({ok, <<"é"/utf8>>}, libsql_proto:sql([<<195, 169>>])),
    ok.

-spec sql_invalid_utf8(config()) -> ok.
sql_invalid_utf8(_Config) ->
    Bad = {error, #{code => bad_argument, message => ?NOT_UTF8}},
    ?assertEqual(Bad, libsql_proto:sql([<<255>>])),
    ?assertEqual(Bad, libsql_proto:sql(["SELECT ", <<"'", 16#C3, "'">>])),
    %% Cut off inside a character.
    ?assertEqual(Bad, libsql_proto:sql([<<"SELECT '">>, <<16#E6, 16#97>>])),
    %% An overlong encoding and an encoded surrogate.
    ?assertEqual(Bad, libsql_proto:sql([<<16#C0, 16#AF>>])),
    ?assertEqual(Bad, libsql_proto:sql([<<16#ED, 16#A0, 16#80>>])),
    %% Code points that are no characters.
    ?assertEqual(Bad, libsql_proto:sql([16#D800])),
    ?assertEqual(Bad, libsql_proto:sql("a" ++ [16#110000])),
    ?assertEqual(Bad, libsql_proto:sql([-1])),
    ok.

-spec sql_not_text(config()) -> ok.
sql_not_text(_Config) ->
    Bad = {error, #{code => bad_argument, message => ?NOT_TEXT}},
    [?assertEqual(Bad, libsql_proto:sql(T), T)
     || T <- [42, 1.5, 'SELECT 1', {sql, <<"SELECT 1">>}, #{}, #{sql => <<"x">>},
              self(), make_ref(), fun() -> ok end, <<1:3>>,
              %% lists holding something that is not text
              [a], ["SELECT ", 1.5], [<<"SELECT ">>, {x}], [<<1:3>>]]],
    ok.

-spec sql_improper(config()) -> ok.
sql_improper(_Config) ->
    Bad = {error, #{code => bad_argument, message => ?NOT_TEXT}},
    ?assertEqual(Bad, libsql_proto:sql([$a | $b])),
    ?assertEqual(Bad, libsql_proto:sql([$a, $b | c])),
    ?assertEqual(Bad, libsql_proto:sql([<<"a">> | 1])),
    ?assertEqual(Bad, libsql_proto:sql(["SELECT ", [$1 | $2]])),
    ok.

%% ---- params/1 ----------------------------------------------------------

-spec params_wire_passthrough(config()) -> ok.
params_wire_passthrough(_Config) ->
    ?assertEqual({ok, []}, libsql_proto:params([])),
    Wire = [null, 0, 1, -1, ?INT64_MIN, ?INT64_MAX, 1.5, -0.0, 0.0, 1.0e308,
            <<>>, <<"text">>, <<"日本"/utf8>>, <<255, 0>>, {blob, <<>>}, {blob, <<0, 255>>}],
    {ok, Got} = libsql_proto:params(Wire),
    ?assertEqual(canon(Wire), canon(Got)),
    %% The fast path returns the very list it was given, not a copy...
    ?assert(erts_debug:same(Wire, Got)),
    %% ...and only it: a list that needed a conversion is a new list
    %% (a positive control for the check above).
    Converted = [1, true],
    {ok, Got2} = libsql_proto:params(Converted),
    ?assertEqual([1, 1], Got2),
    ?assertNot(erts_debug:same(Converted, Got2)),
    %% infinity and neg_infinity are wire values, kept as they are.
    ?assertEqual({ok, [infinity, neg_infinity, 1]},
                 libsql_proto:params([infinity, neg_infinity, 1])),
    ok.

-spec params_conversions(config()) -> ok.
params_conversions(_Config) ->
    Cases = [{true, 1}, {false, 0}, {undefined, null}, {nil, null}, {null, null},
             {infinity, infinity}, {neg_infinity, neg_infinity},
             {{blob, <<0, 1, 255>>}, {blob, <<0, 1, 255>>}},
             {{text, <<"raw">>}, <<"raw">>}, {{text, "héllo"}, <<"héllo"/utf8>>},
             {-0.0, -0.0}, {?INT64_MIN, ?INT64_MIN}],
    [?assertEqual(canon({ok, [Out]}), canon(libsql_proto:params([In])), In)
     || {In, Out} <- Cases],
    %% All at once, among wire values, in order.
    {Ins, Outs} = lists:unzip(Cases),
    ?assertEqual(canon({ok, [7 | Outs] ++ [<<"end">>]}),
                 canon(libsql_proto:params([7 | Ins] ++ [<<"end">>]))),
    ok.

-spec params_text(config()) -> ok.
params_text(_Config) ->
    ?assertEqual({ok, [<<>>]}, libsql_proto:params([{text, []}])),
    ?assertEqual({ok, [<<>>]}, libsql_proto:params([{text, <<>>}])),
    ?assertEqual({ok, [<<"aé日😀"/utf8>>]},
                 libsql_proto:params([{text, [<<"a">>, "é", [16#65e5, <<"😀"/utf8>>]]}])),
    ?assertEqual({ok, [<<"ab">>]}, libsql_proto:params([{text, [$a | <<"b">>]}])),
    %% A string is code points.
    ?assertEqual({ok, [<<"é"/utf8>>]}, libsql_proto:params([{text, [233]}])),
    ok.

-spec params_int64_bounds(config()) -> ok.
params_int64_bounds(_Config) ->
    ?assertEqual({ok, [?INT64_MIN]}, libsql_proto:params([?INT64_MIN])),
    ?assertEqual({ok, [?INT64_MAX]}, libsql_proto:params([?INT64_MAX])),
    ?assertEqual({ok, [?INT64_MIN, ?INT64_MAX]}, libsql_proto:params([?INT64_MIN, ?INT64_MAX])),
    ?assertEqual(bad_param(<<"1">>, <<"integer 9223372036854775808 is outside the 64-bit "
                                       "signed range">>),
                 libsql_proto:params([?INT64_MAX + 1])),
    ?assertEqual(bad_param(<<"1">>, <<"integer -9223372036854775809 is outside the 64-bit "
                                       "signed range">>),
                 libsql_proto:params([?INT64_MIN - 1])),
    ?assertEqual(bad_param(<<"3">>, <<"integer 9223372036854775808 is outside the 64-bit "
                                       "signed range">>),
                 libsql_proto:params([?INT64_MAX, ?INT64_MIN, ?INT64_MAX + 1, 0])),
    ?assertEqual(bad_param(<<"2">>, <<"integer ", (integer_to_binary(1 bsl 200))/binary,
                                       " is outside the 64-bit signed range">>),
                 libsql_proto:params([true, 1 bsl 200])),
    %% Named: the error names the parameter.
    ?assertEqual({ok, {named, [{<<"lo">>, ?INT64_MIN}]}},
                 libsql_proto:params(#{lo => ?INT64_MIN})),
    ?assertEqual(bad_param(<<"big">>, <<"integer 9223372036854775808 is outside the 64-bit "
                                         "signed range">>),
                 libsql_proto:params(#{big => ?INT64_MAX + 1})),
    ?assertEqual(bad_param(<<":small">>, <<"integer -9223372036854775809 is outside the "
                                            "64-bit signed range">>),
                 libsql_proto:params(#{<<":small">> => ?INT64_MIN - 1})),
    ok.

-spec params_refused_values(config()) -> ok.
params_refused_values(_Config) ->
    Nan = <<"NaN cannot be stored (SQLite has no NaN)">>,
    ?assertEqual(bad_param(<<"1">>, Nan), libsql_proto:params([nan])),
    ?assertEqual(bad_param(<<"2">>, Nan), libsql_proto:params([1.0, nan])),
    Pid = self(),
    Ref = make_ref(),
    Fun = fun() -> ok end,
    Refused = [{foo, "foo"}, {'NULL', "'NULL'"}, {ok, "ok"},
               {Pid, pid_to_list(Pid)}, {Ref, ref_to_list(Ref)}, {Fun, erlang:fun_to_list(Fun)},
               {{1, 2}, "{1,2}"}, {{}, "{}"}, {{blob, notbin}, "{blob,notbin}"},
               {{blob, <<1:3>>}, "{blob,<<1:3>>}"}, {{blob, <<1>>, x}, "{blob,<<1>>,x}"},
               {{text}, "{text}"}, {#{}, "#{}"}, {#{a => 1}, "#{a => 1}"},
               {[1], "[1]"}, {[], "[]"}, {"ab", "\"ab\""}, {<<1:3>>, "<<1:3>>"},
               %% big terms are printed cut short
               {lists:seq(1, 1000), "[1,2,3,4|...]"},
               {{1, {2, {3, {4, {5, {6}}}}}}, "{1,{2,{...}}}"}],
    [?assertEqual(bad_param(<<"1">>, unsupported(Printed)), libsql_proto:params([V]), V)
     || {V, Printed} <- Refused],
    ok.

-spec params_refused_text(config()) -> ok.
params_refused_text(_Config) ->
    Invalid = <<"{text, _} holds invalid UTF-8">>,
    NotText = <<"{text, _} must hold iodata or a string">>,
    ?assertEqual(bad_param(<<"1">>, Invalid), libsql_proto:params([{text, <<255>>}])),
    ?assertEqual(bad_param(<<"1">>, Invalid), libsql_proto:params([{text, [<<"a">>, <<16#E6>>]}])),
    ?assertEqual(bad_param(<<"1">>, Invalid), libsql_proto:params([{text, [16#D800]}])),
    ?assertEqual(bad_param(<<"1">>, NotText), libsql_proto:params([{text, 5}])),
    ?assertEqual(bad_param(<<"1">>, NotText), libsql_proto:params([{text, atom}])),
    ?assertEqual(bad_param(<<"1">>, NotText), libsql_proto:params([{text, [$a | $b]}])),
    ?assertEqual(bad_param(<<"1">>, NotText), libsql_proto:params([{text, [{x}]}])),
    ?assertEqual(bad_param(<<"t">>, NotText), libsql_proto:params(#{t => {text, 1.5}})),
    ok.

%% The position is 1-based and counts every element, converted or not; the
%% first bad element is the one named.
-spec params_error_position(config()) -> ok.
params_error_position(_Config) ->
    Msg = unsupported("foo"),
    ?assertEqual(bad_param(<<"1">>, Msg), libsql_proto:params([foo, nan])),
    ?assertEqual(bad_param(<<"2">>, Msg), libsql_proto:params([1, foo])),
    ?assertEqual(bad_param(<<"5">>, Msg),
                 libsql_proto:params([true, undefined, {text, "x"}, infinity, foo, nan])),
    Long = lists:duplicate(99, null) ++ [foo],
    ?assertEqual(bad_param(<<"100">>, Msg), libsql_proto:params(Long)),
    Long2 = lists:duplicate(1000, true) ++ [nan],
    ?assertEqual(bad_param(<<"1001">>, <<"NaN cannot be stored (SQLite has no NaN)">>),
                 libsql_proto:params(Long2)),
    ok.

-spec params_named(config()) -> ok.
params_named(_Config) ->
    ?assertEqual({ok, {named, []}}, libsql_proto:params(#{})),
    Map = #{a => 1, <<"b">> => true, <<":c">> => undefined, '@d' => {text, "x"},
            <<"$e">> => {blob, <<1>>}, 'é' => <<"é"/utf8>>, '日本' => nil,
            <<"f g"/utf8>> => 2.5, neg => -0.0, inf => neg_infinity},
    {ok, {named, Got}} = libsql_proto:params(Map),
    Expected = [{<<"a">>, 1}, {<<"b">>, 1}, {<<":c">>, null}, {<<"@d">>, <<"x">>},
                {<<"$e">>, {blob, <<1>>}}, {<<"é"/utf8>>, <<"é"/utf8>>},
                {<<"日本"/utf8>>, null}, {<<"f g">>, 2.5}, {<<"neg">>, -0.0},
                {<<"inf">>, neg_infinity}],
    ?assertEqual(lists:sort(canon(Expected)), lists:sort(canon(Got))),
    %% An atom key and a binary key of the same name are both passed on
    %% (the port refuses a name given twice).
    {ok, {named, Twice}} = libsql_proto:params(#{x => 1, <<"x">> => 2}),
    ?assertEqual([{<<"x">>, 1}, {<<"x">>, 2}], lists:sort(Twice)),
    ok.

-spec params_named_errors(config()) -> ok.
params_named_errors(_Config) ->
    ?assertEqual(bad_param(<<"x">>, <<"NaN cannot be stored (SQLite has no NaN)">>),
                 libsql_proto:params(#{x => nan})),
    ?assertEqual(bad_param(<<":y">>, unsupported("{1,2}")),
                 libsql_proto:params(#{<<":y">> => {1, 2}})),
    ?assertEqual(bad_param(<<"z">>, unsupported("foo")),
                 libsql_proto:params(#{z => foo, a => 1, <<"b">> => 2})),
    ?assertEqual(bad_param(<<"名"/utf8>>, <<"NaN cannot be stored (SQLite has no NaN)">>),
                 libsql_proto:params(#{'名' => nan})),
    ok.

-spec params_bad_names(config()) -> ok.
params_bad_names(_Config) ->
    Bad = fun(Printed) ->
                  {error, #{code => bad_argument,
                            message => iolist_to_binary(["parameter name ", Printed,
                                                         " must be a non-empty atom or UTF-8 "
                                                         "binary"])}}
          end,
    ?assertEqual(Bad("1"), libsql_proto:params(#{1 => 1})),
    ?assertEqual(Bad("0"), libsql_proto:params(#{0 => <<"x">>})),
    ?assertEqual(Bad("1.5"), libsql_proto:params(#{1.5 => 1})),
    ?assertEqual(Bad("<<>>"), libsql_proto:params(#{<<>> => 1})),
    ?assertEqual(Bad("\"a\""), libsql_proto:params(#{"a" => 1})),
    ?assertEqual(Bad("{a}"), libsql_proto:params(#{{a} => 1})),
    ?assertEqual(Bad("<<1:3>>"), libsql_proto:params(#{<<1:3>> => 1})),
    %% Even when the value is bad too: the name is checked first.
    ?assertEqual(Bad("1"), libsql_proto:params(#{1 => nan})),
    ok.

-spec params_improper(config()) -> ok.
params_improper(_Config) ->
    Bad = {error, #{code => bad_argument, message => ?IMPROPER}},
    ?assertEqual(Bad, libsql_proto:params([1 | 2])),
    ?assertEqual(Bad, libsql_proto:params([1, 2 | <<"x">>])),
    ?assertEqual(Bad, libsql_proto:params([null | null])),
    %% through the converting path
    ?assertEqual(Bad, libsql_proto:params([true | false])),
    ?assertEqual(Bad, libsql_proto:params([1, true, {text, "x"} | tail])),
    ok.

-spec params_not_a_collection(config()) -> ok.
params_not_a_collection(_Config) ->
    Bad = {error, #{code => bad_argument, message => ?NOT_PARAMS}},
    [?assertEqual(Bad, libsql_proto:params(P), P)
     || P <- [42, <<"x">>, <<>>, undefined, null, {named, []}, {1, 2}, 1.5, self()]],
    ok.

%% ---- encode_body/2 + frame/3 --------------------------------------------

-spec body_arity_and_parts(config()) -> ok.
body_arity_and_parts(_Config) ->
    Cases = [{ping, []}, {finalize, [3]}, {query, [<<"SELECT ?">>, [1]]},
             {limit, [length, -1]}, {batch, [[{<<"S">>, []}], true]},
             {many, lists:seq(1, 200)}],
    lists:foreach(
      fun({Cmd, Args}) ->
              {Arity, Body} = libsql_proto:encode_body(Cmd, Args),
              ?assertEqual(length(Args) + 2, Arity, Cmd),
              %% The elements after the ref, one after the other, each in
              %% the external format without the version byte.
              ?assertEqual(iolist_to_binary([Ext || T <- [Cmd | Args],
                                                    <<131, Ext/binary>> <- [term_to_binary(T)]]),
                           iolist_to_binary(Body), Cmd),
              ?assertEqual(expected_frame(list_to_tuple([1000, Cmd | Args])),
                           iolist_to_binary(libsql_proto:frame(1000, Arity, Body)))
      end, Cases),
    ok.

-spec frame_commands(config()) -> ok.
frame_commands(_Config) ->
    Requests =
        [{ping, []}, {close, []}, {info, []}, {stats, []}, {reset, []},
         {open, [[{path, <<":memory:">>}, {read_only, false}, {busy_timeout, 5000},
                  {null, nil}]]},
         {query, [<<"SELECT ?, ?">>, [1, <<"x">>]]},
         {execute, [<<"INSERT INTO t VALUES (:a)">>, {named, [{<<"a">>, {blob, <<1, 2>>}}]}]},
         {execute_many, [<<"INSERT INTO t VALUES (?)">>, [[1], [2.5], [null], [infinity]]]},
         {execute_script, [<<"CREATE TABLE t(x); INSERT INTO t VALUES (1);">>]},
         {prepare, [<<"SELECT 1">>]}, {stmt_query, [7, []]}, {finalize, [16#7fffffff]},
         {cursor_open, [<<"SELECT 1">>, []]}, {cursor_fetch, [1, 500]},
         {set_busy_timeout, [0]}, {limit, [variable_number, -1]},
         {backup, [<<"/tmp/x.db">>, same]}, {rekey, [<<"k">>]}, {rekey, [null]},
         {query, [<<"SELECT ?">>, [?INT64_MIN, ?INT64_MAX, -0.0, 1.0e-300, neg_infinity]]}],
    lists:foreach(
      fun({Cmd, Args}) ->
              [check_frame(Ref, Cmd, Args) || Ref <- [1, 2, 255, 256, 65536, ?REF_MAX]]
      end, Requests),
    ok.

%% term_to_binary/1 writes a ref below 256 as SMALL_INTEGER_EXT (97, 1
%% byte); frame/3 always writes INTEGER_EXT (98, 4 bytes). The two decode
%% to the same tuple.
-spec frame_small_ref(config()) -> ok.
frame_small_ref(_Config) ->
    {2, Body} = libsql_proto:encode_body(ping, []),
    Ping = strip(term_to_binary(ping)),
    ?assertEqual(<<131, 104, 2, 98, 0, 0, 0, 1, Ping/binary>>,
                 iolist_to_binary(libsql_proto:frame(1, 2, Body))),
    ?assertEqual(<<131, 104, 2, 97, 1, Ping/binary>>, term_to_binary({1, ping})),
    ?assertEqual({1, ping}, binary_to_term(iolist_to_binary(libsql_proto:frame(1, 2, Body)))),
    ?assertEqual(<<131, 104, 2, 98, 0, 0, 0, 255, Ping/binary>>,
                 iolist_to_binary(libsql_proto:frame(255, 2, Body))),
    %% From 256 on the frame is exactly term_to_binary of the tuple.
    ?assertEqual(term_to_binary({256, ping}), iolist_to_binary(libsql_proto:frame(256, 2, Body))),
    ?assertEqual(<<131, 104, 2, 98, 0, 0, 1, 0, Ping/binary>>, term_to_binary({256, ping})),
    ok.

-spec frame_ref_bounds(config()) -> ok.
frame_ref_bounds(_Config) ->
    {4, Body} = libsql_proto:encode_body(query, [<<"SELECT 1">>, []]),
    Rest = iolist_to_binary(Body),
    ?assertEqual(<<131, 104, 4, 98, 16#7f, 16#ff, 16#ff, 16#ff, Rest/binary>>,
                 iolist_to_binary(libsql_proto:frame(?REF_MAX, 4, Body))),
    ?assertEqual(term_to_binary({?REF_MAX, query, <<"SELECT 1">>, []}),
                 iolist_to_binary(libsql_proto:frame(?REF_MAX, 4, Body))),
    ?assertEqual(<<131, 104, 4, 98, 0, 0, 0, 1, Rest/binary>>,
                 iolist_to_binary(libsql_proto:frame(1, 4, Body))),
    %% The tuple header holds the arity in one byte (SMALL_TUPLE_EXT).
    {255, Body255} = libsql_proto:encode_body(many, lists:seq(1, 253)),
    check_frame(300, many, lists:seq(1, 253)),
    ?assertEqual(<<131, 104, 255, 98, 0, 0, 1, 44>>,
                 binary:part(iolist_to_binary(libsql_proto:frame(300, 255, Body255)), 0, 8)),
    ok.

-spec frame_large_binaries(config()) -> ok.
frame_large_binaries(_Config) ->
    Big = crypto:strong_rand_bytes(8 * 1024 * 1024 + 3),
    Sql = iolist_to_binary(lists:duplicate(100000, "SELECT 1; ")),
    check_frame(12345, query, [Sql, [{blob, Big}, Big, <<>>]]),
    check_frame(1, execute, [<<"INSERT INTO t VALUES (?)">>, [{blob, Big}]]),
    check_frame(?REF_MAX, execute_script, [Sql]),
    %% The big binary is in the body once, as BINARY_EXT, at full length.
    {4, Body} = libsql_proto:encode_body(execute, [<<"X">>, [{blob, Big}]]),
    Bin = iolist_to_binary(Body),
    Len = byte_size(Big),
    ?assertMatch({_, Len}, binary:match(Bin, Big)),
    ?assertMatch({_, 5}, binary:match(Bin, <<109, Len:32>>)),
    ok.

-spec frame_unicode(config()) -> ok.
frame_unicode(_Config) ->
    check_frame(77, query, [<<"SELECT '日本語', 'é', '😀' WHERE :名 = 1"/utf8>>,
                            {named, [{<<"名"/utf8>>, <<"値"/utf8>>}]}]),
    check_frame(78, 'コマンド', [<<"é"/utf8>>, 'é', '日本']),
    check_frame(79, open, [[{path, <<"/tmp/データ.db"/utf8>>}]]),
    ok.

-spec frame_nested(config()) -> ok.
frame_nested(_Config) ->
    Deep = lists:foldl(fun(I, Acc) -> [I, Acc] end, [], lists:seq(1, 500)),
    check_frame(500, batch, [[{<<"INSERT INTO t VALUES (?)">>, [I, <<"v">>, {blob, <<I>>}]}
                              || I <- lists:seq(1, 255)], true]),
    check_frame(501, x, [Deep, {Deep, [Deep]}]),
    check_frame(502, x, [[[[[]]]], [[] | []], {[], {}}, #{k => [1, {2}], <<"b">> => #{}}]),
    check_frame(503, x, [lists:seq(1, 100000), [1 bsl 64, -(1 bsl 100), 3.25, "string"]]),
    check_frame(504, x, [[a | b], [1, 2 | <<"tail">>]]),
    ok.

%% ---- reply_ref/1 + decode_reply/1 ----------------------------------------

-spec reply_ref_port_frames(config()) -> ok.
reply_ref_port_frames(_Config) ->
    Results = [ok, {[<<"a">>], [{1}]}, #{mode => local}, {1, 2}, [],
               <<"日本"/utf8>>, crypto:strong_rand_bytes(100000)],
    [begin
         F = port_frame(Ref, Tag, R),
         ?assertEqual({ok, Ref}, libsql_proto:reply_ref(F)),
         %% agrees with a full decode
         ?assertEqual(Ref, element(1, binary_to_term(F)))
     end || Ref <- [0, 1, 2, 255, 256, 65535, 65536, 1 bsl 24, ?REF_MAX - 1, ?REF_MAX],
            Tag <- [ok, error], R <- Results],
    %% The bytes are only peeked at: a head with nothing after it will do.
    ?assertEqual({ok, 5}, libsql_proto:reply_ref(<<131, 104, 3, 98, 0, 0, 0, 5>>)),
    ?assertEqual({ok, 16#01020304},
                 libsql_proto:reply_ref(<<131, 104, 3, 98, 1, 2, 3, 4, "anything">>)),
    ok.

-spec reply_ref_other(config()) -> ok.
reply_ref_other(_Config) ->
    Good = port_frame(9, ok, ok),
    Others =
        [<<>>, <<131>>, <<131, 104, 3, 98>>, <<131, 104, 3, 98, 0, 0, 0>>,
         %% every strict prefix of the 8 head bytes
         binary:part(Good, 0, 7),
         %% the ref as SMALL_INTEGER_EXT, as term_to_binary writes 9
         term_to_binary({9, ok, ok}),
         %% other heads
         <<130, 104, 3, 98, 0, 0, 0, 9, 100, 0, 2, "ok">>,    % other version
         <<131, 104, 2, 98, 0, 0, 0, 9, 100, 0, 2, "ok">>,    % arity 2
         <<131, 104, 4, 98, 0, 0, 0, 9, 100, 0, 2, "ok">>,    % arity 4
         <<131, 105, 0, 0, 0, 3, 98, 0, 0, 0, 9>>,            % LARGE_TUPLE_EXT
         <<131, 108, 0, 0, 0, 3, 98, 0, 0, 0, 9>>,            % a list
         <<131, 104, 3, 110, 4, 0, 9, 0, 0, 0>>,              % the ref as SMALL_BIG_EXT
         <<131, 104, 3, 97, 9, 100, 0, 2, "ok">>,
         term_to_binary({1 bsl 40, ok, ok}),
         term_to_binary(ok),
         term_to_binary({9, ok, ok}, [compressed]),
         term_to_binary({9, ok, binary:copy(<<0>>, 10000)}, [compressed]),
         <<0, 0, 0, 9>>],
    [?assertEqual(error, libsql_proto:reply_ref(B), B) || B <- Others],
    %% A ref of 256 or more is INTEGER_EXT in term_to_binary too.
    ?assertEqual({ok, 256}, libsql_proto:reply_ref(term_to_binary({256, ok, ok}))),
    ok.

-spec decode_ok(config()) -> ok.
decode_ok(_Config) ->
    Big = crypto:strong_rand_bytes(3 * 1024 * 1024),
    Results = [ok, #{mode => local}, {[<<"a">>, <<"b">>], [{1, null}, {-0.0, {blob, <<>>}}]},
               {2, 17}, [{[], [], 0, 0}], {<<"日本"/utf8>>}, Big, [], {true, false}],
    [?assertEqual(canon({ok, R}), canon(libsql_proto:decode_reply(port_frame(Ref, ok, R))))
     || R <- Results, Ref <- [0, 1, ?REF_MAX]],
    %% term_to_binary's own encoding of the ref decodes too.
    ?assertEqual({ok, {1, 2}}, libsql_proto:decode_reply(term_to_binary({3, ok, {1, 2}}))),
    ok.

-spec decode_error(config()) -> ok.
decode_error(_Config) ->
    Errors = [#{code => busy, message => <<"database is locked">>},
              #{code => constraint, message => <<"UNIQUE constraint failed: t.x">>,
                extended_code => 2067, sql => <<"INSERT INTO t VALUES (1)">>, index => 2},
              #{code => bad_argument, message => <<"parameter 3: é"/utf8>>},
              %% code is all that is required
              #{code => x}],
    [?assertEqual({error, E}, libsql_proto:decode_reply(port_frame(Ref, error, E)))
     || E <- Errors, Ref <- [0, 42, ?REF_MAX]],
    ok.

-spec decode_malformed(config()) -> ok.
decode_malformed(_Config) ->
    Bad = {error, #{code => protocol, message => <<"undecodable reply from the port">>}},
    Frame = port_frame(7, ok, {[<<"a">>], [{1, <<"xyz">>}]}),
    Cut = [binary:part(Frame, 0, N) || N <- lists:seq(0, byte_size(Frame) - 1)],
    [?assertEqual(Bad, libsql_proto:decode_reply(B), B)
     || B <- Cut ++ [<<1, 2, 3>>, <<131, 255>>, <<130, 100, 0, 2, "ok">>,
                     <<131, 104, 3, 98, 0, 0, 0, 1, 200>>]],
    ok.

-spec decode_unexpected(config()) -> ok.
decode_unexpected(_Config) ->
    Unexpected = [{1, ok}, {1, ok, a, b}, {1, error, #{message => <<"no code">>}},
                  {1, error, not_a_map}, {1, error, {busy, <<"m">>}}, {1, other, x},
                  {1}, {}, ok, [], [1, ok, x], <<"bin">>, 42, #{code => x}],
    [?assertEqual({error, #{code => protocol, message => <<"unexpected reply from the port">>,
                            reply => T}},
                  libsql_proto:decode_reply(term_to_binary(T)), T)
     || T <- Unexpected],
    %% A port-built frame with an unknown tag.
    ?assertEqual({error, #{code => protocol, message => <<"unexpected reply from the port">>,
                           reply => {5, done, 1}}},
                 libsql_proto:decode_reply(port_frame(5, done, 1))),
    ok.

%% ---- exit_reason/1 and the shared constants ---------------------------------

%% Every constant of erl/libsql_protocol.hrl has its twin in
%% port/protocol.h, with the same value, and the other way round for the
%% exit codes; the values are those PROTOCOL.md documents.
-spec constants_agree(config()) -> ok.
constants_agree(Config) ->
    {Hrl, C} = constants(Config),
    ct:log("libsql_protocol.hrl: ~p~nprotocol.h: ~p", [Hrl, C]),
    ?assertEqual(268435456, maps:get('LSQ_DEFAULT_MAX_FRAME', C)),
    ?assertEqual(268435456, maps:get('LSQ_DEFAULT_MAX_FRAME', Hrl)),
    ?assertEqual(?REF_MAX, maps:get('LSQ_REF_MAX', C)),
    ?assertEqual(?REF_MAX, maps:get('LSQ_REF_MAX', Hrl)),
    %% the head term.c's term_reply_begin writes
    ?assertEqual([131, 104, 3, 98], maps:get('LSQ_REPLY_HEAD', Hrl)),
    %% Every value of the .hrl has a twin (LSQ_REPLY_HEAD is written by
    %% term.c from ei's constants, not from protocol.h).
    Twins = maps:without(['LSQ_REPLY_HEAD'], Hrl),
    ?assertEqual(Twins, maps:with(maps:keys(Twins), C)),
    ?assertEqual(exit_defines(Hrl), exit_defines(C)),
    ok.

-spec exit_codes(config()) -> ok.
exit_codes(Config) ->
    {Hrl, C} = constants(Config),
    Codes = exit_defines(C),
    %% Every exit code of the port has its reason, and nothing else does.
    ?assertEqual(lists:sort(maps:keys(?EXIT_REASONS)), lists:sort(maps:keys(Codes))),
    ?assertEqual(Codes, exit_defines(Hrl)),
    %% distinct, and below the signal range
    ?assertEqual(maps:size(Codes), length(lists:usort(maps:values(Codes)))),
    [?assert(V >= 0 andalso V =< 128, Name) || {Name, V} <- maps:to_list(Codes)],
    [?assertEqual(maps:get(Name, ?EXIT_REASONS), libsql_proto:exit_reason(V), Name)
     || {Name, V} <- maps:to_list(Codes)],
    ?assertEqual(normal, libsql_proto:exit_reason(0)),
    ok.

-spec exit_other(config()) -> ok.
exit_other(Config) ->
    {_Hrl, C} = constants(Config),
    Known = maps:values(exit_defines(C)),
    [?assertEqual(port_failed, libsql_proto:exit_reason(S), S)
     || S <- lists:seq(-3, 128), not lists:member(S, Known)],
    [?assertEqual({port_killed, S - 128}, libsql_proto:exit_reason(S), S)
     || S <- lists:seq(129, 255)],
    ?assertEqual({port_killed, 9}, libsql_proto:exit_reason(137)),
    ?assertEqual({port_killed, 15}, libsql_proto:exit_reason(143)),
    ?assertEqual({port_killed, 1}, libsql_proto:exit_reason(129)),
    ?assertEqual(port_failed, libsql_proto:exit_reason(1)),
    ?assertEqual(port_failed, libsql_proto:exit_reason(128)),
    ok.

%% ---- err/2,3 ---------------------------------------------------------------

-spec err_shape(config()) -> ok.
err_shape(_Config) ->
    ?assertEqual(#{code => busy, message => <<"database is locked">>},
                 libsql_proto:err(busy, <<"database is locked">>)),
    ?assertEqual(#{code => bad_argument, message => <<>>}, libsql_proto:err(bad_argument, "")),
    ?assertEqual(#{code => x, message => <<"abc">>},
                 libsql_proto:err(x, ["a", <<"b">>, [[$c]]])),
    ?assertEqual(#{code => protocol, message => <<"m">>}, libsql_proto:err(protocol, "m", #{})),
    ok.

-spec err_unicode(config()) -> ok.
err_unicode(_Config) ->
    ?assertEqual(#{code => x, message => <<"héllo 日本 😀"/utf8>>},
                 libsql_proto:err(x, "héllo 日本 😀")),
    ?assertEqual(#{code => x, message => <<"é日"/utf8>>},
                 libsql_proto:err(x, [<<"é"/utf8>>, 16#65e5])),
    ?assertEqual(#{code => x, message => <<"é"/utf8>>}, libsql_proto:err(x, <<"é"/utf8>>)),
    %% io_lib:format output (a deep list of code points)
    ?assertEqual(#{code => x, message => <<"unexpected é日 a"/utf8>>},
                 libsql_proto:err(x, io_lib:format("unexpected ~ts ~p", ["é日", a]))),
    ok.

-spec err_extra(config()) -> ok.
err_extra(_Config) ->
    ?assertEqual(#{code => constraint, message => <<"m">>, sql => <<"S">>, index => 3,
                   extended_code => 2067},
                 libsql_proto:err(constraint, "m", #{sql => <<"S">>, index => 3,
                                                     extended_code => 2067})),
    ?assertEqual(#{code => bad_argument, message => <<"p">>, parameter => <<"1">>},
                 libsql_proto:err(bad_argument, <<"p">>, #{parameter => <<"1">>})),
    %% code and message come from the arguments, whatever Extra holds.
    ?assertEqual(#{code => a, message => <<"new">>, k => v},
                 libsql_proto:err(a, "new", #{code => b, message => <<"old">>, k => v})),
    ok.

%% ---- properties --------------------------------------------------------------

%% Any list of accepted values converts, element by element, to its wire
%% form; an all-wire list comes back as the very same list.
-spec prop_params_valid(config()) -> ok.
prop_params_valid(_Config) ->
    run(params_valid,
        proper:forall(
          proper_types:list(value()),
          fun(Pairs) ->
                  {Ins, Exps} = lists:unzip(Pairs),
                  case libsql_proto:params(Ins) of
                      {ok, Out} ->
                          Same = case lists:all(fun is_fast_wire/1, Ins) of
                                     true -> erts_debug:same(Ins, Out);
                                     false -> true
                                 end,
                          check(canon(Exps) =:= canon(Out) andalso lists:all(fun is_wire/1, Out)
                                andalso Same, Ins, Out);
                      Other ->
                          check(false, Ins, Other)
                  end
          end)).

%% Any map with atom and binary names converts to {named, Pairs}.
-spec prop_params_named_valid(config()) -> ok.
prop_params_named_valid(_Config) ->
    run(params_named_valid,
        proper:forall(
          proper_types:list({name_key(), value()}),
          fun(Entries) ->
                  Map = maps:from_list([{K, In} || {K, {In, _}} <- Entries]),
                  Expected = [{name_bin(K), Exp}
                              || {K, {_, Exp}} <- dedupe_keys(lists:reverse(Entries))],
                  case libsql_proto:params(Map) of
                      {ok, {named, Got}} ->
                          check(sort_pairs(Expected) =:= sort_pairs(Got)
                                andalso lists:all(fun({_, V}) -> is_wire(V) end, Got),
                                Map, Got);
                      Other ->
                          check(false, Map, Other)
                  end
          end)).

%% An integer outside int64 anywhere in a list is refused, naming its
%% position.
-spec prop_params_out_of_range(config()) -> ok.
prop_params_out_of_range(_Config) ->
    run(params_out_of_range,
        proper:forall(
          {proper_types:list(value()), bad_int(), proper_types:list(value())},
          fun({Before, Bad, After}) ->
                  Ins = [I || {I, _} <- Before] ++ [Bad | [I || {I, _} <- After]],
                  Pos = integer_to_binary(length(Before) + 1),
                  Expected = bad_param(Pos, <<"integer ", (integer_to_binary(Bad))/binary,
                                              " is outside the 64-bit signed range">>),
                  Got = libsql_proto:params(Ins),
                  check(Expected =:= Got, Ins, Got)
          end)).

%% The frame of any request is term_to_binary of the tuple (with the ref as
%% INTEGER_EXT when term_to_binary would use SMALL_INTEGER_EXT), and decodes
%% to the tuple.
-spec prop_frame(config()) -> ok.
prop_frame(_Config) ->
    run(frame,
        proper:forall(
          {ref(), command(), proper_types:list(proper_types:any())},
          fun({Ref, Cmd, Args}) ->
                  {Arity, Body} = libsql_proto:encode_body(Cmd, Args),
                  Tuple = list_to_tuple([Ref, Cmd | Args]),
                  Bin = iolist_to_binary(libsql_proto:frame(Ref, Arity, Body)),
                  Exact = case Ref >= 256 of
                              true -> Bin =:= term_to_binary(Tuple);
                              false -> Bin =:= expected_frame(Tuple)
                          end,
                  check(Arity =:= tuple_size(Tuple) andalso Exact
                        andalso canon(binary_to_term(Bin)) =:= canon(Tuple),
                        Tuple, Bin)
          end)).

%% Any reply frame the port writes: reply_ref/1 reads its ref and
%% decode_reply/1 its result.
-spec prop_reply(config()) -> ok.
prop_reply(_Config) ->
    run(reply,
        proper:forall(
          {proper_types:integer(0, ?REF_MAX), proper_types:any()},
          fun({Ref, Result}) ->
                  F = port_frame(Ref, ok, Result),
                  Got = {libsql_proto:reply_ref(F), libsql_proto:decode_reply(F)},
                  check(canon(Got) =:= canon({{ok, Ref}, {ok, Result}}), {Ref, Result}, Got)
          end)).

%% ---- defects -------------------------------------------------------------

%% Fixed defect: params/1 built its error message with iolist_to_binary/1 from the
%% io_lib:format ~tP of the refused value, which is chardata (code points),
%% not bytes. A printed value holding a character above 255 makes
%% iolist_to_binary raise badarg, so params/1 crashes instead of returning
%% bad_argument; one holding a character in 128..255 is written as a Latin-1
%% byte, err/3's unicode:characters_to_binary then fails on it, and the
%% `message' of the error is an {error, _, _} / {incomplete, _, _} tuple,
%% not a binary.
-spec params_unicode_value_message(config()) -> ok.
params_unicode_value_message(_Config) ->
    [begin
         Got = (catch libsql_proto:params([V])),
         ?assertMatch({error, #{code := bad_argument, parameter := <<"1">>,
                                message := <<"parameter 1: unsupported value ", _/binary>>}},
                      Got, V),
         {error, #{message := Msg}} = Got,
         ?assertEqual(Msg, unicode:characters_to_binary(Msg), V),
         ?assertNotEqual(nomatch, binary:match(Msg, Shown), V)
     end || {V, Shown} <- [{'日本', <<"日本"/utf8>>}, {'é', <<"é"/utf8>>},
                           {{'é'}, <<"é"/utf8>>}, {[x, 'ü'], <<"ü"/utf8>>}]],
    ok.

%% The same for refused names (named/2's message) and for an accepted name
%% that is not UTF-8 (param_error/2 prefixes it to the message, which
%% err/3 then fails to convert): the message is a tuple or params/1
%% crashes.
-spec params_bad_name_message(config()) -> ok.
params_bad_name_message(_Config) ->
    [begin
         Got = (catch libsql_proto:params(Map)),
         ?assertMatch({error, #{code := bad_argument, message := Msg}} when is_binary(Msg),
                      Got, Map),
         {error, #{message := Msg}} = Got,
         ?assertEqual(Msg, unicode:characters_to_binary(Msg), Map)
     end || Map <- [#{"é" => 1}, #{{'日'} => 1}, #{<<255>> => nan}, #{'ü' => {'ü'}}]],
    ok.

%% An empty binary is refused as a name, and so is the empty atom '' (it
%% was accepted and became exactly that empty name).
-spec params_empty_atom_name(config()) -> ok.
params_empty_atom_name(_Config) ->
    ?assertMatch({error, #{code := bad_argument}}, libsql_proto:params(#{<<>> => 1})),
    ?assertMatch({error, #{code := bad_argument}}, libsql_proto:params(#{'' => 1})),
    ok.

%% ---- generators --------------------------------------------------------------

%% {Input, ExpectedWireValue}
value() ->
    proper_types:frequency(
      [{1, proper_types:elements([{null, null}, {undefined, null}, {nil, null},
                                  {true, 1}, {false, 0}, {infinity, infinity},
                                  {neg_infinity, neg_infinity}, {<<>>, <<>>},
                                  {{blob, <<>>}, {blob, <<>>}}, {{text, []}, <<>>}])},
       {5, let_(int64(), fun(I) -> {I, I} end)},
       {4, let_(float64(), fun(F) -> {F, F} end)},
       {3, let_(proper_types:binary(), fun(B) -> {B, B} end)},
       {2, let_(proper_types:binary(), fun(B) -> {{blob, B}, {blob, B}} end)},
       {2, let_(proper_unicode:utf8(), fun(S) -> {{text, S}, S} end)},
       {2, let_(proper_unicode:utf8(),
                fun(S) -> {{text, [unicode:characters_to_list(S), S]}, <<S/binary, S/binary>>}
                end)}]).

int64() ->
    proper_types:frequency(
      [{5, let_({proper_types:integer(0, 16#FFFFFFFF), proper_types:integer(0, 16#FFFFFFFF)},
                fun({Hi, Lo}) -> <<I:64/signed>> = <<Hi:32, Lo:32>>, I end)},
       {3, proper_types:integer()},
       {2, proper_types:elements([?INT64_MIN, ?INT64_MAX, ?INT64_MIN + 1, ?INT64_MAX - 1,
                                  0, -1, 1, 255, 256, 1 bsl 31, -(1 bsl 31), 1 bsl 32])}]).

float64() ->
    proper_types:frequency(
      [{4, let_({proper_types:integer(0, 16#FFFFFFFF), proper_types:integer(0, 16#FFFFFFFF)},
                fun({Hi, Lo}) ->
                        %% every bit pattern but NaN and the infinities
                        case <<Hi:32, Lo:32>> of
                            <<F:64/float>> -> F;
                            _ -> 1.5
                        end
                end)},
       {3, proper_types:float()},
       {1, proper_types:elements([-0.0, 0.0, 5.0e-324, -1.7976931348623157e308])}]).

%% Out of int64, on either side, near and far.
bad_int() ->
    proper_types:oneof(
      [let_(proper_types:non_neg_integer(), fun(N) -> ?INT64_MAX + 1 + N end),
       let_(proper_types:non_neg_integer(), fun(N) -> ?INT64_MIN - 1 - N end),
       let_(proper_types:integer(64, 1000), fun(E) -> 1 bsl E end),
       let_(proper_types:integer(64, 1000), fun(E) -> -(1 bsl E) end)]).

%% Atom or non-empty binary names, ASCII and not.
name_key() ->
    let_({ident(), proper_types:elements([atom, binary, prefixed])},
         fun({Name, atom}) -> list_to_atom(Name);
            ({Name, binary}) -> unicode:characters_to_binary(Name);
            ({Name, prefixed}) -> unicode:characters_to_binary([$: | Name])
         end).

ident() ->
    Chars = "abcXYZ_019" ++ [233, 252, 16#4E2D, 16#1F600],
    let_({proper_types:elements(Chars), proper_types:list(proper_types:elements(Chars))},
         fun({H, T}) -> [H | lists:sublist(T, 10)] end).

ref() ->
    proper_types:frequency(
      [{3, proper_types:integer(1, 255)},
       {1, proper_types:elements([1, 255, 256, 257, 65535, 65536, 1 bsl 27, (1 bsl 27) - 1,
                                  ?REF_MAX - 1, ?REF_MAX])},
       {4, proper_types:integer(1, ?REF_MAX)}]).

command() ->
    proper_types:oneof(
      [proper_types:elements([open, close, ping, query, execute, batch, execute_many,
                              execute_script, prepare, stmt_query, stmt_execute, finalize,
                              cursor_open, cursor_fetch, cursor_close, info, stats,
                              set_busy_timeout, limit, backup, reset, 'é', '日本']),
       proper_types:atom()]).

let_(Gen, Fun) ->
    proper_types:bind(Gen, Fun, false).

%% ---- helpers ---------------------------------------------------------------

bad_param(Which, Why) ->
    {error, #{code => bad_argument, parameter => Which,
              message => <<"parameter ", Which/binary, ": ", Why/binary>>}}.

unsupported(Printed) ->
    iolist_to_binary(["unsupported value ", Printed, ?USE]).

strip(<<131, Rest/binary>>) -> Rest.

%% term_to_binary(Tuple), with the ref (the first element) as INTEGER_EXT.
expected_frame(Tuple) ->
    case term_to_binary(Tuple) of
        <<131, 104, A, 97, Ref, Rest/binary>> -> <<131, 104, A, 98, Ref:32, Rest/binary>>;
        <<131, 104, _, 98, _/binary>> = B -> B
    end.

%% encode_body + frame for a request, checked against term_to_binary.
check_frame(Ref, Cmd, Args) ->
    Tuple = list_to_tuple([Ref, Cmd | Args]),
    {Arity, Body} = libsql_proto:encode_body(Cmd, Args),
    ?assertEqual(tuple_size(Tuple), Arity, {Ref, Cmd}),
    Bin = iolist_to_binary(libsql_proto:frame(Ref, Arity, Body)),
    case Ref >= 256 of
        true -> ?assertEqual(term_to_binary(Tuple), Bin, {Ref, Cmd});
        false -> ?assertEqual(expected_frame(Tuple), Bin, {Ref, Cmd})
    end,
    ?assertEqual(<<131, 104, Arity, 98, Ref:32>>, binary:part(Bin, 0, 8), {Ref, Cmd}),
    ?assertEqual(canon(Tuple), canon(binary_to_term(Bin)), {Ref, Cmd}),
    ok.

%% A reply frame as the port writes it (port/term.c, term_reply_begin): the
%% version, SMALL_TUPLE_EXT of arity 3, the ref as a 4-byte INTEGER_EXT, the
%% tag as ei_x_encode_atom writes it (SMALL_ATOM_UTF8_EXT), then the result.
port_frame(Ref, Tag, Result) ->
    TagBin = atom_to_binary(Tag, utf8),
    <<131, 104, 3, 98, Ref:32, 119, (byte_size(TagBin)), TagBin/binary,
      (strip(term_to_binary(Result)))/binary>>.

is_wire(null) -> true;
is_wire(I) when is_integer(I) -> I >= ?INT64_MIN andalso I =< ?INT64_MAX;
is_wire(F) when is_float(F) -> true;
is_wire(B) when is_binary(B) -> true;
is_wire({blob, B}) -> is_binary(B);
is_wire(infinity) -> true;
is_wire(neg_infinity) -> true;
is_wire(_) -> false.

%% the values params/1 passes on without looking further
is_fast_wire(infinity) -> false;
is_fast_wire(neg_infinity) -> false;
is_fast_wire(V) -> is_wire(V).

name_bin(K) when is_atom(K) -> atom_to_binary(K, utf8);
name_bin(K) when is_binary(K) -> K.

%% The last entry of each key wins, as in maps:from_list/1; Entries reversed.
dedupe_keys(Entries) -> dedupe_keys(Entries, #{}).

dedupe_keys([], _) -> [];
dedupe_keys([{K, _} = E | Rest], Seen) ->
    case maps:is_key(K, Seen) of
        true -> dedupe_keys(Rest, Seen);
        false -> [E | dedupe_keys(Rest, Seen#{K => true})]
    end.

sort_pairs(Pairs) ->
    lists:sort([{Name, term_to_binary(V)} || {Name, V} <- Pairs]).

numtests() ->
    case os:getenv("LIBSQL_PROPER_NUMTESTS") of
        false -> ?DEFAULT_NUMTESTS;
        "" -> ?DEFAULT_NUMTESTS;
        S -> list_to_integer(S)
    end.

run(Name, Prop) ->
    N = numtests(),
    {Micros, Result} =
        timer:tc(fun() ->
                         proper:quickcheck(Prop, [{numtests, N}, {to_file, user}, long_result])
                 end),
    ct:log("~p: ~b tests in ~b ms: ~p", [Name, N, Micros div 1000, Result]),
    case Result of
        true -> ok;
        Other -> ct:fail({property_failed, Name, Other})
    end.

check(true, _Input, _Got) ->
    true;
check(false, Input, Got) ->
    io:format(user, "~ninput: ~0P~ngot:   ~0P~n", [Input, 40, Got, 40]),
    false.

%% ---- the constants of libsql_protocol.hrl and protocol.h ------------------------

%% The project root: the first directory above the libsql beam holding both
%% erl/libsql_protocol.hrl and port/protocol.h.
project_root() ->
    case code:which(libsql) of
        Beam when is_list(Beam) -> walk_up(filename:dirname(filename:absname(Beam)));
        Other -> ct:fail({libsql_not_found, Other})
    end.

walk_up(Dir) ->
    case filelib:is_regular(filename:join(Dir, "erl/libsql_protocol.hrl"))
        andalso filelib:is_regular(filename:join(Dir, "port/protocol.h")) of
        true -> Dir;
        false ->
            case filename:dirname(Dir) of
                Dir -> ct:fail({project_root_not_found, code:which(libsql)});
                Up -> walk_up(Up)
            end
    end.

%% {HrlConstants, CConstants}: #{Name => Value} of every LSQ_ macro.
constants(Config) ->
    Root = ?config(root, Config),
    {hrl_defines(filename:join(Root, "erl/libsql_protocol.hrl")),
     c_defines(filename:join(Root, "port/protocol.h"))}.

exit_defines(Defines) ->
    maps:filter(fun(Name, _) -> lists:prefix("LSQ_EXIT_", atom_to_list(Name)) end, Defines).

%% -define(LSQ_NAME, Value). ; a value that is a comma-separated sequence
%% (LSQ_REPLY_HEAD) is read as a list.
hrl_defines(File) ->
    {ok, Text0} = file:read_file(File),
    Text = re:replace(Text0, "%[^\n]*", "", [global, {return, binary}]),
    {match, Defs} = re:run(Text, "-define\\(\\s*(LSQ_[A-Z0-9_]+)\\s*,(.*?)\\)\\s*\\.",
                           [global, dotall, {capture, all_but_first, binary}]),
    maps:from_list(
      [{binary_to_atom(Name, utf8),
        case eval(["[", Value, "]"], File) of
            [One] -> One;
            Many -> Many
        end} || [Name, Value] <- Defs]).

%% #define LSQ_NAME Value ; C integer literals and arithmetic (hex, u/l
%% suffixes, parentheses, * + -). The include guard (no value) is skipped.
c_defines(File) ->
    {ok, Text0} = file:read_file(File),
    Text1 = re:replace(Text0, "/\\*.*?\\*/", " ", [global, dotall, {return, binary}]),
    Text = re:replace(Text1, "//[^\n]*", "", [global, {return, binary}]),
    {match, Defs} = re:run(Text, "^[ \t]*#[ \t]*define[ \t]+(LSQ_[A-Z0-9_]+)[ \t]+([^\n]*\\S)",
                           [global, multiline, {capture, all_but_first, binary}]),
    maps:from_list([{binary_to_atom(Name, utf8), eval(c_to_erlang(Value), File)}
                    || [Name, Value] <- Defs]).

c_to_erlang(Value) ->
    Hex = re:replace(Value, "\\b0[xX]([0-9a-fA-F]+)", "16#\\1", [global, {return, binary}]),
    re:replace(Hex, "\\b(16#[0-9a-fA-F]+|[0-9]+)[uUlL]+\\b", "\\1", [global, {return, binary}]).

eval(Expr, File) ->
    Text = unicode:characters_to_list([Expr, "."]),
    try
        {ok, Tokens, _} = erl_scan:string(Text),
        {ok, Exprs} = erl_parse:parse_exprs(Tokens),
        {value, V, _} = erl_eval:exprs(Exprs, erl_eval:new_bindings()),
        V
    catch
        C:R -> ct:fail({cannot_evaluate, File, Text, {C, R}})
    end.
