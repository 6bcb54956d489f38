#!/usr/bin/env escript
%% -*- erlang -*-
%%
%% backup_busy_gives_up.erl - reproducer (two ports, one file): `backup`
%% into a destination another connection holds locked for 300 ms, with
%% busy_timeout 5000. Expected: the backup waits for the lock and answers
%% ok at ~300 ms. Since d6d1639 it answers {error, busy} after ~10 ms.
%%
%%   escript test/fuzz_corpus/crashes/backup_busy_gives_up.erl priv/libsql_port
-mode(compile).

main([Port]) ->
    Dir = "/tmp/libsql_backup_busy." ++ os:getpid(),
    ok = file:make_dir(Dir),
    Dest = list_to_binary(Dir ++ "/dest.db"),
    Open = fun() -> open_port({spawn_executable, Port}, [{packet, 4}, binary, exit_status]) end,
    Call = fun(P, T) ->
                   port_command(P, term_to_binary(T)),
                   receive {P, {data, R}} -> binary_to_term(R) after 30000 -> timeout end
           end,
    A = Open(),
    B = Open(),
    {1, ok, _} = Call(A, {1, open, [{path, <<":memory:">>}, {busy_timeout, 5000}]}),
    {2, ok, _} = Call(A, {2, execute, <<"CREATE TABLE t(x)">>, []}),
    {1, ok, _} = Call(B, {1, open, [{path, Dest}]}),
    {2, ok, _} = Call(B, {2, execute, <<"CREATE TABLE d(y)">>, []}),
    {3, ok, _} = Call(B, {3, execute, <<"BEGIN IMMEDIATE">>, []}),
    T0 = erlang:monotonic_time(millisecond),
    port_command(A, term_to_binary({3, backup, Dest})),
    Result =
        receive
            {A, {data, R0}} -> {erlang:monotonic_time(millisecond) - T0, binary_to_term(R0)}
        after 300 ->
                {4, ok, _} = Call(B, {4, execute, <<"COMMIT">>, []}),
                receive
                    {A, {data, R}} -> {erlang:monotonic_time(millisecond) - T0, binary_to_term(R)}
                after 10000 -> {10000, timeout}
                end
        end,
    _ = [file:delete(F) || F <- filelib:wildcard(Dir ++ "/*")],
    ok = file:del_dir(Dir),
    case Result of
        {Ms, {3, ok, ok}} -> io:format("ok: backup waited for the lock (~b ms)~n", [Ms]);
        {Ms, Other} -> io:format("BUG: after ~b ms, lock held until 300 ms: ~p~n", [Ms, Other]), halt(1)
    end.
