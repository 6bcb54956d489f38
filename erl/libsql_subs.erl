%% @private
%% @doc Subscriptions to a connection's events (libsql:subscribe/2): the
%% subscribers a connection process keeps in its state, and a registry
%% (an ETS table of the application's supervisor) from each subscription's
%% reference to its owner (the connection, or the pool that subscribed on
%% every worker with that reference), so that libsql:unsubscribe/1 needs
%% nothing but the reference.
%%
%% A subscriber is monitored: one that exits is dropped. The connection's
%% end drops all of its subscriptions.
-module(libsql_subs).

-export([create_registry/0, add/3, add/4, own/1, disown/1, remove/2, down/2, notify/3,
         remove_all/1, lookup/1, of_kind/2, kinds/1]).

-export_type([subs/0, kind/0]).

-define(REGISTRY, libsql_subscriptions).

-type kind() :: sync | updates | commits.
-type subs() :: #{reference() => {kind(), pid(), reference()}}.

%% @doc Create the registry (libsql_sup, once).
-spec create_registry() -> ok.
create_registry() ->
    _ = ets:new(?REGISTRY, [named_table, public, set]),
    ok.

%% @doc Subscribe Pid to Kind events of the calling connection process.
-spec add(kind(), pid(), subs()) -> {reference(), subs()}.
add(Kind, Pid, Subs) ->
    Ref = make_ref(),
    own(Ref),
    {Ref, add(Ref, Kind, Pid, Subs)}.

%% @doc Subscribe Pid under a reference another process (a pool) made and
%% registered: nothing goes into the registry.
-spec add(reference(), kind(), pid(), subs()) -> subs().
add(Ref, Kind, Pid, Subs) ->
    Mon = erlang:monitor(process, Pid),
    Subs#{Ref => {Kind, Pid, Mon}}.

%% @doc Make the calling process the owner of subscription Ref.
-spec own(reference()) -> ok.
own(Ref) ->
    true = ets:insert(?REGISTRY, {Ref, self()}),
    ok.

%% @doc Drop the registry entry of Ref, if the calling process owns it.
-spec disown(reference()) -> ok.
disown(Ref) ->
    true = ets:delete_object(?REGISTRY, {Ref, self()}),
    ok.

%% @doc Drop the subscription Ref (no-op when unknown).
-spec remove(reference(), subs()) -> subs().
remove(Ref, Subs) ->
    case maps:take(Ref, Subs) of
        {{_, _, Mon}, Rest} ->
            erlang:demonitor(Mon, [flush]),
            disown(Ref),
            Rest;
        error ->
            Subs
    end.

%% @doc A monitored process went down: `{true, Subs}' without its
%% subscriptions when it was a subscriber, else `false'.
-spec down(reference(), subs()) -> {true, subs()} | false.
down(Mon, Subs) ->
    case [Ref || {Ref, {_, _, M}} <- maps:to_list(Subs), M =:= Mon] of
        [] -> false;
        Refs ->
            [disown(R) || R <- Refs],
            {true, maps:without(Refs, Subs)}
    end.

%% @doc Send Msg(Ref) to every subscriber of Kind.
-spec notify(kind(), fun((reference()) -> term()), subs()) -> ok.
notify(Kind, Msg, Subs) ->
    maps:foreach(fun(Ref, {K, Pid, _}) when K =:= Kind -> Pid ! Msg(Ref);
                    (_, _) -> ok
                 end, Subs).

%% @doc The subscribers of Kind, as {Ref, Pid}: for sending many events
%% without walking the map for each.
-spec of_kind(kind(), subs()) -> [{reference(), pid()}].
of_kind(Kind, Subs) ->
    [{Ref, Pid} || {Ref, {K, Pid, _}} <- maps:to_list(Subs), K =:= Kind].

%% @doc The kinds that have at least one subscriber.
-spec kinds(subs()) -> [kind()].
kinds(Subs) ->
    lists:usort([K || {K, _, _} <- maps:values(Subs)]).

%% @doc The connection ends: forget every subscription.
-spec remove_all(subs()) -> ok.
remove_all(Subs) ->
    maps:foreach(fun(Ref, _) -> disown(Ref) end, Subs).

%% @doc The owner of subscription Ref: its connection or pool.
-spec lookup(term()) -> {ok, pid()} | error.
lookup(Ref) when is_reference(Ref) ->
    try ets:lookup(?REGISTRY, Ref) of
        [{_, Conn}] -> {ok, Conn};
        [] -> error
    catch
        error:badarg -> error
    end;
lookup(_) ->
    error.
