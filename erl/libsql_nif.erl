%% @private
%% @doc The `transport => nif' lane of a connection (port/nif/libsql_nif.c).
%%
%% The port program stays a separate OS process started as an Erlang port
%% (the VM reaps it and reports its exit status). Started with
%% `--nif-pipes', it moves its frames onto two pipes of its own; this NIF
%% holds our ends of them. The connection process (the owner) writes its
%% requests with send/2 and gets every frame as `{Res, {data, Bin}}' (what
%% a port sends, the handle in its place) after a `{select, Res, undefined,
%% ready_input}' and pump/1, while it wants them (want/2). A caller may
%% instead take the lane (call/4): it writes its own request and polls for
%% the answer on its own scheduler for up to spin_us (at most 1 ms a
%% call), then sleeps on a select of its own; the owner gets every other
%% frame read meanwhile. The lane is refused (`busy') while the owner has
%% something in flight or forbids it (set_lane/2): callbacks into Erlang
%% and subscribers go through the connection process.
-module(libsql_nif).

-export([attach/3, send/2, want/2, set_lane/2, pump/1, lane_release/1, close/1, stats/1,
         call/4, lane_pump/1, lane_abandon/1]).

-on_load(init/0).

-export_type([handle/0]).

-type handle() :: reference().
%% A connection's pipes (a NIF resource).

-define(NOT_LOADED, erlang:nif_error({not_loaded, ?MODULE})).

%% LIBSQL_NIF_SO (a path without .so) loads another build, as
%% LIBSQL_PORT_EXECUTABLE runs another port program: the tests' ASan one.
init() ->
    Path = case os:getenv("LIBSQL_NIF_SO") of
               false ->
                   Dir = case code:priv_dir(libsql) of
                             {error, _} ->
                                 filename:join(filename:dirname(filename:dirname(
                                                                  code:which(?MODULE))), "priv");
                             D -> D
                         end,
                   filename:join(Dir, "libsql_nif");
               P -> P
           end,
    case erlang:load_nif(Path, 0) of
        ok -> ok;
        %% Loading must not fail the module: the port transport works
        %% without the NIF, and open/1 says why `transport => nif' cannot.
        {error, _} -> ok
    end.

%% @doc Open the program's pipes (from /proc/OsPid/fd); the caller owns them.
-spec attach(integer(), integer(), integer()) -> {ok, handle()} | {error, term()}.
attach(_OsPid, _ReqFd, _RespFd) -> ?NOT_LOADED.

%% @doc Write one whole frame (without its length) to the program.
-spec send(handle(), iodata()) -> ok | {error, closed | enomem}.
send(_Res, _Frame) -> ?NOT_LOADED.

%% @doc Whether the owner waits for frames (it has requests in flight or
%% subscribers).
-spec want(handle(), boolean()) -> ok.
want(_Res, _Bool) -> ?NOT_LOADED.

%% @doc Whether callers may take the lane.
-spec set_lane(handle(), boolean()) -> ok.
set_lane(_Res, _Bool) -> ?NOT_LOADED.

%% @doc The owner's select fired: read and deliver what is there.
-spec pump(handle()) -> ok | eof.
pump(_Res) -> ?NOT_LOADED.

%% @doc After `{lane_down, Ref}': the owner reads again.
-spec lane_release(handle()) -> ok.
lane_release(_Res) -> ?NOT_LOADED.

%% @doc Close both pipes: the program ends.
-spec close(handle()) -> ok.
close(_Res) -> ?NOT_LOADED.

%% @doc Lane requests: how many are in the program now (0 or 1) and the
%% time they spent there, in nanoseconds, summed.
-spec stats(handle()) -> {0 | 1, non_neg_integer()}.
stats(_Res) -> ?NOT_LOADED.

%% @doc Send {Ref, Body...} (Arity elements, Body from
%% libsql_proto:encode_body/2) as the lane and spin up to SpinUs for the
%% answer.
-spec call(handle(), pos_integer(), iodata(), non_neg_integer()) ->
          {reply, binary()} | {wait, pos_integer(), reference()} | busy | closed |
          {closed, pos_integer()}.
call(_Res, _Arity, _Body, _SpinUs) -> ?NOT_LOADED.

%% @doc The sleeping lane caller's select fired.
-spec lane_pump(handle()) ->
          {reply, binary()} | {wait, pos_integer(), reference()} | {closed, pos_integer()} |
          closed.
lane_pump(_Res) -> ?NOT_LOADED.

%% @doc The lane caller gives up: the owner reads again and must cancel
%% Ref; `pending': a select message may still come.
-spec lane_abandon(handle()) -> {pos_integer(), pending | clear}.
lane_abandon(_Res) -> ?NOT_LOADED.
