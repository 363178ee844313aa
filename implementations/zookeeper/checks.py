"""What a ZooKeeper run must satisfy: Zab's guarantees over the servers, the tree's and the
lock's properties, and what the clients saw.

The Zab invariants read ghost facts the peers record (`synchronise`: the history a leader
sends its followers for an epoch; `propose`: each transaction it then logs, at its index;
`established`: a leader's epoch and history once a quorum synchronised with it; `commit`: a
transaction delivered at an index) and the servers' disks as a crash would leave them.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator

import attrs

from checker.recovery import bounded_recovery
from checker.sim import Simulation
from checker.system import history_invariant, state_invariant
from implementations.resource import ResourceServer, first_writes_since, last_write, stale_write
from implementations.zookeeper.client import (
    CONNECTION_LOST,
    PING_EVERY,
    REQUEST_TIMEOUT,
    Locker,
    SessionClient,
)
from implementations.zookeeper.server import (
    SESSION_TIMEOUT,
    Connect,
    Connected,
    Ping,
    Pong,
    Reply,
    Request,
    Write,
    ZooKeeperServer,
)
from implementations.zookeeper.zab import (
    BROADCAST,
    FOLLOWING,
    LEADING,
    RETRY,
    SYNC,
    SYNC_LIMIT,
    TICK,
    UNCOUNTED,
    Ack,
    AckEpoch,
    NewEpoch,
    Txn,
    Zxid,
)
from invariants.history import FAIL, OK, Operation
from invariants.sessions import (
    READ,
    WRITE,
    SessionOp,
    check_monotonic_reads,
    check_read_your_writes,
)
from invariants.verdict import Verdict, passed, violated
from models.znodes import (
    CloseSession,
    Create,
    CreateSession,
    DataTree,
    Err,
    SetData,
    parent_of,
    sequence_number,
)

COUNTER = "/x"  # the znode clients read, increment and sync on
READS = ("read", "read-at", "sync", "sync-at")  # operations that return (data, version) of /x


class Ghosts:
    """The ghost facts of one run, read incrementally: the first transaction committed at
    each index, the leader that synchronised each epoch, the leader and history of each
    established epoch, the first violation of each kind."""

    def __init__(self) -> None:
        self.read = 0
        self.committed: dict[int, tuple[Txn, str]] = {}  # index -> (txn, first to deliver it)
        self.committed_at: dict[int, int] = {}  # index -> when it was first delivered
        self.synchronised: dict[int, str] = {}  # epoch -> the leader that synchronised it
        self.established: dict[int, tuple[str, tuple]] = {}  # epoch -> (leader, history)
        self.problems: dict[str, str] = {}
        self.ensemble: tuple[str, ...] = ()
        self.durable: dict[str, tuple[tuple, int]] = {}  # peer -> (disk log, committed prefix)
        self._log: list[Txn] = []
        self.trees_checked: dict[str, tuple] = {}  # server -> (node, transactions applied)
        self.trees_matched: dict[str, tuple] = {}  # the same, for trees-match-model
        self.model: DataTree | None = None  # the committed log applied, as far as asked
        self.states: list[tuple[dict, dict]] = []  # index -> (znodes, sessions) before it
        self.outcomes: list = []  # index -> what the model's tree answered its transaction
        self.owners: dict[Zxid, str] = {}  # session -> the client a committed txn opened it for
        # (epoch, leader) -> the zxids it logged in that epoch: its history, then its proposals
        self.epoch_logs: dict[tuple[int, str], list[Zxid]] = {}
        self.logs_checked: dict[str, tuple] = {}  # server -> (node, log, (epoch, length, last))
        self.proposed: dict[Zxid, tuple[int, str]] = {}  # zxid -> (when, by whom) proposed
        # peer -> (epoch, leader, when) last seen on its disk as accepted from another leader
        self.promises: dict[str, tuple[int, str, int]] = {}

    def committed_log(self) -> list[Txn]:
        """The committed transactions, in order (a prefix of indices, as delivery goes)."""
        while len(self._log) in self.committed:
            txn = self.committed[len(self._log)][0]
            self._log.append(txn)
            if isinstance(txn.value, Write) and isinstance(txn.value.op, CreateSession):
                self.owners[txn.zxid] = txn.value.op.owner
        return self._log

    def model_state(self, applied: int, paths: tuple) -> tuple[dict, dict] | None:
        """The tree (znodes, sessions) after the first `applied` committed transactions,
        from the model (`models.znodes`); None if fewer have been committed."""
        if self.model is None:
            self.model = DataTree(paths)
            self.states = [(dict(self.model.nodes), dict(self.model.sessions))]
        log = self.committed_log()
        while len(self.states) <= min(applied, len(log)):
            write = log[len(self.states) - 1].value
            outcome, _ = self.model.apply(log[len(self.states) - 1].zxid, write.session,
                                          write.req, write.op)
            self.outcomes.append(outcome)
            self.states.append((dict(self.model.nodes), dict(self.model.sessions)))
        return self.states[applied] if applied < len(self.states) else None

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
            elif kind == "synchronise":
                self.on_synchronise(time, peer, fact["epoch"])
                self.epoch_logs[fact["epoch"], peer] = list(fact["history"])
            elif kind == "propose":
                self.proposed.setdefault(fact["zxid"], (time, peer))
                self.epoch_logs.setdefault((fact["epoch"], peer), [])[fact["index"]:] = \
                    [fact["zxid"]]
        return self

    def on_commit(self, time: int, peer: str, index: int, txn: Txn) -> None:
        first, by = self.committed.setdefault(index, (txn, peer))
        self.committed_at.setdefault(index, time)
        if first != txn:
            self.problems.setdefault(
                "committed-prefix", f"{peer} delivered {txn.zxid!r} at index {index}, where "
                f"{by} delivered {first.zxid!r} (t={time})")
        before = self.committed.get(index - 1)
        if not _numbered(None if before is None else before[0].zxid, txn.zxid):
            after = "first" if before is None else f"after {before[0].zxid!r}"
            self.problems.setdefault(
                "committed-prefix", f"{peer} delivered {txn.zxid!r} at index {index}, "
                f"{after}: a leader numbers its epoch's transactions 1, 2, 3... (t={time})")
        for epoch, (leader, history) in self.established.items():
            self.check_survives(epoch, leader, history, index, txn, peer, time)

    def on_synchronise(self, time: int, peer: str, epoch: int) -> None:
        leader = self.synchronised.setdefault(epoch, peer)
        if leader != peer:
            self.problems.setdefault(
                "one-leader-per-epoch", f"{leader} and {peer} both synchronised epoch {epoch}, "
                f"each with a quorum's ACKEPOCH (t={time})")

    def on_established(self, time: int, peer: str, epoch: int, history: tuple) -> None:
        self.established.setdefault(epoch, (peer, history))
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


def _numbered(before: Zxid | None, zxid: Zxid) -> bool:
    """Whether `zxid` may follow `before` in the history: the next of the same epoch (Zab's
    counter counts the epoch's proposals), or the first of a later epoch."""
    if before is not None and zxid.epoch == before.epoch:
        return zxid == before + 1
    return (before is None or zxid.epoch > before.epoch) and zxid & 0xFFFFFFFF == 1


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
    """Zab's discovery: no two peers gather a quorum's ACKEPOCH for the same epoch and
    synchronise it (so none establish it twice, and zxids name one transaction each). Then a
    current epoch names one history, which the election and discovery's test of a follower
    ahead of its leader rely on when they compare (current epoch, last zxid)."""
    return ghosts(sim).problems.get("one-leader-per-epoch")


class EpochCounts:
    """What `one-count-per-epoch` has read of the trace: for each (follower, epoch), the leader
    its first counted ACKEPOCH of that epoch reached, and when."""

    def __init__(self) -> None:
        self.read = 0  # trace steps read
        self.counted: dict[tuple[str, int], tuple[str, int]] = {}
        self.problem: str | None = None

    def update(self, sim: Simulation) -> EpochCounts:
        for step in sim.trace[self.read:]:
            match step.detail if step.event[0] == "deliver" else None:
                case AckEpoch(epoch, current) if current != UNCOUNTED and self.problem is None:
                    follower, leader = step.event[1], step.event[2]
                    first, when = self.counted.setdefault((follower, epoch), (leader, step.time))
                    if first != leader:
                        self.problem = (
                            f"{follower}'s ACKEPOCH of epoch {epoch} counted for {leader} "
                            f"(t={step.time}) after it had counted for {first} (t={when})")
        self.read = len(sim.trace)
        return self


@state_invariant("one-count-per-epoch")
def one_count_per_epoch(sim: Simulation) -> str | None:
    """A follower's acknowledgement of an epoch counts for one leader: of the ACKEPOCHs of one
    epoch a follower sends, only those to the first leader it promised the epoch to carry its
    current epoch; to any other it says -1 (UNCOUNTED), as ZooKeeper's follower does for an
    epoch it accepted already. Two leaders of one epoch, each counting the same follower in
    its quorum, could both synchronise it (`one-leader-per-epoch`); this sees the double count
    itself, judged from the ACKEPOCHs delivered, whether or not either leader got a quorum."""
    return sim.invariant_state("zookeeper-epoch-counts", EpochCounts).update(sim).problem


class Sends:
    """What `new-epoch-from-its-leader` has seen: how many messages had been sent when it
    last looked, and the first violation."""

    def __init__(self) -> None:
        self.sent = 0
        self.problem: str | None = None


@state_invariant("new-epoch-from-its-leader")
def new_epoch_from_its_leader(sim: Simulation) -> str | None:
    """Zab's discovery: a peer proposes a new epoch only as the leader it was elected to be.
    Every NEWEPOCH(e) a peer sends, it sends leading, with e the epoch it leads: a looking
    peer or a follower never proposes an epoch (a leader that gave its bid up is looking, and
    its followers will not take an epoch from a peer they do not follow), and a leader never
    proposes another epoch than its own. Judged after each step from the messages sent in it
    (the newest in flight: a step only adds messages after the one it takes) and each
    sender's role and epoch then, read as data. A duplicate is the network's copy of a
    message sent earlier, not a send."""
    seen = sim.invariant_state("zookeeper-sends", Sends)
    fresh, seen.sent = sim.network.sent - seen.sent, sim.network.sent
    if seen.problem or not fresh or sim.trace and sim.trace[-1].event[0] == "duplicate":
        return seen.problem
    for envelope in itertools.islice(reversed(sim.network.in_flight.values()), fresh):
        if isinstance(envelope.msg, NewEpoch):
            sender = sim.nodes[envelope.src]
            if sender.role != LEADING or sender.epoch != envelope.msg.epoch:
                led = f"leads epoch {sender.epoch}" if sender.role == LEADING \
                    else f"is {sender.role}"
                seen.problem = (f"{envelope.src} sent NEWEPOCH({envelope.msg.epoch}) to "
                                f"{envelope.dst} at t={sim.time}, though it {led}: only the "
                                f"leader of an epoch proposes it")
                break
    return seen.problem


@state_invariant("committed-prefix")
def committed_prefix(sim: Simulation) -> str | None:
    """Primary order: all delivered histories are prefixes of one sequence, whose zxids
    increase (a zxid names one transaction, and orders it): within an epoch by one, as its
    leader numbered its proposals, and each later epoch from 1."""
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


@state_invariant("logs-from-leader")
def logs_from_leader(sim: Simulation) -> str | None:
    """Primary order on the logs, before anything is delivered: every server's log is a
    prefix of what a leader of the server's current epoch logged in it — the history it
    synchronised the epoch with, then its proposals in order. A server that logs a proposal
    of another epoch, or at another place, holds a history no leader has."""
    seen = ghosts(sim)
    for node_id, server in servers(sim):
        log, epoch = server.log, server.current_epoch
        shape = (epoch, len(log), log[-1] if log else None)
        checked = seen.logs_checked.get(node_id)
        if checked and checked[0] is server and checked[1] is log and checked[2] == shape:
            continue  # nothing logged since I looked
        zxids = [txn.zxid for txn in log]
        leaders = {leader: logged for (e, leader), logged in seen.epoch_logs.items()
                   if e == epoch}
        if any(logged[:len(zxids)] == zxids for logged in leaders.values()) or not zxids:
            seen.logs_checked[node_id] = (server, log, shape)
            continue
        return _log_departure(node_id, zxids, epoch, leaders)
    return None


@state_invariant("epoch-promises-kept")
def epoch_promises_kept(sim: Simulation) -> str | None:
    """Zab's discovery promise: a follower that acknowledged NEWEPOCH(e) never accepts a
    NEWEPOCH(e') with e' < e. The leader of e chose its history from what the follower told
    it; a follower that joined an older epoch afterwards could help that epoch commit what
    the history of e lacks. Read from each peer's disk as a crash would leave it (its
    accepted epoch and leader), after every step: the epoch it accepted from another leader
    never goes down. An epoch a peer chose for its own bid promises nothing to anybody and
    is skipped."""
    seen = ghosts(sim)
    for peer in seen.ensemble:
        epoch, leader = sim.contexts[peer].storage.durable("accepted", (0, None))
        if leader is None or leader == peer:
            continue
        kept = seen.promises.get(peer)
        if kept and (epoch, leader) == kept[:2]:
            continue  # nothing accepted since I looked
        if kept and epoch < kept[0]:
            return (f"{peer} accepted epoch {epoch} from {leader} (t={sim.time}) after it had "
                    f"accepted epoch {kept[0]} from {kept[1]} (t={kept[2]})")
        seen.promises[peer] = (epoch, leader, sim.time)
    return None


def _log_departure(node_id: str, zxids: list[Zxid], epoch: int,
                   leaders: dict[str, list[Zxid]]) -> str:
    """Where a server's log leaves the log of each leader of its epoch."""
    if not leaders:
        return f"{node_id}'s log ({len(zxids)} long) is of epoch {epoch}, which no leader " \
               f"synchronised"
    parts = []
    for leader, logged in sorted(leaders.items()):
        at = next(i for i, mine in enumerate(zxids) if i >= len(logged) or logged[i] != mine)
        theirs = f"{logged[at]!r}" if at < len(logged) else "nothing"
        parts.append(f"{node_id} logged {zxids[at]!r} at index {at}, where {leader}, leader of "
                     f"epoch {epoch}, logged {theirs}")
    return "; ".join(parts) + f" ({node_id}'s current epoch is {epoch})"


def _common_prefix(log: tuple[Txn, ...], committed: list[Txn]) -> int:
    length = 0
    for mine, theirs in zip(log, committed):
        if mine is not theirs and mine != theirs:
            break
        length += 1
    return length


# --- the tree and the lock ---------------------------------------------------------------------


@state_invariant("trees-match-model")
def trees_match_model(sim: Simulation) -> str | None:
    """Replicas compared at equal zxid: every server's tree (znodes and sessions) is, at every
    moment, the model's tree after as many committed transactions as the server applied,
    and no server applied a transaction that is not committed."""
    seen = ghosts(sim)
    for node_id, server in servers(sim):
        if seen.trees_matched.get(node_id) == (server, server.delivered):
            continue  # nothing applied since I looked
        seen.trees_matched[node_id] = (server, server.delivered)
        state = seen.model_state(server.delivered, server.paths)
        if state is None:
            return (f"{node_id} has applied {server.delivered} transactions, but only "
                    f"{len(seen.committed_log())} are committed")
        nodes, sessions = state
        if server.tree.nodes != nodes or server.tree.sessions != sessions:
            return (f"{node_id}'s tree after {server.delivered} transactions is not the "
                    f"committed one: {_tree_difference(server.tree, nodes, sessions)}")
    return None


def _tree_difference(tree: DataTree, nodes: dict, sessions: dict) -> str:
    for path in sorted(set(tree.nodes) | set(nodes)):
        if tree.nodes.get(path) != nodes.get(path):
            return f"{path} is {tree.nodes.get(path)} there and {nodes.get(path)} in the model"
    return f"sessions {sorted(tree.sessions)} there and {sorted(sessions)} in the model"



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


# --- sessions ----------------------------------------------------------------------------------


class Hearings:
    """What `session-kept-alive` has read of the trace: when each leader, in the broadcast of
    its epoch, heard from each session (the client's ping, request or reconnection delivered
    to it, or a follower's acknowledgement naming the session delivered to it), and how many
    committed transactions it has judged."""

    def __init__(self) -> None:
        self.read = 0  # trace steps read
        self.judged = 0  # committed transactions judged
        # (leader, epoch, session) -> when it heard from the session, in time order
        self.heard: dict[tuple[str, int, Zxid], list[int]] = {}

    def update(self, sim: Simulation) -> Hearings:
        """Read the steps executed since last time. State invariants run after every step, so
        the leader's role and epoch read now are those it had when the message reached it."""
        for step in sim.trace[self.read:]:
            if step.event[0] == "deliver":
                _, src, dst, _ = step.event
                self.on_delivery(sim, src, dst, step.detail, step.time)
        self.read = len(sim.trace)
        return self

    def on_delivery(self, sim: Simulation, src: str, dst: str, msg: object,
                    time: int) -> None:
        leader = sim.nodes.get(dst)
        if not isinstance(leader, ZooKeeperServer) or leader.role != LEADING \
                or leader.phase != BROADCAST:
            return
        for session in _sessions_shown(leader, src, msg):
            self.heard.setdefault((dst, leader.epoch, session), []).append(time)


def _sessions_shown(leader: ZooKeeperServer, src: str, msg: object) -> tuple[Zxid, ...]:
    """The sessions a message from `src` shows the leader alive: a client's own message on
    the connection it holds with the leader for that session (a connection the leader dropped
    when it changed role is gone, though the client learns it only when its pings go
    unanswered: a real server closes the socket), or the acknowledgement of a follower in the
    leader's broadcast listing the sessions its clients pinged."""
    match msg:
        case Ping(session) | Request(session) | Connect(session) \
                if session is not None and leader.connections.get(src) == session:
            return (session,)
        case Ack(epoch, _, sessions) if epoch == leader.epoch and src in leader.synced:
            return tuple(sessions)
    return ()


@state_invariant("session-kept-alive")
def session_kept_alive(sim: Simulation) -> str | None:
    """A session expires only when the ensemble has not heard from its client for
    SESSION_TIMEOUT: no leader proposes closing a session SESSION_TIMEOUT or less after it
    heard from the client, directly or through the acknowledgement of a follower in its
    broadcast (`_sessions_shown`). A ping to a follower cut off from the leader never reaches
    it and does not count; the leader measures the timeout on its own clock, whose offset may
    differ by up to 2 epsilon between the two readings (and checks it on a tick, which only
    makes expiry later)."""
    seen = ghosts(sim)
    hearings = sim.invariant_state("zookeeper-hearings", Hearings).update(sim)
    log = seen.committed_log()
    while hearings.judged < len(log):
        txn = log[hearings.judged]
        hearings.judged += 1
        if isinstance(txn.value.op, CloseSession) and txn.zxid in seen.proposed:
            problem = _early_expiry(sim, hearings, txn.value.op.session, txn.zxid,
                                    *seen.proposed[txn.zxid])
            if problem:
                return problem
    return None


def _early_expiry(sim: Simulation, hearings: Hearings, session: Zxid, zxid: Zxid,
                  proposed: int, leader: str) -> str | None:
    """Whether `leader` heard from `session` within SESSION_TIMEOUT before it proposed
    closing it. Hearing at the very tick it decided is left out: it may have come after."""
    times = hearings.heard.get((leader, zxid.epoch, session), [])
    before = bisect.bisect_left(times, proposed)
    heard = times[before - 1] if before else None
    if heard is None or proposed - heard > SESSION_TIMEOUT - 2 * sim.epsilon:
        return None
    return (f"{leader} proposed closing session {session!r} ({zxid!r}) at t={proposed}, "
            f"{proposed - heard} ticks after it last heard from the client at t={heard}: "
            f"the session timeout is {SESSION_TIMEOUT}")


class Closures:
    """What `closed-sessions-stay-closed` has seen: the sessions each server's tree held when
    last looked at, and for each session a server has closed (and not opened again since: a
    restarted server applies the log anew), the answers it had in flight to the session's
    client at that moment, which may still arrive, copied or not."""

    def __init__(self) -> None:
        self.read = 0  # trace steps read
        self.looked: dict[str, tuple[object, int, set[Zxid]]] = {}  # server -> node, applied, live
        self.closed: dict[tuple[str, Zxid], list] = {}
        self.problem: str | None = None

    def update(self, sim: Simulation, seen: Ghosts) -> Closures:
        """Judge the answers delivered since last time against the closes seen before them,
        then note the closes the servers applied since (with what they had in flight)."""
        seen.committed_log()  # the sessions' owners, as far as committed
        for step in sim.trace[self.read:]:
            if step.event[0] == "deliver" and self.problem is None:
                self.problem = self.judge(seen.owners, step.event[1], step.event[2],
                                          step.detail, step.time)
        self.read = len(sim.trace)
        for node_id, server in servers(sim):
            node, applied, live = self.looked.get(node_id, (None, 0, set()))
            if node is server and applied == server.delivered:
                continue  # nothing applied since I looked
            now = set(server.tree.sessions)
            for session in (live if node is server else set()) - now:
                self.closed[node_id, session] = _in_flight(sim, node_id,
                                                           seen.owners.get(session))
            for session in now:
                self.closed.pop((node_id, session), None)
            self.looked[node_id] = (server, server.delivered, now)
        return self

    def judge(self, owners: dict[Zxid, str], src: str, dst: str, msg: object,
              time: int) -> str | None:
        """Whether a message delivered to its session's client is an answer `src` sent after
        it had closed the session."""
        match msg:
            case Reply(_, _, Err(), _):
                return None  # a refusal tells the client the truth
            case Pong(session) | Connected(session) | Reply(session) if owners.get(session) == dst:
                sent_before = self.closed.get((src, session))
                if sent_before is not None and msg not in sent_before:
                    return (f"{dst} got {msg!r} from {src} at t={time}, sent after {src} had "
                            f"closed session {session!r}")
        return None


def _in_flight(sim: Simulation, src: str, dst: str | None) -> list:
    return [envelope.msg for envelope in sim.network.in_flight.values()
            if envelope.src == src and envelope.dst == dst]


@state_invariant("closed-sessions-stay-closed")
def closed_sessions_stay_closed(sim: Simulation) -> str | None:
    """A closed session is dead: once a server has applied a session's close, it answers the
    session's client no more (no Pong, no Connected, no Reply but a refusal); the client learns
    of the expiry from the Expired it is sent, or on its next connection. (ZooKeeper's
    guide: once a session expires, its operations fail with SESSIONEXPIRED.) Judged on the
    answers the client receives: one that was not in flight from that server when it applied
    the close was sent after it (a duplicate is a copy of one in flight)."""
    seen = ghosts(sim)
    return sim.invariant_state("zookeeper-closures", Closures).update(sim, seen).problem


# --- sessions at rest --------------------------------------------------------------------------

# How long a session its client no longer uses may stay open: the leader hears of the client's
# last ping through a follower's acknowledgement within a RETRY, expires the session
# SESSION_TIMEOUT after that (or after it became leader, which gives every session a whole
# timeout), and proposes the close on its next TICK.
EXPIRES = RETRY + SESSION_TIMEOUT + TICK
# How long a client may go on using a session the ensemble closed: the server it is connected
# to tells it at once; if that server dropped its connection, its pings go unanswered for
# CONNECTION_LOST (noticed on a ping, every PING_EVERY), and the next server it connects to
# answers within REQUEST_TIMEOUT that the session expired.
LEARNS = PING_EVERY + CONNECTION_LOST + REQUEST_TIMEOUT
# The ending's rest: long enough for a session given up before it to expire, and for a client
# whose session expired to learn it.
REST = EXPIRES + LEARNS


class Settled:
    """What `ensemble-kept-at-rest` has seen: the leader and epoch the ensemble first converged
    on during the rest, and when."""

    def __init__(self) -> None:
        self.under: tuple[str, int, int] | None = None  # (leader, epoch, since)


def _converged_on(sim: Simulation) -> tuple[str, int] | None:
    """The leader and epoch of an ensemble converged as `_ensemble_problem` has it, else None."""
    if _ensemble_problem(sim) is not None:
        return None
    leader = next(server for _, server in servers(sim) if server.role == LEADING)
    return leader.id, leader.epoch


@state_invariant("ensemble-kept-at-rest")
def ensemble_kept_at_rest(sim: Simulation) -> str | None:
    """An ensemble left alone keeps its leader: once, during the ending's rest (no faults, no
    operations), every server is up, one leads and the others follow it in the broadcast of
    its epoch, it stays so, under that leader and epoch, until the run ends. A leader gives its
    followers up only when they fall silent for SYNC_LIMIT, and a follower its leader likewise
    (Zab's heartbeats; ZooKeeper's syncLimit): with nothing failing, neither has cause, so an
    election at rest is one nothing called for, and an ensemble that holds one whenever it is
    left alone stops serving writes for as long as each takes."""
    if sim.rest_began() is None:
        return None
    seen = sim.invariant_state("zookeeper-settled", Settled)
    now = _converged_on(sim)
    if seen.under is None:
        seen.under = None if now is None else (*now, sim.time)
        return None
    leader, epoch, since = seen.under
    if now == (leader, epoch):
        return None
    what = _ensemble_problem(sim) or f"{now[0]} leads epoch {now[1]}"
    return (f"the ensemble had settled at rest under {leader} in epoch {epoch} at t={since}, "
            f"but at t={sim.time} {what}, with no fault and no request")


# --- the settled ending: driven by messages ----------------------------------------------------


class Pace:
    """What `synchronised-by-messages` and `settled-commit-by-messages` have read of the
    ending: whether a timer fired in it yet, and what they expect done by the end of the
    current tick: the epochs whose leaders must establish them ((leader, epoch) -> when
    synchronised) and the transactions every server must deliver (index -> (leader, epoch,
    when proposed, the servers yet to deliver it))."""

    def __init__(self) -> None:
        self.read = 0  # trace steps read
        self.facts = 0  # ghost facts read
        self.timed = False  # a timer fired in the ending: nothing sent before is in flight
        self.now = 0
        self.establish: dict[tuple[str, int], int] = {}
        self.deliver: dict[int, tuple[str, int, int, set[str]]] = {}
        self.problems: dict[str, str] = {}

    def update(self, sim: Simulation) -> Pace:
        """Judge what the ticks before this one left undone, then read this step (once: both
        checks ask after every step)."""
        if sim.phase != "quiesce":  # nothing to judge before the ending
            self.read, self.facts = len(sim.trace), len(sim.ghost)
            return self
        if self.read == len(sim.trace):
            return self
        if sim.time > self.now:
            self.judge_tick()
            self.now = sim.time
        self.timed = self.timed or any(step.event[0] == "fire" for step in sim.trace[self.read:])
        self.read = len(sim.trace)
        for kind, _, peer, fact in sim.ghost[self.facts:]:
            self.on_fact(sim, kind, peer, fact)
        self.facts = len(sim.ghost)
        if self.establish or self.deliver:
            self.forget_given_up(sim)
        return self

    def on_fact(self, sim: Simulation, kind: str, peer: str, fact: dict) -> None:
        if kind == "commit":
            self.deliver.get(fact["index"], (None, 0, 0, set()))[3].discard(peer)
        elif kind == "established":
            self.establish.pop((peer, fact["epoch"]), None)
        elif kind == "synchronise" and _quorum_waits(sim, peer, fact["epoch"]):
            self.establish[peer, fact["epoch"]] = sim.time
        elif kind == "propose" and self.timed and _settled_before(sim, peer, fact["index"]):
            self.deliver[fact["index"]] = (peer, fact["epoch"], sim.time,
                                           set(ghosts(sim).ensemble))

    def forget_given_up(self, sim: Simulation) -> None:
        """A leader that gave its epoch up within the tick owes nothing more of it."""
        def leads(leader: str, epoch: int) -> bool:
            node = sim.nodes[leader]
            return node is not None and node.role == LEADING and node.epoch == epoch
        self.establish = {key: t for key, t in self.establish.items() if leads(*key)}
        self.deliver = {index: due for index, due in self.deliver.items() if leads(*due[:2])}

    def judge_tick(self) -> None:
        for (leader, epoch), when in sorted(self.establish.items()):
            self.problems.setdefault(
                "synchronised-by-messages",
                f"{leader} synchronised epoch {epoch} at t={when}, in the ending, with a quorum "
                f"of its followers waiting for its NEWLEADER, but had not established it when "
                f"the tick ended: it waited for a timer")
        for index, (leader, epoch, when, missing) in sorted(self.deliver.items()):
            if missing:
                self.problems.setdefault(
                    "settled-commit-by-messages",
                    f"{leader} proposed index {index} of epoch {epoch} at t={when} to a settled "
                    f"ensemble, but {', '.join(sorted(missing))} had not delivered it when the "
                    f"tick ended: it waited for a timer")
        self.establish, self.deliver = {}, {}


def _quorum_waits(sim: Simulation, leader: str, epoch: int) -> bool:
    """Whether, with `leader`, a quorum of peers waits for its NEWLEADER of `epoch`: each
    follows it in the synchronisation of that epoch and was counted in it (its ACKEPOCH with
    its current epoch was delivered to `leader`, as `one-count-per-epoch` reads the trace)."""
    counted = sim.invariant_state("zookeeper-epoch-counts", EpochCounts).update(sim).counted
    waiting = [peer for peer, node in servers(sim)
               if counted.get((peer, epoch), (None,))[0] == leader and node.role == FOLLOWING
               and node.leader == leader and node.phase == SYNC and node.epoch == epoch]
    return len(waiting) + 1 >= len(ghosts(sim).ensemble) // 2 + 1


def _settled_before(sim: Simulation, leader: str, index: int) -> bool:
    """Whether the ensemble was settled under `leader` when it proposed `index`: converged
    (`_ensemble_problem`), and every follower holding the leader's log before that index and
    counted by it among the followers it sends proposals to."""
    node = sim.nodes[leader]
    if _converged_on(sim) != (leader, node.epoch):
        return False
    before = node.log[:index]
    return all(server.log == before and peer in node.synced
               for peer, server in servers(sim) if peer != leader)


@state_invariant("synchronised-by-messages")
def synchronised_by_messages(sim: Simulation) -> str | None:
    """In the ending (everything healed and restarted, no pause, no fault: messages take no
    time), a leader that synchronises an epoch while a quorum, with itself, of its counted
    followers wait for its NEWLEADER establishes the epoch within that tick, or gives it up:
    NEWLEADER, the followers' fsync and ACK are messages, and nothing but a timer takes a
    follower out of that wait. The followers' retry timers only repeat what was lost; a
    leader that leaves synchronisation to them waits a RETRY, which no other check tells
    from a correct one."""
    return sim.invariant_state("zookeeper-pace", Pace).update(sim).problems.get(
        "synchronised-by-messages")


@state_invariant("settled-commit-by-messages")
def settled_commit_by_messages(sim: Simulation) -> str | None:
    """In the ending, once a timer has fired (so nothing sent before the ending is still in
    flight: a follower's old FOLLOWERINFO arriving late would make the leader synchronise it
    again), a transaction a leader proposes to a settled ensemble (every server in its
    broadcast, holding its whole log, counted by it) is delivered by every server within
    that tick: PROPOSAL, ACK, COMMIT are messages, which take no time there. The leader's
    heartbeat, a TICK later, only repeats the committed count for a follower that missed a
    COMMIT; nothing is lost in the ending."""
    return sim.invariant_state("zookeeper-pace", Pace).update(sim).problems.get(
        "settled-commit-by-messages")


class Showings:
    """What `sessions-settle` has read of the trace: when each session was last shown to a
    server by its client (a Connect, Ping or Request naming it, delivered)."""

    def __init__(self) -> None:
        self.read = 0  # trace steps read
        self.shown: dict[Zxid, int] = {}

    def update(self, sim: Simulation) -> Showings:
        for step in sim.trace[self.read:]:
            match step.detail if step.event[0] == "deliver" else None:
                case Connect(session) | Ping(session) | Request(session) if session is not None:
                    self.shown[session] = step.time
        self.read = len(sim.trace)
        return self


@history_invariant("sessions-settle")
def sessions_settle(sim: Simulation) -> Verdict:
    """At rest, every session is either in use or expired, and every client knows which
    (Hunt et al.: a session ends when the ensemble stops hearing from its client
    for the timeout; ZooKeeper's guide: the client library reconnects to the next server after
    a connection loss, keeping its session alive, and learns of an expiry when it does). Judged
    at the end of the ending's rest, which lasts REST: a session open in the committed tree
    (the model's, after the whole committed log) whose client no longer uses it (the client's
    `session` is another, or none) expires within EXPIRES of the later of its last showing to
    a server (`Showings`; its opening, if never shown) and the rest's start; and a client that
    still takes a session for its own learns of its expiry within LEARNS of its close
    committing (first delivered, from the ghost facts). A client library that gives its
    session up without telling its client, or never notices it died, leaves a process acting
    on a session (and the ephemeral lock node) it no longer has."""
    began = sim.rest_began()
    if began is None:
        return passed("sessions-settle", "no rest to judge")
    seen = ghosts(sim)
    shown = sim.invariant_state("zookeeper-showings", Showings).update(sim).shown
    paths = next((server.paths for _, server in servers(sim)), ())
    log = seen.committed_log()
    _, live = seen.model_state(len(log), paths)
    closed: dict[Zxid, int] = {}  # session -> when its first close committed
    for index, txn in enumerate(log):
        if isinstance(txn.value.op, CloseSession):
            closed.setdefault(txn.value.op.session, seen.committed_at[index])
    held = {node_id: node.session for node_id, node in sim.nodes.items()
            if isinstance(node, SessionClient) and node.session is not None}
    for session, owner in sorted(seen.owners.items()):
        opened = seen.proposed.get(session, (began, None))[0]  # a session is its opening's zxid
        since = max(shown.get(session, opened), began)
        if session in live and held.get(owner) != session and sim.time - since > EXPIRES:
            return violated("sessions-settle",
                            f"session {session!r} of {owner} is still open at t={sim.time}, "
                            f"though {owner} no longer uses it and last showed it to a server "
                            f"at t={since}: a session no one keeps alive expires within "
                            f"{EXPIRES} ticks")
    for client, session in sorted(held.items()):
        if session not in live and sim.time - closed.get(session, sim.time) > LEARNS:
            return violated("sessions-settle",
                            f"{client} still takes session {session!r} for its own at "
                            f"t={sim.time}, though its close committed at t={closed[session]}: "
                            f"a client learns of its session's expiry within {LEARNS} ticks")
    return passed("sessions-settle", f"{len(held)} sessions in use, every other one expired")


# --- what clients saw --------------------------------------------------------------------------


@history_invariant("session-order")
def session_order(sim: Simulation) -> Verdict:
    """Reads of a client never go back in time (versions of /x), and see its own writes."""
    ops = []
    for op in sim.operations():
        if op.status != "ok":
            continue
        if op.f in READS and op.result is not None:
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


@history_invariant("failed-writes-void")
def failed_writes_void(sim: Simulation) -> Verdict:
    """A write a client reports failed did not happen. A request whose answer never came
    (a connection loss, an expiry) may have taken effect: the client must say `info`, as
    ZooKeeper's ConnectionLoss leaves a write's outcome unknown. Judged per client by counting:
    the writes of its sessions that took effect in the committed log, as the model applies it
    (sequential nodes created under the paths its `seq` operations name, successful setData
    of /x), are no more than its `seq` and `incr` operations not reported failed (nor told
    bad-version, which made nothing). A request takes effect at most once: the tree refuses a
    request number its session already applied."""
    seen = ghosts(sim)
    ops = sim.operations()
    done = _writes_done(seen, sim, {op.args[0] for op in ops if op.f == "seq"})
    for process, made in sorted(done.items()):
        mine = [op for op in ops if op.process == process and op.f in ("seq", "incr")]
        said = [op for op in mine if op.status != FAIL and op.result != "bad-version"]
        if made > len(said):
            return violated("failed-writes-void",
                            f"{made} writes of {process}'s sessions took effect, but it "
                            f"reported only {len(said)} of its {len(mine)} writes as done or "
                            f"unknown: a write it reported failed happened",
                            [op.to_json() for op in mine if op.status == FAIL])
    return passed("failed-writes-void", f"the writes of {len(done)} clients accounted for")


def _writes_done(seen: Ghosts, sim: Simulation, seq_paths: set[str]) -> dict[str, int]:
    """Per client, how many of its `seq` and `incr` writes took effect in the committed log:
    its sessions are those the committed createSession transactions opened for it."""
    paths = next((server.paths for _, server in servers(sim)), ())
    log = seen.committed_log()
    seen.model_state(len(log), paths)
    done: dict[str, int] = {}
    for txn, outcome in zip(log, seen.outcomes):
        write, owner = txn.value, seen.owners.get(txn.value.session)
        if owner is not None and not isinstance(outcome, Err) and (
                isinstance(write.op, Create) and write.op.path in seq_paths
                or isinstance(write.op, SetData) and write.op.path == COUNTER):
            done[owner] = done.get(owner, 0) + 1
    return done


@history_invariant("lock-released")
def lock_released(sim: Simulation) -> Verdict:
    """After the run (everything healed and restarted), a fresh client gets the lock."""
    for op in sim.operations():
        if op.f == "lock" and op.status != "ok":
            return violated("lock-released", f"{op.process} asked for the lock at t={op.call_time} "
                            f"and never got it: {_lock_queue(sim)}", [op.to_json()])
    return passed("lock-released", "every lock request was granted")


@history_invariant("lock-holder-writes")
def lock_holder_writes(sim: Simulation) -> Verdict:
    """After the faults end, every lock holder is granted the lock and writes to the resource
    before the run stops (the ending stands by STAND_BY for it, before its fresh client asks
    for the lock it keeps): a lock its holder released, or lost with its session, goes to the
    next in line, so no contender is kept from it for good. Judged from the resource's log,
    stamped with its own clock: only a write stamped at least epsilon after the ending began
    surely came after it."""
    began = sim.ending_began(default=sim.time)
    resource = next(node for node in sim.nodes.values() if isinstance(node, ResourceServer))
    first = first_writes_since(resource.log, began, sim.epsilon)
    idle = [n for n in sim.servers if isinstance(sim.nodes[n], Locker) and n not in first]
    if not idle:
        return passed("lock-holder-writes", "; ".join(
            f"{a.holder} wrote under lock {a.generation!r} at t={a.time}"
            for a in first.values()) + f", after the ending began at t={began}")
    log = resource.log
    return violated("lock-holder-writes",
                    f"{' and '.join(idle)} never wrote to the resource in the "
                    f"{sim.time - began} ticks the ending ran after healing every fault at "
                    f"t={began} ({last_write(log)}): {_lock_queue(sim)}",
                    [attrs.asdict(a) for a in log[-3:]])


def _lock_queue(sim: Simulation) -> str:
    for _, server in servers(sim):
        if server.serving():
            names = server.tree.children("/lock")
            owners = [server.tree.get(f"/lock/{n}").stat.ephemeral_owner for n in names]
            return "/lock holds " + ", ".join(
                f"{n} ({'persistent' if o is None else f'session {o:#x}'})"
                for n, o in zip(names, owners))
    return "no server is serving"


@history_invariant("sync-reads-latest")
def sync_reads_latest(sim: Simulation) -> Verdict:
    """A read after sync sees every write acknowledged before the sync began (Hunt et al.,
    section 2.3: sync makes a server apply all writes pending when it was issued): the
    version of /x a sync returns is at least that of every increment completed before it."""
    ops = sim.operations()
    writes = [op for op in ops if op.f == "incr" and op.status == OK and isinstance(op.result, int)]
    syncs = [op for op in ops if op.f in ("sync", "sync-at") and op.status == OK]
    for sync in syncs:
        before = [w for w in writes if w.precedes(sync)]
        latest = max(before, key=lambda w: w.result, default=None)
        if latest is not None and (sync.result is None or sync.result[1] < latest.result):
            return violated("sync-reads-latest",
                            f"{sync.process} synced and read {COUNTER} at version "
                            f"{None if sync.result is None else sync.result[1]}, but version "
                            f"{latest.result} was acknowledged before the sync began",
                            [latest.to_json(), sync.to_json()])
    return passed("sync-reads-latest", f"{len(syncs)} syncs saw every write before them")


@history_invariant("replies-match-model")
def replies_match_model(sim: Simulation) -> Verdict:
    """What clients were told is what the committed transactions made, judged by content: a
    read (or sync) of /x returns a (data, version) /x had; a successful increment names a
    version of /x some committed transaction made (or says its conditional write lost the
    race: bad-version); a sequential node or a lock node is named under the parent asked
    for."""
    seen = ghosts(sim)
    states = _counter_states(sim, seen)
    for op in sim.operations():
        problem = _reply_problem(op, states) if op.status == OK else None
        if problem:
            return violated("replies-match-model", f"{op.process} {op.f}: {problem}",
                            [op.to_json()])
    return passed("replies-match-model", f"replies fit the {len(states)} states of {COUNTER}")


def _counter_states(sim: Simulation, seen: Ghosts) -> set[tuple]:
    """Every (data, version) /x had, in the model, along the committed log."""
    paths = next((server.paths for _, server in servers(sim)), ())
    seen.model_state(len(seen.committed_log()), paths)
    return {(nodes[COUNTER].data, nodes[COUNTER].stat.version)
            for nodes, _ in seen.states if COUNTER in nodes}


def _reply_problem(op: Operation, states: set[tuple]) -> str | None:
    if op.f in READS and op.result is not None \
            and tuple(op.result) not in states:
        return f"returned {tuple(op.result)}, which {COUNTER} never held"
    if op.f == "incr" and not isinstance(op.result, int) and op.result != "bad-version":
        return f"returned {op.result!r}: neither the version its write made nor bad-version"
    if op.f == "incr" and isinstance(op.result, int) and \
            op.result not in {version for _, version in states}:
        return f"returned version {op.result}, which no committed write made"
    prefix = {"seq": op.args[0] if op.args else None, "lock": "/lock/lock-"}.get(op.f)
    if prefix and not (isinstance(op.result, str) and op.result.startswith(prefix)
                       and op.result[len(prefix):].isdigit()):
        return f"was told {op.result!r}, not a sequential node {prefix}N"
    return None


@history_invariant("progress-at-quiescence")
def progress_at_quiescence(sim: Simulation) -> Verdict:
    """After the ending (everything healed, restarted and delivered): the fresh client's
    final operations succeeded (it synced through every server; the lock it asks for last is
    `lock-released`'s to judge), and the ensemble converged: one
    leader, every other server following it in the broadcast of its epoch."""
    ops: dict[str, list[Operation]] = {}
    for op in sim.operations():
        ops.setdefault(op.process, []).append(op)
    for client, f, args in sim.final_ops:
        done = [op for op in ops.get(client, ()) if (op.f, tuple(op.args)) == (f, tuple(args))]
        got = bool(done) and done[-1].status == OK
        if f == "lock" and not got:
            break  # lock-released's to judge; what comes after it waited for it
        if not got:
            return violated("progress-at-quiescence",
                            f"{client}'s final {f}{tuple(args)} did not succeed after the "
                            f"ending", [op.to_json() for op in done[-1:]])
    sentence = _ensemble_problem(sim)
    if sentence:
        return violated("progress-at-quiescence", f"at the end, {sentence}")
    return passed("progress-at-quiescence", "final operations done, ensemble converged")


# --- bounded recovery ----------------------------------------------------------------------

# How long after the faults end (the ending's heal and restarts, the last pause over) the
# ensemble may take to recover. The ending's messages take no time, so only timers count: a
# leader still choosing or synchronising an epoch with peers that went back to looking (they
# ignore its NEWEPOCH) waits out its patience, SYNC_LIMIT doubled twice; a leader that lost its
# followers, or that no quorum joined, steps down after SYNC_LIMIT; then election, discovery
# and synchronisation, each a RETRY at most (a vote, FOLLOWERINFO, ACKEPOCH repeated).
RECOVERY = (SYNC_LIMIT << 2) + SYNC_LIMIT + 3 * RETRY
# How long a client operation may then take to return: the client moves to a server that is
# ready, its session may have expired and need opening again, then its request, each a
# REQUEST_TIMEOUT at most. Not timed: taking the lock, which waits for the holders before it
# (lock-released's to judge), and standing by, which lasts what it asks.
RETURNS = 3 * REQUEST_TIMEOUT
UNTIMED = ("lock", "wait")


def _replicas_problem(sim: Simulation) -> str | None:
    """What keeps the replicas from being synchronised: the ensemble not converged, or a
    server whose last zxid or tree is not its leader's."""
    problem = _ensemble_problem(sim)
    if problem:
        return problem
    members = dict(servers(sim))
    chief = next(node_id for node_id, server in members.items() if server.role == LEADING)
    leader = members[chief]
    for node_id, server in sorted(members.items()):
        if server.log[-1:] != leader.log[-1:] or server.delivered != leader.delivered:
            return (f"{node_id} has logged {len(server.log)} transactions and applied "
                    f"{server.delivered}, where its leader {chief} has logged "
                    f"{len(leader.log)} and applied {leader.delivered}")
    return None


recovery_bounded = state_invariant("recovery-bounded", """After the faults end, within
RECOVERY ticks: one leader in broadcast, every server up and in the broadcast of its epoch
with the same last zxid and the same tree (as many transactions applied); and every client
operation but the lock and the stand-by returns within RETURNS of that (or of its call).""")(
    bounded_recovery("zookeeper-recovery", _replicas_problem, RECOVERY,
                     RETURNS, UNTIMED, "the ensemble"))


def _ensemble_problem(sim: Simulation) -> str | None:
    """Every server up, one leader, the others in the broadcast of its epoch: a follower still
    in the broadcast of an epoch its leader gave up is not. (That each caught up is the
    final syncs' to show, judged by `sync-reads-latest`: a transaction committed after them
    may still be reaching a follower through the leader's next heartbeat.)"""
    members = dict(servers(sim))
    down = [n for n in ghosts(sim).ensemble if n not in members]
    if down:
        return f"{', '.join(down)} not running"
    leaders = sorted(n for n, server in members.items() if server.role == LEADING)
    if len(leaders) != 1:
        return f"{len(leaders)} leaders: {leaders}"
    for node_id, server in sorted(members.items()):
        if server.phase != BROADCAST or server.leader != leaders[0]:
            return f"{node_id} is {server.role} ({server.phase}), not in " \
                   f"{leaders[0]}'s broadcast"
    epoch = members[leaders[0]].epoch  # the leader is in broadcast: its epoch is established
    stale = [node_id for node_id, server in sorted(members.items()) if server.epoch != epoch]
    if stale:
        return f"{stale[0]} is in the broadcast of epoch {members[stale[0]].epoch}, which " \
               f"{leaders[0]} gave up: it leads epoch {epoch}"
    return None
