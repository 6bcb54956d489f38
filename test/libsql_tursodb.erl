%% Test utility (not a suite): runs a real `tursodb --sync-server` (npm
%% @tursodatabase/cli-linux-x64-gnu 0.7.0, fetched by test/setup_remote.sh)
%% on a free loopback port, and talks raw Hrana 2 JSON to it so tests can
%% check server state without going through the client under test.
%%
%% The OS process runs under a tiny sh wrapper that reads the port's stdin
%% and SIGKILLs tursodb on EOF: when the owning Erlang process, or the whole
%% VM, dies, the port closes and no tursodb is left behind.
-module(libsql_tursodb).

-export([start/1, stop/1, restart/1, pipeline/2, sql/2, sql/3, tursodb_path/0, repo_root/0]).

-export_type([info/0]).

-type info() :: #{url := binary(), port := inet:port_number(), os_pid := integer(),
                  db := file:filename(), owner := pid()}.

-define(START_TIMEOUT_MS, 20000).
-define(HTTP_TIMEOUT_MS, 30000).

%% The wrapper: $1 tursodb, $2 host:port, $3 db file, $4 log file. It prints
%% the child's pid first so stop/1 can kill and reap-check the real server.
-define(WRAPPER,
        "\"$1\" --experimental-vacuum --sync-server \"$2\" \"$3\" </dev/null >>\"$4\" 2>&1 &\n"
        "child=$!\n"
        "echo \"$child\"\n"
        "cat >/dev/null\n"
        "kill -9 \"$child\" 2>/dev/null\n"
        "wait \"$child\" 2>/dev/null\n").

%%--------------------------------------------------------------------
%% Server lifecycle

%% @doc Starts tursodb on a fresh database `tursodb.db` in a new directory
%% under PrivDir. The server lives until stop/1 or until the VM exits; it is
%% owned by a process of its own, so the caller (e.g. init_per_suite) may
%% exit without stopping it.
-spec start(file:filename()) -> {ok, info()} | {error, term()}.
start(PrivDir) ->
    case tursodb_path() of
        {ok, Exe} -> start_exe(Exe, PrivDir);
        Error -> Error
    end.

start_exe(Exe, PrivDir) ->
    Dir = filename:join(PrivDir, "tursodb-" ++ integer_to_list(erlang:unique_integer([positive]))),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    start_at(Exe, filename:join(Dir, "tursodb.db"), libsql_test_util:free_port()).

%% @doc Kills the server (SIGKILL) and starts it again on the same port
%% and database file: what a client sees as a server restart.
-spec restart(info()) -> {ok, info()} | {error, term()}.
restart(#{db := Db, port := Port} = Info) ->
    ok = stop(Info),
    {ok, Exe} = tursodb_path(),
    start_at(Exe, Db, Port).

start_at(Exe, Db, Port) ->
    {ok, _} = application:ensure_all_started(inets),
    Dir = filename:dirname(Db),
    Caller = self(),
    Owner = spawn(fun() -> owner_init(Caller, Exe, Port, Db, filename:join(Dir, "tursodb.log")) end),
    MRef = erlang:monitor(process, Owner),
    receive
        {Owner, {ok, OsPid}} ->
            erlang:demonitor(MRef, [flush]),
            Url = iolist_to_binary(["http://127.0.0.1:", integer_to_list(Port)]),
            Info = #{url => Url, port => Port, os_pid => OsPid, db => Db, owner => Owner},
            await_ready(Info);
        {'DOWN', MRef, process, Owner, Reason} ->
            {error, {tursodb_start_failed, Reason}}
    after ?START_TIMEOUT_MS ->
            exit(Owner, kill),
            {error, tursodb_start_timeout}
    end.

%% @doc Kills the server with SIGKILL and returns once the OS process is gone.
-spec stop(info()) -> ok.
stop(#{os_pid := OsPid, owner := Owner}) ->
    _ = os:cmd("kill -9 " ++ integer_to_list(OsPid) ++ " 2>/dev/null"),
    MRef = erlang:monitor(process, Owner),
    Owner ! stop,
    receive {'DOWN', MRef, process, Owner, _} -> ok after 5000 -> exit(Owner, kill) end,
    _ = libsql_test_util:wait_gone(OsPid, 5000),
    ok.

owner_init(Caller, Exe, Port, Db, Log) ->
    Addr = "127.0.0.1:" ++ integer_to_list(Port),
    P = open_port({spawn_executable, "/bin/sh"},
                  [{args, ["-c", ?WRAPPER, "sh", Exe, Addr, Db, Log]},
                   {line, 64}, binary, exit_status, use_stdio]),
    receive
        {P, {data, {eol, PidLine}}} ->
            Caller ! {self(), {ok, binary_to_integer(PidLine)}},
            owner_loop(P);
        {P, {exit_status, Status}} ->
            exit({wrapper_exited, Status})
    after 10000 ->
            exit(wrapper_silent)
    end.

%% Holds the port; closing it (stop, or this process dying) is what makes
%% the wrapper kill tursodb.
owner_loop(P) ->
    receive
        stop -> catch port_close(P), ok;
        {P, {exit_status, _}} -> ok;
        {P, _} -> owner_loop(P)
    end.


%% tursodb binds a moment after exec; poll with a real SQL request.
await_ready(Info) ->
    Deadline = erlang:monotonic_time(millisecond) + ?START_TIMEOUT_MS,
    await_ready(Info, Deadline).

await_ready(#{url := Url} = Info, Deadline) ->
    case catch sql(Url, <<"SELECT 1">>) of
        {ok, [[1]]} ->
            {ok, Info};
        Other ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> stop(Info), {error, {tursodb_not_ready, Other}};
                false -> timer:sleep(50), await_ready(Info, Deadline)
            end
    end.

%%--------------------------------------------------------------------
%% Locating the binary

%% @doc Runs test/setup_remote.sh (quick when the cache is filled) and
%% returns the tursodb path it prints.
-spec tursodb_path() -> {ok, file:filename()} | {error, term()}.
tursodb_path() ->
    case repo_root() of
        {ok, Root} ->
            Script = filename:join([Root, "test", "setup_remote.sh"]),
            run_setup(Script);
        Error ->
            Error
    end.

run_setup(Script) ->
    %% Through bash explicitly: a copied test dir may lose the exec bit.
    P = open_port({spawn_executable, os:find_executable("bash")},
                  [{args, [Script]}, binary, exit_status, use_stdio, stream, stderr_to_stdout]),
    case collect(P, []) of
        {0, Out} ->
            Path = lists:last(string:lexemes(binary_to_list(Out), "\n")),
            {ok, Path};
        {Status, Out} ->
            {error, {setup_remote_failed, Status, Out}}
    end.

collect(P, Acc) ->
    receive
        {P, {data, D}} -> collect(P, [D | Acc]);
        {P, {exit_status, S}} -> {S, iolist_to_binary(lists:reverse(Acc))}
    end.

%% @doc The repository root: $LIBSQL_ROOT, else the first directory above this
%% module's beam that has rebar.config and test/setup_remote.sh. rebar3 ct
%% compiles into _build/test/lib/libsql/test, a copy without rebar.config,
%% so the walk goes past it up to the checkout.
-spec repo_root() -> {ok, file:filename()} | {error, term()}.
repo_root() ->
    case os:getenv("LIBSQL_ROOT") of
        Root when is_list(Root), Root =/= "" -> {ok, Root};
        _ -> walk_up(filename:dirname(filename:absname(code:which(?MODULE))))
    end.

walk_up(Dir) ->
    case filelib:is_regular(filename:join(Dir, "rebar.config"))
        andalso filelib:is_regular(filename:join([Dir, "test", "setup_remote.sh"])) of
        true ->
            {ok, Dir};
        false ->
            case filename:dirname(Dir) of
                Dir -> {error, {repo_root_not_found, code:which(?MODULE)}};
                Parent -> walk_up(Parent)
            end
    end.

%%--------------------------------------------------------------------
%% Raw Hrana 2 access

%% @doc POSTs a raw JSON body to Url/v2/pipeline and returns the HTTP status
%% and body as they came. Url is the server's base URL (no path).
-spec pipeline(binary() | string(), iodata()) -> {ok, integer(), binary()} | {error, term()}.
pipeline(Url, Json) ->
    Target = unicode:characters_to_list([Url, "/v2/pipeline"]),
    %% tursodb closes every connection; saying so up front stops httpc from
    %% trying to reuse one it is about to lose.
    Req = {Target, [{"connection", "close"}], "application/json", iolist_to_binary(Json)},
    case httpc:request(post, Req, [{timeout, ?HTTP_TIMEOUT_MS}], [{body_format, binary}]) of
        {ok, {{_, Status, _}, _Headers, Body}} -> {ok, Status, Body};
        {error, _} = Error -> Error
    end.

%% @doc Runs one statement and returns its rows with values decoded:
%% integer(), float(), binary() (text), {blob, binary()}, null, or
%% `inf' for a float the server sent as null.
-spec sql(binary() | string(), iodata()) -> {ok, [[term()]]} | {error, term()}.
sql(Url, Sql) ->
    sql(Url, Sql, []).

%% @doc As sql/2 with positional arguments: integer(), float(), binary()
%% (text), {blob, binary()} or null.
-spec sql(binary() | string(), iodata(), [term()]) -> {ok, [[term()]]} | {error, term()}.
sql(Url, Sql, Args) ->
    Stmt = #{sql => iolist_to_binary(Sql), args => [encode_value(A) || A <- Args]},
    Body = libsql_test_json:encode(#{baton => null, requests => [#{type => execute, stmt => Stmt}]}),
    case pipeline(Url, Body) of
        {ok, 200, Resp} -> rows(libsql_test_json:decode(Resp));
        {ok, Status, Resp} -> {error, {http, Status, Resp}};
        {error, _} = Error -> Error
    end.

rows({ok, #{<<"results">> := [#{<<"type">> := <<"ok">>, <<"response">> := R}]}}) ->
    #{<<"result">> := #{<<"rows">> := Rows}} = R,
    {ok, [[decode_value(V) || V <- Row] || Row <- Rows]};
rows({ok, #{<<"results">> := [#{<<"type">> := <<"error">>, <<"error">> := E}]}}) ->
    {error, E};
rows(Other) ->
    {error, {bad_response, Other}}.

decode_value(#{<<"type">> := <<"null">>}) -> null;
decode_value(#{<<"type">> := <<"integer">>, <<"value">> := V}) -> binary_to_integer(V);
decode_value(#{<<"type">> := <<"float">>, <<"value">> := null}) -> inf;
decode_value(#{<<"type">> := <<"float">>, <<"value">> := V}) -> float(V);
decode_value(#{<<"type">> := <<"text">>, <<"value">> := V}) -> V;
decode_value(#{<<"type">> := <<"blob">>, <<"base64">> := B}) -> {blob, base64_decode(B)}.

encode_value(null) -> #{type => null};
encode_value(I) when is_integer(I) -> #{type => integer, value => integer_to_binary(I)};
encode_value(F) when is_float(F) -> #{type => float, value => F};
encode_value(B) when is_binary(B) -> #{type => text, value => B};
encode_value({blob, B}) -> #{type => blob, base64 => base64:encode(B)}.

%% Servers send base64 without padding, which OTP 25's decoder rejects.
base64_decode(B) ->
    Pad = case byte_size(B) rem 4 of 0 -> <<>>; 2 -> <<"==">>; 3 -> <<"=">> end,
    base64:decode(<<B/binary, Pad/binary>>).
