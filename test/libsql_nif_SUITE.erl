%% The NIF of transport nif (port/nif/libsql_nif.c) on its own, against a
%% peer that is not the port program: a shell holding two FIFOs, whose
%% `cat's copy what the test writes on its stdin into the answer pipe and
%% what the NIF writes into the request pipe onto its stdout. So the test
%% decides every byte the NIF reads and how the bytes are cut: frames of
%% every size (across the 64 KiB read-ahead, empty, cut anywhere), lane
%% answers among other frames, lengths no program would send, the end of
%% the pipe, callers and owners that die. Run as every suite, and under
%% AddressSanitizer by test/run_all.sh (LIBSQL_NIF_SO names the ASan
%% build).
-module(libsql_nif_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1, init_per_testcase/2, end_per_testcase/2]).
-export([frames_in_order/1, lane_answer_among_others/1, frames_after_lane_answer/1,
         lane_refused/1, lane_sleeps_and_wakes/1,
         lane_abandoned/1, lane_caller_dies/1, absurd_length/1, pipe_end/1, owner_dies/1]).

-type config() :: [{atom(), term()}].

-define(HEAD, 131, 104, 3, 98).

all() ->
    [frames_in_order, lane_answer_among_others, frames_after_lane_answer, lane_refused,
     lane_sleeps_and_wakes,
     lane_abandoned, lane_caller_dies, absurd_length, pipe_end, owner_dies].

-spec init_per_suite(config()) -> config().
init_per_suite(Config) ->
    Script = filename:join(?config(priv_dir, Config), "peer.sh"),
    ok = file:write_file(Script,
                         ["#!/bin/sh\n",
                          "d=\"$1\"; rm -f \"$d/req\" \"$d/resp\"\n",
                          "mkfifo \"$d/req\" \"$d/resp\" || exit 1\n",
                          %% read-write opens: neither blocks waiting for the other side
                          "exec 3<>\"$d/req\" 4<>\"$d/resp\"\n",
                          "cat <&3 4>&- &\n",
                          "echo \"$$ $!\"\n",
                          "exec cat >&4\n"]),
    ok = file:change_mode(Script, 8#755),
    [{script, Script} | Config].

-spec end_per_suite(config()) -> ok.
end_per_suite(_Config) ->
    ok.

-spec init_per_testcase(atom(), config()) -> config().
init_per_testcase(Case, Config) ->
    Dir = filename:join(?config(priv_dir, Config), atom_to_list(Case)),
    ok = filelib:ensure_path(Dir),
    Port = open_port({spawn_executable, ?config(script, Config)},
                     [stream, binary, exit_status, {args, [Dir]}]),
    {Pid, Cat} = receive
                     {Port, {data, Line}} ->
                         [P, C] = string:lexemes(string:trim(Line), " "),
                         {binary_to_integer(P), binary_to_integer(C)}
                 after 5000 -> ct:fail(no_peer)
                 end,
    {ok, Nif} = libsql_nif:attach(Pid, 3, 4),
    [{peer, Port}, {pids, [Pid, Cat]}, {nif, Nif} | Config].

-spec end_per_testcase(atom(), config()) -> ok.
end_per_testcase(_Case, Config) ->
    catch libsql_nif:close(?config(nif, Config)),
    _ = [os:cmd("kill -9 " ++ integer_to_list(P)) || P <- ?config(pids, Config)],
    catch port_close(?config(peer, Config)),
    ok.

%% ---- cases ------------------------------------------------------------------------

%% Frames of every size, cut at random places, reach the owner whole and
%% in order.
-spec frames_in_order(config()) -> ok.
frames_in_order(Config) ->
    Nif = ?config(nif, Config),
    rand:seed(exsss, {17, 4, 2026}),
    Sizes = [0, 1, 3, 4, 5, 65531, 65532, 65536, 65540, 200000, 1048576 + 7] ++
        [rand:uniform(3000) || _ <- lists:seq(1, 300)] ++
        [rand:uniform(150000) || _ <- lists:seq(1, 20)],
    Frames = [crypto:strong_rand_bytes(N) || N <- Sizes],
    ok = libsql_nif:want(Nif, true),
    Stream = iolist_to_binary([[<<(byte_size(F)):32>>, F] || F <- Frames]),
    %% fed by another process: the pipe fills up unless we read meanwhile
    Peer = ?config(peer, Config),
    Seed = rand:export_seed(),
    _ = spawn_link(fun() -> rand:seed(Seed), feed_cut(Peer, Stream) end),
    Got = collect_owner(Nif, length(Frames), 60000),
    ?assertEqual(length(Frames), length(Got)),
    ?assert(Frames =:= Got),
    %% then 20 more streams, each of its own seed: random sizes, random cuts
    lists:foreach(
      fun(Round) ->
              rand:seed(exsss, {Round, 5, 12}),
              Fs = [crypto:strong_rand_bytes(case rand:uniform(3) of
                                                 1 -> rand:uniform(10) - 1;
                                                 2 -> rand:uniform(70000);
                                                 3 -> rand:uniform(200)
                                             end) || _ <- lists:seq(1, 40)],
              St = iolist_to_binary([[<<(byte_size(F)):32>>, F] || F <- Fs]),
              Sd = rand:export_seed(),
              _ = spawn_link(fun() -> rand:seed(Sd), feed_cut(Peer, St) end),
              ?assert(Fs =:= collect_owner(Nif, length(Fs), 60000), Round)
      end, lists:seq(1, 20)),
    ok.

%% The lane's answer is its caller's; the frames before it (an event,
%% another ref's answer) go to the owner, in order.
-spec lane_answer_among_others(config()) -> ok.
lane_answer_among_others(Config) ->
    Nif = ?config(nif, Config),
    Peer = ?config(peer, Config),
    ok = libsql_nif:set_lane(Nif, true),
    {Caller, Ref} = start_lane_call(Nif, Peer),
    Event = <<?HEAD, 0:32, "event">>,
    Other = <<?HEAD, 7:32, "other">>,
    Mine = <<?HEAD, Ref:32, "mine">>,
    feed(Peer, [Event, Other, Mine]),
    ?assertEqual({reply, Mine}, lane_reply(Caller)),
    ?assertEqual([Event, Other], collect_owner(Nif, 2, 5000)),
    ok.

%% Frames that come in the same read as the lane's answer, behind it (the
%% answers to what the owner sent meanwhile), reach the owner when the
%% lane ends: the pipe is empty by then and would never tell it. (They
%% waited for the next byte: a query over transport nif timed out now
%% and then in libsql_api_SUITE's concurrent_queries.)
-spec frames_after_lane_answer(config()) -> ok.
frames_after_lane_answer(Config) ->
    Nif = ?config(nif, Config),
    Peer = ?config(peer, Config),
    ok = libsql_nif:set_lane(Nif, true),
    lists:foreach(
      fun(Round) ->
              {Caller, Ref} = start_lane_call(Nif, Peer),
              %% the owner waits for frames of its own while the lane runs
              ok = libsql_nif:want(Nif, true),
              Mine = <<?HEAD, Ref:32, "mine">>,
              After = [<<?HEAD, 7:32, "after ", (integer_to_binary(I))/binary>> || I <- [1, 2, 3]],
              %% one write, under PIPE_BUF: the lane reads all of it at once
              feed(Peer, [Mine | After]),
              ?assertEqual({reply, Mine}, lane_reply(Caller)),
              ?assertEqual(After, collect_owner(Nif, 3, 2000), Round),
              ok = libsql_nif:want(Nif, false),
              flush_selects(Nif)
      end, lists:seq(1, 5)),
    ok.

%% The lane is refused while the owner reads, while it forbids lanes, and
%% for a frame the pipe could not take at once.
-spec lane_refused(config()) -> ok.
lane_refused(Config) ->
    Nif = ?config(nif, Config),
    {Arity, Body} = libsql_proto:encode_body(ping, []),
    ?assertEqual(busy, libsql_nif:call(Nif, Arity, Body, 0)),        % not allowed yet
    ok = libsql_nif:set_lane(Nif, true),
    ok = libsql_nif:want(Nif, true),
    ?assertEqual(busy, libsql_nif:call(Nif, Arity, Body, 0)),        % the owner reads
    ok = libsql_nif:want(Nif, false),
    Big = binary:copy(<<"x">>, 5000),
    ?assertEqual(busy, libsql_nif:call(Nif, 2, [Body, Big], 0)),     % over PIPE_BUF
    ?assertError(badarg, libsql_nif:call(Nif, 256, Body, 0)),
    ?assertError(badarg, libsql_nif:call(Nif, Arity, Body, -1)),
    ?assertError(badarg, libsql_nif:call(make_ref(), Arity, Body, 0)),
    %% nothing was written by the refused calls: the next one is first
    {wait, Ref, _} = libsql_nif:call(Nif, Arity, Body, 0),
    ?assertEqual(Ref, read_request(?config(peer, Config), Arity)),
    ok.

%% A caller whose answer is slow sleeps on a select and reads it when it
%% comes; meanwhile other callers are refused.
-spec lane_sleeps_and_wakes(config()) -> ok.
lane_sleeps_and_wakes(Config) ->
    Nif = ?config(nif, Config),
    Peer = ?config(peer, Config),
    ok = libsql_nif:set_lane(Nif, true),
    {Arity, Body} = libsql_proto:encode_body(ping, []),
    {wait, Ref, Sel} = libsql_nif:call(Nif, Arity, Body, 0),
    ?assertEqual(Ref, read_request(Peer, Arity)),
    Other = spawn_link(fun() -> exit({other, libsql_nif:call(Nif, Arity, Body, 0)}) end),
    process_flag(trap_exit, true),
    receive {'EXIT', Other, {other, busy}} -> ok after 5000 -> ct:fail(other_not_refused) end,
    %% half a frame, then the rest
    Mine = <<?HEAD, Ref:32, (binary:copy(<<"a">>, 100000))/binary>>,
    <<A:50000/binary, B/binary>> = <<(byte_size(Mine)):32, Mine/binary>>,
    port_command(Peer, A),
    timer:sleep(50),
    port_command(Peer, B),
    ?assertEqual({reply, Mine}, wake(self(), Nif, Sel)),
    %% the lane is free again
    {wait, Ref2, _} = libsql_nif:call(Nif, Arity, Body, 0),
    ?assertEqual(Ref + 1, Ref2),
    ok.

%% A caller that gives up: the owner reads again, and gets the late
%% answer (to drop it by ref).
-spec lane_abandoned(config()) -> ok.
lane_abandoned(Config) ->
    Nif = ?config(nif, Config),
    Peer = ?config(peer, Config),
    ok = libsql_nif:set_lane(Nif, true),
    {Arity, Body} = libsql_proto:encode_body(ping, []),
    {wait, Ref, _} = libsql_nif:call(Nif, Arity, Body, 0),
    Ref = read_request(Peer, Arity),
    ok = libsql_nif:want(Nif, true),                  % the owner has something in flight
    {Ref, _} = libsql_nif:lane_abandon(Nif),
    flush_selects(Nif),
    Late = <<?HEAD, Ref:32, "late">>,
    feed(Peer, [Late]),
    ?assertEqual([Late], collect_owner(Nif, 1, 5000)),
    ?assertError(badarg, libsql_nif:lane_abandon(Nif)),   % not the lane any more
    ok.

%% A caller that dies while it sleeps on the lane: the owner is told which
%% request to cancel and takes the pipe back.
-spec lane_caller_dies(config()) -> ok.
lane_caller_dies(Config) ->
    Nif = ?config(nif, Config),
    Peer = ?config(peer, Config),
    ok = libsql_nif:set_lane(Nif, true),
    {Arity, Body} = libsql_proto:encode_body(ping, []),
    Self = self(),
    Caller = spawn(fun() ->
                           {wait, Ref, _} = libsql_nif:call(Nif, Arity, Body, 0),
                           Self ! {waiting, Ref},
                           receive never -> ok end
                   end),
    Ref = receive {waiting, R} -> R after 5000 -> ct:fail(no_wait) end,
    exit(Caller, kill),
    receive
        {Nif, {lane_down, Ref}} -> ok
    after 5000 -> ct:fail(no_lane_down)
    end,
    ok = libsql_nif:lane_release(Nif),
    ok = libsql_nif:want(Nif, true),
    Late = <<?HEAD, Ref:32, "late">>,
    feed(Peer, [Late]),
    ?assertEqual([Late], collect_owner(Nif, 1, 5000)),
    ok.

%% A length no program sends (over 2^31 - 1): the pipe is given up, as at
%% its end; nothing is allocated for it.
-spec absurd_length(config()) -> ok.
absurd_length(Config) ->
    Nif = ?config(nif, Config),
    ok = libsql_nif:want(Nif, true),
    Ok = <<?HEAD, 1:32>>,
    port_command(?config(peer, Config), [<<(byte_size(Ok)):32>>, Ok, <<16#ffffffff:32, "x">>]),
    ?assertEqual([Ok], collect_owner(Nif, 1, 5000)),
    %% the pump that delivered it met the length and stopped reading
    ?assertEqual(eof, libsql_nif:pump(Nif)),
    ok = libsql_nif:set_lane(Nif, true),
    {Arity, Body} = libsql_proto:encode_body(ping, []),
    ?assertEqual(closed, libsql_nif:call(Nif, Arity, Body, 0)),
    ok.

%% The program ends (both its copies of the answer pipe close): the owner
%% learns it at its next pump, a caller at its next call; writes fail.
-spec pipe_end(config()) -> ok.
pipe_end(Config) ->
    Nif = ?config(nif, Config),
    ok = libsql_nif:want(Nif, true),
    _ = [os:cmd("kill -9 " ++ integer_to_list(P)) || P <- ?config(pids, Config)],
    ?assertEqual(eof, pump_until_eof(Nif, 5000)),
    ok = libsql_nif:set_lane(Nif, true),
    {Arity, Body} = libsql_proto:encode_body(ping, []),
    ?assertEqual(closed, libsql_nif:call(Nif, Arity, Body, 0)),
    ok.

%% The owner dies: its pipes close with it (a program waiting on them would
%% see their end and exit).
-spec owner_dies(config()) -> ok.
owner_dies(Config) ->
    [Pid | _] = ?config(pids, Config),
    Self = self(),
    Owner = spawn(fun() ->
                          {ok, N} = libsql_nif:attach(Pid, 3, 4),
                          ok = libsql_nif:set_lane(N, true),
                          Self ! {nif, N},
                          receive never -> ok end
                  end),
    N = receive {nif, X} -> X after 5000 -> ct:fail(no_owner) end,
    {Arity, Body} = libsql_proto:encode_body(ping, []),
    {wait, _, _} = libsql_nif:call(N, Arity, Body, 0),
    {_, _} = libsql_nif:lane_abandon(N),
    exit(Owner, kill),
    ?assertEqual(closed, wait_closed(N, Arity, Body, 5000)),
    ?assertEqual({error, closed}, libsql_nif:send(N, Body)),
    ok.

%% ---- helpers ----------------------------------------------------------------------

%% Writes the stream in pieces of random sizes (1 byte .. 100 KiB), now and
%% then pausing so that the reader meets every kind of cut.
feed_cut(_Peer, <<>>) ->
    ok;
feed_cut(Peer, Bin) ->
    N = min(byte_size(Bin), case rand:uniform(4) of
                                1 -> rand:uniform(8);
                                2 -> rand:uniform(5000);
                                _ -> rand:uniform(100000)
                            end),
    <<Piece:N/binary, Rest/binary>> = Bin,
    port_command(Peer, Piece),
    rand:uniform(10) =:= 1 andalso timer:sleep(1),
    feed_cut(Peer, Rest).

feed(Peer, Frames) ->
    port_command(Peer, [[<<(byte_size(F)):32>>, F] || F <- Frames]).

%% The owner's side: pump on each select until N frames came.
collect_owner(Nif, N, Ms) ->
    Deadline = erlang:monotonic_time(millisecond) + Ms,
    collect_owner(Nif, N, Deadline, []).

collect_owner(_Nif, 0, _Deadline, Acc) ->
    lists:reverse(Acc);
collect_owner(Nif, N, Deadline, Acc) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {Nif, {data, Bin}} -> collect_owner(Nif, N - 1, Deadline, [Bin | Acc]);
        {select, Nif, undefined, ready_input} ->
            _ = libsql_nif:pump(Nif),
            collect_owner(Nif, N, Deadline, Acc)
    after Left ->
        ct:fail({frames_missing, N, got, length(Acc)})
    end.

pump_until_eof(Nif, Ms) ->
    receive
        {Nif, {data, _}} -> pump_until_eof(Nif, Ms);
        {select, Nif, undefined, ready_input} ->
            case libsql_nif:pump(Nif) of
                eof -> eof;
                ok -> pump_until_eof(Nif, Ms)
            end
    after Ms -> timeout
    end.

%% The request the NIF wrote, as the peer's cat copies it out: its ref.
read_request(Peer, Arity) ->
    read_request(Peer, Arity, <<>>).

read_request(Peer, Arity, Acc) ->
    case Acc of
        <<Len:32, Frame:Len/binary, _/binary>> ->
            <<131, 104, Arity, 98, Ref:32, _/binary>> = Frame,
            Ref;
        _ ->
            receive {Peer, {data, More}} -> read_request(Peer, Arity, <<Acc/binary, More/binary>>)
            after 5000 -> ct:fail({no_request, Acc})
            end
    end.

%% A process making a lane call (a ping) that spins long enough for the
%% answer the test feeds meanwhile, and the ref of its request as the peer
%% saw it. lane_reply/1 is what the call returned.
start_lane_call(Nif, Peer) ->
    {Arity, Body} = libsql_proto:encode_body(ping, []),
    Self = self(),
    Caller = spawn_link(fun() -> Self ! {called, self(), lane_call(Nif, Arity, Body, 1000)} end),
    {Caller, read_request(Peer, Arity)}.

lane_reply(Caller) ->
    receive {called, Caller, R} -> R after 5000 -> ct:fail({no_answer, Caller}) end.

%% A lane call as libsql_conn makes it: the spin, then sleeping on the
%% select until the answer.
lane_call(Nif, Arity, Body, Spin) ->
    case libsql_nif:call(Nif, Arity, Body, Spin) of
        {wait, _, Sel} -> wake(self(), Nif, Sel);
        Other -> Other
    end.

%% The sleeping lane caller's loop (as libsql_conn's); only the caller
%% gets its selects.
wake(Who, Nif, Sel) when Who =:= self() ->
    receive
        {select, Nif, Sel, ready_input} ->
            case libsql_nif:lane_pump(Nif) of
                {wait, _, Sel1} -> wake(Who, Nif, Sel1);
                Other -> Other
            end
    after 5000 -> ct:fail(no_select)
    end.

flush_selects(Nif) ->
    receive {select, Nif, _, _} -> flush_selects(Nif)
    after 0 -> ok
    end.

wait_closed(N, Arity, Body, Ms) when Ms > 0 ->
    case libsql_nif:call(N, Arity, Body, 0) of
        closed -> closed;
        _ -> timer:sleep(10), wait_closed(N, Arity, Body, Ms - 10)
    end;
wait_closed(_, _, _, _) ->
    timeout.
