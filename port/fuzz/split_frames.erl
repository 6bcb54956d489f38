#!/usr/bin/env escript
%% -*- erlang -*-
%%
%% split_frames.erl - split a {packet,4} stream into one file per frame body.
%%
%%   escript port/fuzz/split_frames.erl FILE OUTDIR
%%
%% FILE is what fuzz_request leaves in $FUZZ_HISTORY_DIR after a crash
%% (request-PID.frames: the requests run since the port was last started
%% afresh, oldest first). OUTDIR gets 000001, 000002, ...; replay them in
%% order on one port with
%%
%%   build/fuzz/fuzz_request OUTDIR/*
%%
%% (the same FILE can also be fed to the real port: priv/libsql_port < FILE).
-mode(compile).

main([File, Out]) ->
    {ok, Bin} = file:read_file(File),
    ok = filelib:ensure_dir(filename:join(Out, "x")),
    N = split(Bin, Out, 1),
    io:format("~b frames written to ~s~n", [N - 1, Out]);
main(_) ->
    io:format(standard_error, "usage: split_frames.erl FILE OUTDIR~n", []),
    halt(1).

split(<<Len:32, Body:Len/binary, Rest/binary>>, Out, N) ->
    Name = filename:join(Out, io_lib:format("~6..0b", [N])),
    ok = file:write_file(Name, Body),
    split(Rest, Out, N + 1);
split(<<>>, _Out, N) ->
    N;
split(Rest, _Out, N) ->
    io:format(standard_error, "ignoring ~b trailing bytes (a frame cut off)~n", [byte_size(Rest)]),
    N.
