%% Running a node script from a test: what libsql_sync_check (Turso's
%% sync client) and libsql_crypt_peer (npm libsql) share. stdout comes
%% through the port, stderr goes to a file (read after the exit), a
%% deadline kills node; node is $NODE or `node' on the PATH.
-module(libsql_node).

-export([exe/0, run/4, find_root/2, tmp_file/1]).

%% @doc The node executable, or false.
-spec exe() -> string() | false.
exe() ->
    case os:getenv("NODE") of
        N when is_list(N), N =/= "" -> N;
        _ -> os:find_executable("node")
    end.

%% @doc Run `node Script Args...' until it exits or Timeout ms pass (then
%% it is killed): its exit status, stdout and stderr, or timeout with what
%% it wrote on stderr.
-spec run(string(), file:filename(), [string() | binary()], timeout()) ->
          {ok, integer(), binary(), binary()} | {timeout, binary()}.
run(Node, Script, Args, Timeout) ->
    ErrFile = tmp_file("libsql_node"),
    %% sh only redirects stderr to a file and execs node; the arguments pass
    %% through as positional parameters, so nothing is quoted.
    Port = open_port({spawn_executable, "/bin/sh"},
                     [{args, ["-c", "exec \"$0\" \"$@\" 2>\"$LIBSQL_NODE_ERR\"",
                              Node, Script | Args]},
                      {env, [{"LIBSQL_NODE_ERR", ErrFile}]},
                      binary, exit_status, use_stdio, hide]),
    OsPid = case erlang:port_info(Port, os_pid) of
                {os_pid, P} -> P;
                _ -> undefined
            end,
    Deadline = case Timeout of
                   infinity -> infinity;
                   _ -> erlang:monotonic_time(millisecond) + Timeout
               end,
    Result = collect(Port, OsPid, Deadline, []),
    Err = case file:read_file(ErrFile) of
              {ok, E} -> E;
              _ -> <<>>
          end,
    _ = file:delete(ErrFile),
    case Result of
        {ok, Status, Out} -> {ok, Status, Out, Err};
        timeout -> {timeout, Err}
    end.

collect(Port, OsPid, Deadline, Acc) ->
    Wait = case Deadline of
               infinity -> infinity;
               _ -> max(0, Deadline - erlang:monotonic_time(millisecond))
           end,
    receive
        {Port, {data, D}} -> collect(Port, OsPid, Deadline, [D | Acc]);
        {Port, {exit_status, S}} -> {ok, S, iolist_to_binary(lists:reverse(Acc))}
    after Wait ->
        _ = case OsPid of
                undefined -> ok;
                _ -> os:cmd("kill -9 " ++ integer_to_list(OsPid))
            end,
        catch port_close(Port),
        timeout
    end.

%% @doc The first of Starts, or a directory above one, that holds Script
%% (a path relative to the repository's root).
-spec find_root(file:filename(), [file:filename()]) -> file:filename().
find_root(Script, []) -> error({libsql_root_not_found, Script});
find_root(Script, [Dir | Rest]) ->
    case walk_up(Script, Dir) of
        false -> find_root(Script, Rest);
        Root -> Root
    end.

walk_up(Script, Dir) ->
    case filelib:is_regular(filename:join(Dir, Script)) of
        true -> Dir;
        false ->
            case filename:dirname(Dir) of
                Dir -> false;
                Up -> walk_up(Script, Up)
            end
    end.

%% @doc A fresh file name in $TMPDIR (or /tmp).
-spec tmp_file(string()) -> file:filename().
tmp_file(Prefix) ->
    Tmp = case os:getenv("TMPDIR") of
              T when is_list(T), T =/= "" -> T;
              _ -> "/tmp"
          end,
    filename:join(Tmp, lists:flatten(io_lib:format("~s_~s_~b",
                                                   [Prefix, os:getpid(),
                                                    erlang:unique_integer([positive])]))).
