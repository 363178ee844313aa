"""What a ZooKeeper run must satisfy: Zab's guarantees over the servers, the tree's and the
lock's properties, and what the clients saw.

The Zab invariants read ghost facts the peers record (`established`: a leader's epoch and
history once a quorum synchronised with it; `commit`: a transaction delivered at an index)
and the servers' disks as a crash would leave them.
"""

from __future__ import annotations

from collections.abc import Iterator

from checker.sim import Simulation
from checker.system import history_invariant, state_invariant
from implementations.resource import ResourceServer, stale_write
from implementations.zookeeper.server import ZooKeeperServer
from implementations.zookeeper.zab import Txn
from invariants.sessions import (
    READ,
    WRITE,
    SessionOp,
    check_monotonic_reads,
    check_read_your_writes,
)
from invariants.verdict import Verdict, passed, violated
from models.znodes import parent_of, sequence_number


class Ghosts:
    """The ghost facts of one run, read incrementally: the first transaction committed at
    each index, the leader and history of each established epoch, the first violation of
    each kind."""

    def __init__(self) -> None:
        self.read = 0
        self.committed: dict[int, tuple[Txn, str]] = {}  # index -> (txn, first to deliver it)
        self.established: dict[int, tuple[str, tuple]] = {}  # epoch -> (leader, history)
        self.problems: dict[str, str] = {}
        self.ensemble: tuple[str, ...] = ()
        self.durable: dict[str, tuple[tuple, int]] = {}  # peer -> (disk log, committed prefix)
        self._log: list[Txn] = []
        self.trees_checked: dict[str, tuple] = {}  # server -> (node, transactions applied)

    def committed_log(self) -> list[Txn]:
        """The committed transactions, in order (a prefix of indices, as delivery goes)."""
        while len(self._log) in self.committed:
            self._log.append(self.committed[len(self._log)][0])
        return self._log

    def update(self, sim: Simulation) -> Ghosts:
        if not self.ensemble:  # every server is up when the run starts
            self.ensemble = next(server for _, server in servers(sim)).peers
        while self.read < len(sim.ghost):
            kind, time, peer, fact = sim.ghost[self.read]
            self.read += 1
            if kind == "commit":
                self.on_commit(time, peer, fact["index"], fact["txn"])
            elif kind == "established":
                self.on_established(time, peer, fact["epoch"], fact["history"])
        return self

    def on_commit(self, time: int, peer: str, index: int, txn: Txn) -> None:
        first, by = self.committed.setdefault(index, (txn, peer))
        if first != txn:
            self.problems.setdefault(
                "committed-prefix", f"{peer} delivered {txn.zxid!r} at index {index}, where "
                f"{by} delivered {first.zxid!r} (t={time})")
        for epoch, (leader, history) in self.established.items():
            self.check_survives(epoch, leader, history, index, txn, peer, time)

    def on_established(self, time: int, peer: str, epoch: int, history: tuple) -> None:
        leader, _ = self.established.setdefault(epoch, (peer, history))
        if leader != peer:
            self.problems.setdefault(
                "one-leader-per-epoch", f"{leader} and {peer} both established epoch {epoch}")
        for index, (txn, by) in sorted(self.committed.items()):
            self.check_survives(epoch, peer, history, index, txn, by, time)

    def check_survives(self, epoch: int, leader: str, history: tuple, index: int, txn: Txn,
                       by: str, time: int) -> None:
        """A transaction committed in an earlier epoch is in the history a later epoch was
        established with (in epoch order: a deposed leader may learn late that its epoch was
        established)."""
        if txn.zxid.epoch < epoch and (index >= len(history) or history[index] != txn.zxid):
            self.problems.setdefault(
                "committed-survives",
                f"{leader} established epoch {epoch} with a history of {len(history)} "
                f"without {txn.zxid!r}, committed at index {index} by {by} (t={time})")


def ghosts(sim: Simulation) -> Ghosts:
    return sim.invariant_state("zookeeper-ghosts", Ghosts).update(sim)


def servers(sim: Simulation) -> Iterator[tuple[str, ZooKeeperServer]]:
    for node_id in sim.servers:
        node = sim.nodes[node_id]
        if isinstance(node, ZooKeeperServer):
            yield node_id, node


def durable_log(sim: Simulation, node_id: str) -> tuple[Txn, ...]:
    """The log as a crash would leave it: only what was fsynced."""
    return sim.contexts[node_id].storage.durable("log", ())


# --- Zab ---------------------------------------------------------------------------------------


@state_invariant("one-leader-per-epoch")
def one_leader_per_epoch(sim: Simulation) -> str | None:
    """No two peers establish the same epoch (so zxids name one transaction each)."""
    return ghosts(sim).problems.get("one-leader-per-epoch")


@state_invariant("committed-prefix")
def committed_prefix(sim: Simulation) -> str | None:
    """Primary order: all delivered histories are prefixes of one sequence."""
    return ghosts(sim).problems.get("committed-prefix")


@state_invariant("committed-survives")
def committed_survives(sim: Simulation) -> str | None:
    """Every committed transaction is in the history of every later established leader."""
    return ghosts(sim).problems.get("committed-survives")


@state_invariant("committed-durable")
def committed_durable(sim: Simulation) -> str | None:
    """Every committed transaction is fsynced on a quorum: no crash of a minority, nor any
    crash of servers that lose only what they had not fsynced, can take it away."""
    seen = ghosts(sim)
    committed = seen.committed_log()
    for peer in seen.ensemble:
        log = durable_log(sim, peer)
        if seen.durable.get(peer, (None, 0))[0] is not log:
            seen.durable[peer] = (log, _common_prefix(log, committed))
        elif seen.durable[peer][1] < len(committed):  # more was committed since
            seen.durable[peer] = (log, _common_prefix(log, committed))
    quorum = len(seen.ensemble) // 2 + 1
    safe = sorted(held for _, held in seen.durable.values())[-quorum]
    if safe >= len(committed):
        return None
    txn, by = seen.committed[safe]
    on = ", ".join(p for p, (_, held) in seen.durable.items() if held > safe) or "no server"
    return (f"{txn.zxid!r} (index {safe}) was committed by {by} but is on the disk of {on} "
            f"only")


def _common_prefix(log: tuple[Txn, ...], committed: list[Txn]) -> int:
    length = 0
    for mine, theirs in zip(log, committed):
        if mine is not theirs and mine != theirs:
            break
        length += 1
    return length


# --- the tree and the lock ---------------------------------------------------------------------


@state_invariant("ephemerals-owned")
def ephemerals_owned(sim: Simulation) -> str | None:
    """Every ephemeral znode belongs to a live session: none outlives its session's expiry."""
    checked = ghosts(sim).trees_checked
    for node_id, server in servers(sim):
        if checked.get(node_id) == (server, server.delivered):
            continue  # its tree has not changed since I looked
        checked[node_id] = (server, server.delivered)
        for path, znode in server.tree.nodes.items():
            owner = znode.stat.ephemeral_owner
            if owner is not None and owner not in server.tree.sessions:
                return f"{node_id} holds ephemeral {path} of closed session {owner:#x}"
    return None


@state_invariant("monotone-tokens")
def monotone_tokens(sim: Simulation) -> str | None:
    """The protected resource never applies a write of an older lock grant after a newer."""
    for node in sim.nodes.values():
        if isinstance(node, ResourceServer):
            return stale_write(node.log)
    return None


# --- what clients saw --------------------------------------------------------------------------


@history_invariant("session-order")
def session_order(sim: Simulation) -> Verdict:
    """Reads of a client never go back in time (versions of /x), and see its own writes."""
    ops = []
    for op in sim.operations():
        if op.status != "ok":
            continue
        if op.f in ("read", "sync") and op.result is not None:
            ops.append(SessionOp(op.process, READ, op.args[0], op.result[1], op.call_time))
        elif op.f == "incr" and isinstance(op.result, int):
            ops.append(SessionOp(op.process, WRITE, op.args[0], op.result, op.call_time))
    for verdict in (check_read_your_writes(ops), check_monotonic_reads(ops)):
        if verdict.violated:
            return violated("session-order", verdict.explanation, verdict.witness)
    return passed("session-order", f"{len(ops)} reads and writes in session order")


@history_invariant("sequential-names")
def sequential_names(sim: Simulation) -> Verdict:
    """Sequential nodes get unique names, increasing with real time under each parent."""
    made = sorted((op for op in sim.operations()
                   if op.status == "ok" and op.f in ("seq", "lock")), key=lambda op: op.call)
    names: dict[str, object] = {}
    for op in made:
        if op.result in names:
            return violated("sequential-names", f"{op.result} was created twice",
                            [names[op.result].to_json(), op.to_json()])
        names[op.result] = op
    for a in made:
        for b in made:
            if a.precedes(b) and parent_of(a.result) == \
                    parent_of(b.result) and sequence_number(a.result) >= \
                    sequence_number(b.result):
                return violated("sequential-names", f"{b.result} was created after "
                                f"{a.result} had been, with a lower number",
                                [a.to_json(), b.to_json()])
    return passed("sequential-names", f"{len(made)} sequential names, unique and increasing")


@history_invariant("conditional-set")
def conditional_set(sim: Simulation) -> Verdict:
    """Two successful conditional setData never produce the same version: no lost update."""
    versions: dict[int, object] = {}
    for op in sim.operations():
        if op.status == "ok" and op.f == "incr" and isinstance(op.result, int):
            if op.result in versions:
                return violated("conditional-set", f"two increments of {op.args[0]} both "
                                f"made version {op.result}",
                                [versions[op.result].to_json(), op.to_json()])
            versions[op.result] = op
    return passed("conditional-set", f"{len(versions)} conditional writes, no lost update")


@history_invariant("lock-released")
def lock_released(sim: Simulation) -> Verdict:
    """After the run (everything healed and restarted), a fresh client gets the lock."""
    for op in sim.operations():
        if op.f == "lock" and op.status != "ok":
            return violated("lock-released", f"{op.process} asked for the lock at t={op.call_time} "
                            f"and never got it: {_lock_queue(sim)}", [op.to_json()])
    return passed("lock-released", "every lock request was granted")


def _lock_queue(sim: Simulation) -> str:
    for _, server in servers(sim):
        if server.serving():
            names = server.tree.children("/lock")
            owners = [server.tree.get(f"/lock/{n}").stat.ephemeral_owner for n in names]
            return "/lock holds " + ", ".join(
                f"{n} ({'persistent' if o is None else f'session {o:#x}'})"
                for n, o in zip(names, owners))
    return "no server is serving"
