"""Zab as a finite state machine, small enough to explore exhaustively.

The phases of Junqueira, Reed and Serafini's Zab (DSN 2011) as ZooKeeper runs them (Zab 1.0),
without the election: any server may try to lead any epoch and any server may follow any
leader, since election only makes good choices likely and safety must not depend on it.

- newepoch(L, e): L starts discovery for an epoch above the one it accepted (CEPOCH, which
  only helps the leader pick an epoch followers will take, is left out: any epoch may be
  tried, by any server, even one another server tries too);
- ackepoch(f, L): f accepts L's epoch if it is above the one f accepted, or is that epoch and
  L is the leader f accepted it from (durably); L counts f unless f is ahead of it, by
  (current epoch, last zxid);
- newleader(L): with a quorum that is not ahead, L makes the epoch current;
- ackld(f, L): f takes L's history, persists it (fsync) and acknowledges it: every
  transaction of that history counts as acknowledged by f;
- commit(L): L commits the longest prefix of its history a quorum acknowledged; its first
  commit (its whole history) establishes the epoch;
- propose(L), ack(f, L): broadcast: L appends a transaction, f logs and fsyncs it and acks.

Messages are not modelled one by one: an action reads the state of the server it hears from,
and a server's acknowledgement is recorded in its leader's state when it is given, so that a
leader may act on it later, after the follower has moved on (as a late message would let it).
Loss is an action that never happens; order is any interleaving.

A crash loses what a server had not fsynced. In correct Zab nothing acknowledged is only in
memory, so a crash changes nothing the model keeps (and a crashed leader is one that no longer
acts). The seeded bug `ack_before_persist` acknowledges NEWLEADER before the history is on
disk: the server's disk keeps the old history until it fsyncs (with the next proposal it
logs), and `crash` takes it back there. The seeded bug `any_leader_per_epoch` lets a server
accept the epoch it accepted again from another leader (two leaders can pick one epoch).

Ghost state: every commit (epoch, leader, committed prefix). Invariants: each epoch is
established by one leader; all committed prefixes are prefixes of one history (primary order),
and a later epoch's commits extend every earlier epoch's (a committed transaction survives).
Servers and zxids are small ints and tuples, so states hash alike in every process.
"""

from __future__ import annotations

from itertools import combinations
from typing import NamedTuple

Zxid = tuple[int, int]  # (epoch, counter)
NONE = -1


class Server(NamedTuple):
    accepted: int  # the epoch accepted last (NEWEPOCH)
    accepted_from: int  # the leader it was accepted from (NONE: none yet)
    current: int  # the epoch whose NEWLEADER history this server holds
    history: tuple[Zxid, ...]
    disk: tuple | None  # (current, history) on disk when they differ from memory, else None
    # as the leader of `accepted` (accepted_from is itself):
    backers: frozenset[int]  # followers that accepted the epoch and are not ahead of it
    synced: tuple[int, ...]  # per server, the length of my history it acknowledged (NONE)
    committed: int  # the prefix of my history committed (NONE: epoch not established)


class ZabState(NamedTuple):
    servers: tuple[Server, ...]
    commits: frozenset[tuple[int, int, tuple[Zxid, ...]]]  # ghost: (epoch, leader, prefix)


class ZabModel:
    """Zab for `servers` servers, epochs 1..`max_epoch`, `proposals` transactions an epoch."""

    def __init__(self, servers: int = 3, max_epoch: int = 2, proposals: int = 1,
                 ack_before_persist: bool = False, any_leader_per_epoch: bool = False) -> None:
        self.n = servers
        self.quorum = servers // 2 + 1
        self.max_epoch = max_epoch
        self.proposals = proposals
        self.ack_before_persist = ack_before_persist
        self.any_leader_per_epoch = any_leader_per_epoch

    def initial(self) -> ZabState:
        idle = Server(0, NONE, 0, (), None, frozenset(), (NONE,) * self.n, NONE)
        return ZabState((idle,) * self.n, frozenset())

    def successors(self, state: ZabState) -> list[tuple[str, ZabState]]:
        steps = []
        for s, server in enumerate(state.servers):
            steps += self._newepoch(state, s, server)
            if server.accepted_from == s:  # s leads the epoch it accepted
                steps += self._lead(state, s, server)
            if server.disk is not None:
                current, history = server.disk
                steps.append((f"crash(z{s + 1})", _set(state, s, server._replace(
                    current=current, history=history, disk=None))))
        return steps

    # --- invariants --------------------------------------------------------------------------

    def invariant(self, state: ZabState) -> str | None:
        commits = sorted(state.commits)
        leaders: dict[int, int] = {}
        for epoch, leader, _ in commits:
            if leaders.setdefault(epoch, leader) != leader:
                return f"z{leaders[epoch] + 1} and z{leader + 1} both established epoch {epoch}"
        for (e1, l1, p1), (e2, l2, p2) in combinations(commits, 2):
            if e1 < e2 and p2[:len(p1)] != p1:
                return (f"z{l1 + 1} committed {show(p1)} in epoch {e1}, but z{l2 + 1} "
                        f"established epoch {e2} on {show(p2)}: a committed transaction lost")
            if e1 == e2 and p1 != p2[:len(p1)] and p2 != p1[:len(p2)]:
                return f"epoch {e1} committed both {show(p1)} and {show(p2)}"
        return None

    def committed(self, state: ZabState) -> set[Zxid]:
        return {zxid for _, _, prefix in state.commits for zxid in prefix}

    # --- the steps ---------------------------------------------------------------------------

    def _newepoch(self, state: ZabState, s: int, server: Server) -> list[tuple[str, ZabState]]:
        return [(f"newepoch(z{s + 1}, e{epoch})", _set(state, s, server._replace(
                    accepted=epoch, accepted_from=s, backers=frozenset(),
                    synced=(NONE,) * self.n, committed=NONE)))
                for epoch in range(server.accepted + 1, self.max_epoch + 1)]

    def _lead(self, state: ZabState, leader: int, me: Server) -> list[tuple[str, ZabState]]:
        epoch, steps = me.accepted, []
        for f, follower in enumerate(state.servers):
            if f == leader:
                continue
            if self._may_accept(follower, leader, epoch) and \
                    (follower.accepted, follower.accepted_from) != (epoch, leader):
                steps.append(self._ackepoch(state, f, follower, leader, me))
            if me.current == epoch and (follower.accepted, follower.accepted_from) == \
                    (epoch, leader):
                steps += self._sync(state, f, follower, leader, me)
        if me.current != epoch and len(me.backers) + 1 >= self.quorum:
            steps.append((f"newleader(z{leader + 1}, e{epoch})", _set(state, leader, me._replace(
                current=epoch, disk=None))))  # the leader fsyncs its history and epoch
        if me.current == epoch:
            steps += self._broadcast(state, leader, me)
        return steps

    def _may_accept(self, server: Server, leader: int, epoch: int) -> bool:
        return epoch > server.accepted or (epoch == server.accepted and (
            server.accepted_from == leader or self.any_leader_per_epoch))

    def _ackepoch(self, state: ZabState, f: int, follower: Server, leader: int,
                  me: Server) -> tuple[str, ZabState]:
        accepted = follower._replace(accepted=me.accepted, accepted_from=leader)
        successor = _set(state, f, accepted)
        if _position(follower) <= _position(me):
            successor = _set(successor, leader, me._replace(backers=me.backers | {f}))
        return f"ackepoch(z{f + 1}, z{leader + 1}, e{me.accepted})", successor

    def _sync(self, state: ZabState, f: int, follower: Server, leader: int,
              me: Server) -> list[tuple[str, ZabState]]:
        """ackld (f takes my history) or ack (f, synced, logs my newer proposals)."""
        epoch, steps = me.accepted, []
        if follower.current != epoch:
            synced = follower._replace(current=epoch, history=me.history)
            synced = synced._replace(disk=(follower.current, follower.history)) \
                if self.ack_before_persist and follower.disk is None else synced
            steps.append((f"ackld(z{f + 1}, z{leader + 1}, e{epoch})",
                          self._acked(state, f, synced, leader, me)))
        elif len(follower.history) < len(me.history):
            logged = follower._replace(history=me.history, disk=None)  # logged and fsynced
            steps.append((f"ack(z{f + 1}, {zxid_text(me.history[-1])})",
                          self._acked(state, f, logged, leader, me)))
        return steps

    def _acked(self, state: ZabState, f: int, follower: Server, leader: int,
               me: Server) -> ZabState:
        synced = me.synced[:f] + (len(follower.history),) + me.synced[f + 1:]
        return _set(_set(state, f, follower), leader, me._replace(synced=synced))

    def _broadcast(self, state: ZabState, leader: int, me: Server) -> list[tuple[str, ZabState]]:
        epoch, steps = me.accepted, []
        logged = sorted((n for f, n in enumerate(me.synced) if f != leader), reverse=True)
        upto = min(len(me.history), logged[self.quorum - 2])
        if upto > me.committed:
            prefix = me.history[:upto]
            done = ZabState(_put(state.servers, leader, me._replace(committed=upto)),
                            state.commits | {(epoch, leader, prefix)})
            steps.append((f"commit(z{leader + 1}, e{epoch}, {show(prefix)})", done))
        counter = sum(1 for e, _ in me.history if e == epoch) + 1
        if me.committed != NONE and counter <= self.proposals:
            zxid = (epoch, counter)
            steps.append((f"propose(z{leader + 1}, {zxid_text(zxid)})", _set(
                state, leader, me._replace(history=me.history + (zxid,)))))
        return steps


def _position(server: Server) -> tuple[int, Zxid]:
    return server.current, server.history[-1] if server.history else (0, 0)


def _put(servers: tuple[Server, ...], index: int, server: Server) -> tuple[Server, ...]:
    return servers[:index] + (server,) + servers[index + 1:]


def _set(state: ZabState, index: int, server: Server) -> ZabState:
    return ZabState(_put(state.servers, index, server), state.commits)


def zxid_text(zxid: Zxid) -> str:
    return f"{zxid[0]}.{zxid[1]}"


def show(prefix: tuple[Zxid, ...]) -> str:
    return "[" + " ".join(zxid_text(z) for z in prefix) + "]"
