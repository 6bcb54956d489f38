#!/usr/bin/env escript
%% -*- erlang -*-
%% Makes the EEP-48 doc chunks of the public modules (`make doc-chunks'):
%%   escript doc/make_chunks.escript OutDir Source.erl...
%% writes OutDir/chunks/<module>.chunk, the files h/1,2,3 in the Erlang
%% shell and h in iex read. edoc's chunk doclet also lists every function
%% and type that is not exported, with an empty doc, so the shells would
%% show internals as if they were API: those entries are dropped here.
%% Without edoc (Debian's erlang-edoc) it says so and makes nothing.
main([OutDir | Sources]) when Sources =/= [] ->
    case code:which(edoc) of
        non_existing ->
            io:format("edoc is not installed: no API doc chunks~n");
        _ ->
            Opts = [{doclet, edoc_doclet_chunks}, {layout, edoc_layout_chunks},
                    {dir, OutDir}, {preprocess, true}, {includes, ["include"]}],
            ok = edoc:files(Sources, Opts),
            lists:foreach(fun(Src) -> keep_exported(OutDir, Src) end, Sources)
    end;
main(_) ->
    io:format(standard_error, "usage: make_chunks.escript OutDir Source.erl...~n", []),
    halt(2).

keep_exported(OutDir, Src) ->
    {ok, Forms} = epp:parse_file(Src, [{includes, ["include"]}]),
    [Mod] = [M || {attribute, _, module, M} <- Forms],
    Functions = lists:append([Fs || {attribute, _, export, Fs} <- Forms]),
    Types = lists:append([Ts || {attribute, _, export_type, Ts} <- Forms]),
    Chunk = filename:join([OutDir, "chunks", atom_to_list(Mod) ++ ".chunk"]),
    {ok, Bin} = file:read_file(Chunk),
    {docs_v1, _, _, _, _, _, Docs} = DocsV1 = binary_to_term(Bin),
    Kept = [D || {{Kind, Name, Arity}, _, _, _, _} = D <- Docs,
                 lists:member({Name, Arity}, case Kind of
                                                 function -> Functions;
                                                 type -> Types;
                                                 _ -> [{Name, Arity}]
                                             end)],
    ok = file:write_file(Chunk, term_to_binary(setelement(7, DocsV1, Kept))).
