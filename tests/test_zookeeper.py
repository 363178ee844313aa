"""ZooKeeper: the znode tree, the invariants on hand-made good and bad states, scripted schedules
that show each seeded bug's mechanism (and that the correct code survives the same schedule),
and short hunts."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import pytest

import implementations
from checker.node import Context
from checker.run import execute, new_simulation
from checker.sim import Simulation, Step
from checker.strategies import RandomWalk, Replay
from checker.system import System, Variant
from implementations.resource import Applied
from implementations.zookeeper import ROAMER, SYSTEM, Parts, checks
from implementations.zookeeper.client import Locker, ZkClient
from implementations.zookeeper.server import (
    Connect,
    NotReady,
    Ping,
    Pong,
    Reply,
    Write,
    ZooKeeperServer,
)
from implementations.zookeeper.zab import (
    BROADCAST,
    DISCOVERY,
    FOLLOWING,
    LEADING,
    LOOKING,
    SYNC,
    SYNC_LIMIT,
    UNCOUNTED,
    Ack,
    AckEpoch,
    Commit,
    Disconnect,
    FollowerInfo,
    NewEpoch,
    NewLeader,
    Proposal,
    Txn,
    Vote,
    Zxid,
    zxid,
)
from invariants.history import Event
from models.znodes import (
    CloseSession,
    Create,
    CreateSession,
    DataTree,
    Delete,
    Err,
    SetData,
    ZnodeTree,
    sequence_number,
)

DEFAULT = SYSTEM.config("default")

# --- the znode tree ---------------------------------------------------------------------------


def tree_with_session() -> tuple[DataTree, int]:
    tree = DataTree((("/lock", None), ("/x", 0)))
    session, _ = tree.apply(1, None, 0, CreateSession("c1", 1))
    return tree, session


def test_sequential_names_are_unique_and_increase() -> None:
    tree, s = tree_with_session()
    names = [tree.apply(2 + i, s, 1 + i, Create("/lock/n-", sequential=True))[0]
             for i in range(3)]
    assert names == ["/lock/n-0000000000", "/lock/n-0000000001", "/lock/n-0000000002"]
    tree.apply(5, s, 4, Delete(names[2]))
    again, _ = tree.apply(6, s, 5, Create("/lock/n-", sequential=True))
    assert sequence_number(again) == 4  # the parent's cversion counts deletes too
    assert tree.children("/lock") == ["n-0000000000", "n-0000000001", "n-0000000004"]


def test_conditional_set_data_and_versions() -> None:
    tree, s = tree_with_session()
    assert tree.apply(2, s, 1, SetData("/x", 1, version=0)) == (1, [("/x", "changed")])
    assert tree.apply(3, s, 2, SetData("/x", 2, version=0))[0] == Err("bad-version")
    assert tree.get("/x").data == 1 and tree.get("/x").stat.mzxid == 2
    assert tree.apply(4, s, 3, Delete("/x", version=0))[0] == Err("bad-version")
    assert tree.apply(5, s, 4, Delete("/x", version=1))[0] is None


def test_closing_a_session_deletes_its_ephemerals_and_fires_their_watches() -> None:
    tree, s = tree_with_session()
    path, _ = tree.apply(2, s, 1, Create("/lock/n-", ephemeral=True, sequential=True))
    assert tree.apply(3, s, 2, Create(path + "/child"))[0] == Err("no-children-for-ephemerals")
    _, events = tree.apply(4, None, 0, CloseSession(s))
    assert events == [(path, "deleted"), ("/lock", "child")]
    assert tree.get(path) is None and s not in tree.sessions
    # a request of the closed session arriving late creates nothing (ZOOKEEPER-1208)
    assert tree.apply(5, s, 3, Create("/lock/late", ephemeral=True))[0] == Err("session-expired")


def test_a_request_overtaken_by_a_later_one_of_its_session_is_refused() -> None:
    tree, s = tree_with_session()
    assert tree.apply(2, s, 2, SetData("/x", 5))[0] == 1
    assert tree.apply(3, s, 1, SetData("/x", 4))[0] == Err("stale-request")
    assert tree.get("/x").data == 5


def test_the_pure_model_applies_transactions_with_the_next_zxid() -> None:
    model = ZnodeTree((("/x", 0),))
    [(session, state)] = model.apply(model.initial(), "write", (None, 0, CreateSession("c", 1)))
    [(version, state)] = model.apply(state, "write", (session, 1, SetData("/x", 7, 0)))
    assert (session, version) == (1, 1)
    assert model.apply(state, "get", ("/x",)) == [((7, 1), state)]
    assert "zxid 2" in model.describe_state(state)


# --- invariants on hand-made states ------------------------------------------------------------


def fresh() -> Simulation:
    sim = new_simulation(SYSTEM, "correct", DEFAULT, seed=0)
    sim.start()
    return sim


def txn(epoch: int, counter: int) -> Txn:
    return Txn(zxid(epoch, counter), f"op{epoch}.{counter}")


def test_committed_prefix_flags_two_transactions_at_one_index() -> None:
    sim = fresh()
    sim.ghost += [("commit", 1, "z1", {"index": 0, "txn": txn(1, 1)}),
                  ("commit", 2, "z2", {"index": 0, "txn": txn(1, 1)})]
    assert checks.committed_prefix.check(sim) is None
    sim.ghost.append(("commit", 3, "z3", {"index": 0, "txn": txn(2, 1)}))
    assert "z3 delivered 0x200000001 at index 0" in checks.committed_prefix.check(sim)
    sim = fresh()
    sim.ghost += [("commit", 1, "z1", {"index": 0, "txn": txn(1, 1)}),
                  ("commit", 2, "z1", {"index": 1, "txn": txn(1, 1)})]
    assert "numbers its epoch's transactions" in checks.committed_prefix.check(sim)


@pytest.mark.parametrize("zxids", [((1, 1), (1, 3)), ((1, 2),), ((2, 4), (1, 5)),
                                   ((1, 1), (2, 2))], ids=["gap", "first", "back", "new-epoch"])
def test_committed_prefix_wants_each_epoch_numbered_from_one(zxids) -> None:
    sim = fresh()
    sim.ghost += [("commit", i, "z1", {"index": i, "txn": txn(*z)}) for i, z in enumerate(zxids)]
    assert "numbers its epoch's transactions 1, 2, 3" in checks.committed_prefix.check(sim)
    sim = fresh()
    sim.ghost += [("commit", i, "z1", {"index": i, "txn": txn(e, c)})
                  for i, (e, c) in enumerate(((1, 1), (1, 2), (3, 1), (3, 2)))]
    assert checks.committed_prefix.check(sim) is None


def test_committed_survives_compares_in_epoch_order() -> None:
    sim = fresh()
    sim.ghost += [("commit", 1, "z1", {"index": 0, "txn": txn(2, 1)}),
                  # a deposed leader learns late that its (older) epoch was established
                  ("established", 2, "z3", {"epoch": 1, "history": ()})]
    assert checks.committed_survives.check(sim) is None
    sim.ghost.append(("established", 3, "z2", {"epoch": 3, "history": ()}))
    assert "without 0x200000001" in checks.committed_survives.check(sim)


def test_one_leader_per_epoch() -> None:
    sim = fresh()
    sim.ghost += [("synchronise", 1, "z1", {"epoch": 1, "history": ()}),
                  ("synchronise", 2, "z2", {"epoch": 2, "history": ()})]
    assert checks.one_leader_per_epoch.check(sim) is None
    sim.ghost.append(("synchronise", 3, "z3", {"epoch": 1, "history": ()}))
    assert checks.one_leader_per_epoch.check(sim) == \
        "z1 and z3 both synchronised epoch 1, each with a quorum's ACKEPOCH (t=3)"


def test_one_count_per_epoch_flags_a_follower_counted_by_two_leaders_of_one_epoch() -> None:
    """z3 counts for z1 in epoch 1; its uncounted ACKEPOCH to z2, repeats to z1 and a counted
    one of epoch 2 to z2 are all fine; a counted ACKEPOCH of epoch 1 to z2 is not."""
    sim = fresh()
    deliver(sim, "z3", "z1", AckEpoch(1, 0, Zxid(0)), 10)
    deliver(sim, "z3", "z2", AckEpoch(1, UNCOUNTED, Zxid(0)), 20)
    deliver(sim, "z3", "z1", AckEpoch(1, 0, Zxid(0)), 30)
    deliver(sim, "z3", "z2", AckEpoch(2, 0, Zxid(0)), 40)
    assert checks.one_count_per_epoch.check(sim) is None
    deliver(sim, "z3", "z2", AckEpoch(1, 0, Zxid(0)), 50)
    assert checks.one_count_per_epoch.check(sim) == \
        "z3's ACKEPOCH of epoch 1 counted for z2 (t=50) after it had counted for z1 (t=10)"


def test_committed_durable_reads_the_disks_as_a_crash_would_leave_them() -> None:
    sim = fresh()
    t = txn(1, 1)
    sim.ghost.append(("commit", 1, "z1", {"index": 0, "txn": t}))
    sim.contexts["z1"].storage.put("log", (t,))
    sim.contexts["z2"].storage.put("log", (t,), synced=False)  # in the page cache only
    assert "on the disk of z1 only" in checks.committed_durable.check(sim)
    sim.contexts["z2"].storage.sync()
    assert checks.committed_durable.check(sim) is None


def test_ephemerals_owned_flags_an_ephemeral_of_a_closed_session() -> None:
    sim = fresh()
    server = sim.nodes["z1"]
    assert checks.ephemerals_owned.check(sim) is None
    server.tree.apply(1, None, 0, CreateSession("c1", 1))
    server.tree.apply(2, 1, 1, Create("/q/e", ephemeral=True))
    server.tree.sessions.pop(1)  # as if the close had forgotten its ephemerals
    server.delivered += 2
    assert checks.ephemerals_owned.check(sim) == "z1 holds ephemeral /q/e of closed session 0x1"


def test_monotone_tokens_reads_the_resource_log() -> None:
    sim = fresh()
    sim.nodes["r"].log = [Applied(1, "l2", 9, 9, None), Applied(2, "l1", None, 5, None)]
    assert "l1's write under lock generation 5 after l2's" in checks.monotone_tokens.check(sim)


def test_logs_from_leader_flags_a_log_no_leader_of_its_epoch_has() -> None:
    sim = fresh()
    assert checks.logs_from_leader.check(sim) is None  # nothing logged yet, in epoch 0
    sim.ghost += [("synchronise", 1, "z1", {"epoch": 2, "history": (zxid(1, 1),)}),
                  ("propose", 2, "z1", {"epoch": 2, "index": 1, "zxid": zxid(2, 1)})]
    z2 = sim.nodes["z2"]
    z2.current_epoch, z2.log = 2, [txn(1, 1), txn(2, 1)]
    assert checks.logs_from_leader.check(sim) is None
    z2.log.append(txn(1, 2))  # a proposal of epoch 1, arriving late, logged in epoch 2
    assert checks.logs_from_leader.check(sim) == (
        "z2 logged 0x100000002 at index 2, where z1, leader of epoch 2, logged nothing "
        "(z2's current epoch is 2)")
    z2.log[1:] = [txn(2, 2)]  # out of place
    assert "z2 logged 0x200000002 at index 1, where z1, leader of epoch 2, logged " \
           "0x200000001" in checks.logs_from_leader.check(sim)
    sim = fresh()
    sim.nodes["z3"].log = [txn(1, 1)]  # logged, but never synchronised with a leader
    assert checks.logs_from_leader.check(sim) == \
        "z3's log (1 long) is of epoch 0, which no leader synchronised"


def history(*events: tuple) -> Simulation:
    sim = fresh()
    sim.history = [Event(p, kind, f, value, t) for p, kind, f, value, t in events]
    return sim


def test_history_invariants_on_good_and_bad_histories() -> None:
    good = history(("c1", "invoke", "seq", ("/q/n-",), 0),
                   ("c1", "ok", "seq", "/q/n-0000000001", 1),
                   ("c2", "invoke", "seq", ("/q/n-",), 2),
                   ("c2", "ok", "seq", "/q/n-0000000002", 3),
                   ("c1", "invoke", "incr", ("/x",), 4), ("c1", "ok", "incr", 1, 5),
                   ("c1", "invoke", "read", ("/x",), 6), ("c1", "ok", "read", (1, 1), 7),
                   ("c3", "invoke", "lock", (), 8),
                   ("c3", "ok", "lock", "/lock/lock-0000000003", 9))
    for inv in (checks.sequential_names, checks.conditional_set, checks.session_order,
                checks.lock_released):
        assert inv.check(good).ok, inv.name
    backwards = history(("c1", "invoke", "seq", ("/q/n-",), 0),
                        ("c1", "ok", "seq", "/q/n-0000000002", 1),
                        ("c2", "invoke", "seq", ("/q/n-",), 2),
                        ("c2", "ok", "seq", "/q/n-0000000001", 3))
    assert checks.sequential_names.check(backwards).violated
    lost_update = history(("c1", "invoke", "incr", ("/x",), 0), ("c1", "ok", "incr", 1, 1),
                          ("c2", "invoke", "incr", ("/x",), 2), ("c2", "ok", "incr", 1, 3))
    assert checks.conditional_set.check(lost_update).violated
    stale = history(("c1", "invoke", "incr", ("/x",), 0), ("c1", "ok", "incr", 2, 1),
                    ("c1", "invoke", "read", ("/x",), 2), ("c1", "ok", "read", (1, 1), 3))
    assert checks.session_order.check(stale).violated
    # the roaming client moved its session to a server behind what it had read
    roamed_back = history(("m1", "invoke", "read-at", ("/x", "z1"), 0),
                          ("m1", "ok", "read-at", (2, 2), 1),
                          ("m1", "invoke", "read-at", ("/x", "z2"), 2),
                          ("m1", "ok", "read-at", (1, 1), 3))
    assert "went back in time" in checks.session_order.check(roamed_back).explanation
    stuck = history(("c3", "invoke", "lock", (), 0))
    assert checks.lock_released.check(stuck).violated


def committed(sim: Simulation, *writes: Write) -> Zxid:
    """Commit a session for c1 and then `writes` (of that session: None stands for it), in
    epoch 1; the session's name."""
    session = zxid(1, 1)
    txns = [Write(None, 1, CreateSession("c1", 1)),
            *(attrs.evolve(w, session=session) if w.session is None else w for w in writes)]
    sim.ghost += [("commit", i, "z1", {"index": i, "txn": Txn(zxid(1, i + 1), w)})
                  for i, w in enumerate(txns)]
    return session


@pytest.mark.parametrize("status, result, void", [
    ("fail", None, False), ("info", None, True), ("ok", 1, True), ("ok", "bad-version", False)])
def test_failed_writes_void_counts_what_took_effect(status, result, void) -> None:
    """c1's session made /x version 1 (and tried a setData that lost its race, which made
    nothing): only an incr reported failed, or told bad-version, is a lie."""
    sim = history(("c1", "invoke", "incr", ("/x",), 0), ("c1", status, "incr", result, 1))
    committed(sim, Write(None, 1, SetData("/x", 1, 0)), Write(None, 2, SetData("/x", 2, 0)))
    assert checks.failed_writes_void.check(sim).ok == void


def test_failed_writes_void_counts_sequential_creates_and_skips_refused_ones() -> None:
    sim = history(("c1", "invoke", "seq", ("/q/n-",), 0), ("c1", "fail", "seq", None, 1))
    committed(sim, Write(zxid(9, 9), 1, Create("/q/n-", "c1", sequential=True)))  # expired
    assert checks.failed_writes_void.check(sim).ok
    sim = history(("c1", "invoke", "seq", ("/q/n-",), 0), ("c1", "fail", "seq", None, 1))
    committed(sim, Write(None, 1, Create("/q/n-", "c1", sequential=True)))
    verdict = checks.failed_writes_void.check(sim)
    assert verdict.violated and verdict.explanation.startswith("1 writes of c1's sessions")


def test_closed_sessions_stay_closed_judges_answers_sent_after_the_close() -> None:
    """z1 applies c1's session, has a Pong in flight to c1, then applies the session's close:
    that Pong may still arrive; a later one, or a Reply but a refusal, may not."""
    sim = fresh()
    session = committed(sim)
    z1 = sim.nodes["z1"]
    z1.tree.apply(session, None, 0, CreateSession("c1", 1))
    z1.delivered = 1
    assert checks.closed_sessions_stay_closed.check(sim) is None
    sim.network.send("z1", "c1", Pong(session, 0))
    z1.tree.apply(zxid(1, 2), None, 0, CloseSession(session))
    z1.delivered = 2
    assert checks.closed_sessions_stay_closed.check(sim) is None
    deliver(sim, "z1", "c1", Pong(session, 0), 10)
    deliver(sim, "z1", "c1", Reply(session, 3, Err("session-expired"), zxid(1, 2)), 11)
    assert checks.closed_sessions_stay_closed.check(sim) is None
    deliver(sim, "z1", "c1", Pong(session, 1), 12)
    assert checks.closed_sessions_stay_closed.check(sim) == (
        f"c1 got {Pong(session, 1)!r} from z1 at t=12, sent after z1 had closed session "
        f"{session!r}")


# --- scripted schedules: a fast network, and faults at chosen moments -------------------------


def fast(sim: Simulation, until: Callable[[], bool], hold: Callable[[object], bool] = lambda m:
         False, steps: int = 20_000) -> bool:
    """Deliver every message (except those `hold` keeps in flight) before any timer fires,
    until `until()`; False if it never happens."""
    for _ in range(steps):
        if until():
            return True
        ready = [e for e in sim.deliverable()
                 if not hold(sim.network.in_flight[tuple(e[1:])].msg)]
        if ready:
            sim.execute(ready[0])
        elif sim.enabled("fire"):
            sim.execute(sim.enabled("fire")[0])
        else:
            return False
    return False


def servers(sim: Simulation) -> dict[str, ZooKeeperServer]:
    return {n: sim.nodes[n] for n in ("z1", "z2", "z3") if sim.nodes[n] is not None}


def established(sim: Simulation) -> str | None:
    """The leader, once it and both followers are in broadcast."""
    up = servers(sim)
    leaders = [n for n, s in up.items() if s.role == LEADING]
    if len(up) == 3 and leaders and all(s.phase == BROADCAST for s in up.values()):
        return leaders[0]
    return None


@pytest.mark.parametrize("variant", ["correct", "ack-newleader-before-persist"])
def test_a_follower_acking_newleader_from_memory_loses_a_committed_transaction(variant):
    """Leader L with followers F and G. F crashes; L proposes t, whose PROPOSAL to G stays in
    flight; F restarts and rejoins: L's NEWLEADER carries t and F's acknowledgement commits it.
    The buggy F had not fsynced it: crash F and L, and G and F elect a leader without t."""
    sim = new_simulation(SYSTEM, variant, DEFAULT, seed=0)
    sim.start()
    assert fast(sim, lambda: established(sim) is not None)
    leader = established(sim)
    f, g = [n for n in ("z1", "z2", "z3") if n != leader]
    sim.execute(("crash", f))
    to_g = lambda m: isinstance(m, Proposal)  # noqa: E731
    outstanding = lambda: len(sim.nodes[leader].log) > sim.nodes[leader].committed  # noqa: E731
    assert fast(sim, outstanding, hold=to_g)
    t = sim.nodes[leader].log[-1]
    sim.execute(("restart", f))
    assert fast(sim, lambda: sim.nodes[leader].committed == len(sim.nodes[leader].log),
                hold=to_g)
    if variant == "correct":
        assert checks.committed_durable.check(sim) is None
    else:
        assert f"{t.zxid!r}" in checks.committed_durable.check(sim)
    # the loss itself: F and L crash; G (which never got t) and F elect a leader
    sim.execute(("crash", f))
    sim.execute(("crash", leader))
    sim.network.in_flight = {k: e for k, e in sim.network.in_flight.items() if e.dst != g}
    sim._ready_stale = True
    sim.execute(("restart", f))
    assert fast(sim, lambda: any(s.role == LEADING and s.phase == BROADCAST
                                 for s in servers(sim).values()))
    problem = checks.committed_survives.check(sim)
    assert (problem is None) == (variant == "correct"), problem


def holding(sim: Simulation, locker: str) -> bool:
    node = sim.nodes[locker]
    return isinstance(node, Locker) and node.step == "held"


@pytest.mark.parametrize("variant", ["correct", "no-fencing-token"])
def test_a_holder_paused_past_its_session_writes_after_the_next_holder(variant):
    """l1 holds the lock and stalls for longer than its session timeout; its session expires,
    its lock node goes, l2 takes the lock and writes; l1 wakes up and writes."""
    sim = new_simulation(SYSTEM, variant, DEFAULT, seed=0)
    sim.start()
    assert fast(sim, lambda: holding(sim, "l1"))
    sim.execute(("pause", "l1", DEFAULT.max_pause))
    stalled = sim.nodes["l1"].czxid
    fast(sim, lambda: checks.monotone_tokens.check(sim) is not None or sim.time > 10_000)
    assert "l2" in [a.holder for a in sim.nodes["r"].log]  # l2 took the lock meanwhile
    problem = checks.monotone_tokens.check(sim)
    if variant == "correct":  # l1 saw it had lost its session, and wrote nothing as holder
        assert problem is None and stalled not in [a.generation for a in sim.nodes["r"].log]
    else:
        assert f"l1's write under lock generation {stalled!r}" in problem


@pytest.mark.parametrize("variant", ["correct", "persistent-lock-node"])
def test_a_lock_node_that_outlives_its_holder_blocks_the_lock_forever(variant):
    sim = new_simulation(SYSTEM, variant, DEFAULT, seed=0)
    sim.start()
    assert fast(sim, lambda: holding(sim, "l1"))
    sim.execute(("crash", "l1"))
    sim.quiesce(DEFAULT.quiesce_horizon, DEFAULT.quiesce_steps)
    verdict = checks.lock_released.check(sim)
    assert verdict.ok == (variant == "correct"), verdict.explanation
    if not verdict.ok:
        assert "(persistent)" in verdict.explanation


# --- sessions and lock holders ------------------------------------------------------------------


def leading(sim: Simulation, leader: str, epoch: int, follower: str, client: str,
            session: Zxid) -> ZooKeeperServer:
    """Make `leader` lead `epoch` in broadcast, with `follower` synchronised and `client`
    connected to it with `session`."""
    server = sim.nodes[leader]
    server.role, server.phase, server.epoch = LEADING, BROADCAST, epoch
    server.synced = {follower: 0}
    server.connections[client] = session
    return server


def deliver(sim: Simulation, src: str, dst: str, msg: object, time: int) -> None:
    """As if `msg` had reached `dst` at `time` (the check reads what the trace says)."""
    sim.trace.append(Step(("deliver", src, dst, len(sim.trace)), time, msg))


def expire(sim: Simulation, leader: str, session: Zxid, proposed: int) -> None:
    """`leader` proposes closing `session` at `proposed`, and the close commits."""
    close = Txn(zxid(1, 1), Write(None, 0, CloseSession(session)))
    sim.ghost += [("propose", proposed, leader, {"epoch": 1, "index": 0, "zxid": close.zxid}),
                  ("commit", proposed + 1, leader, {"index": 0, "txn": close})]


@pytest.mark.parametrize("heard_by, last_heard, early", [
    (Ping, 100, True), (Ack, 400, True), (Ping, 99, False)])
def test_session_kept_alive_flags_a_session_closed_while_its_client_was_heard(
        heard_by, last_heard, early) -> None:
    """z1 leads epoch 1 and proposes closing a session at t=1300: early if it heard from the
    client (directly, or through z2's acknowledgement) SESSION_TIMEOUT or less before."""
    sim = fresh()
    session = zxid(1, 5)
    leading(sim, "z1", 1, "z2", "c1", session)
    deliver(sim, "z3", "z1", Ack(1, 0, (session,)), 1000)  # z3 is not in z1's broadcast
    deliver(sim, "z2", "z1", Ack(0, 0, (session,)), 1000)  # an Ack of an older epoch
    if heard_by is Ping:
        deliver(sim, "c1", "z1", Ping(session), last_heard)
    else:
        deliver(sim, "z2", "z1", Ack(1, 0, (session,)), last_heard)
    deliver(sim, "z2", "z1", Ack(1, 0, (session,)), 1300)  # as it decided: may come after
    expire(sim, "z1", session, 1300)
    problem = checks.session_kept_alive.check(sim)
    if early:
        assert problem == (f"z1 proposed closing session {session!r} (0x100000001) at "
                           f"t=1300, {1300 - last_heard} ticks after it last heard from the "
                           f"client at t={last_heard}: the session timeout is 1200")
    else:
        assert problem is None


def test_session_kept_alive_ignores_pings_on_a_connection_the_leader_dropped() -> None:
    sim = fresh()
    session = zxid(1, 5)
    leading(sim, "z1", 1, "z2", "c1", session).connections.clear()
    deliver(sim, "c1", "z1", Ping(session), 1000)
    expire(sim, "z1", session, 1300)
    assert checks.session_kept_alive.check(sim) is None


class LeaderDeafToFollowerPings(ZooKeeperServer):
    """Broken: the leader ignores the sessions its followers' acknowledgements list, so a
    client connected to a follower loses its session while it pings."""

    def on_touched(self, ctx: Context, sessions: tuple[Zxid, ...]) -> None:
        pass


def test_a_leader_deaf_to_follower_pings_expires_live_sessions() -> None:
    system = with_server(LeaderDeafToFollowerPings)
    found = next(r for r in (execute(system, "mutant", DEFAULT, seed,
                                     RandomWalk(seed, DEFAULT.max_pause)) for seed in range(10))
                 if r.verdict.violated)
    assert found.verdict.invariant == "session-kept-alive", found.verdict


class ForgetfulClient(ZkClient):
    """Broken: after a connection loss the client stays where it was, without reconnecting,
    until its next operation: its session, no longer pinged, expires unbeknown to it."""

    def session_lost(self, ctx: Context, expired: bool) -> None:
        if self.op is not None and self.op[0] in ("lock", "sync-at"):
            self.abandon(ctx)
            return
        if self.op is not None and self.op[0] != "wait":
            self.complete(ctx, "info" if self.op[0] == "seq" or self.step == "set" else "fail")
        if expired:
            self.session = None


def test_sessions_settle_finds_a_client_that_never_learns_its_session_expired(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(implementations.zookeeper, "ZkClient", ForgetfulClient)
    found = next(r for r in (execute(SYSTEM, "correct", DEFAULT, seed,
                                     RandomWalk(seed, DEFAULT.max_pause)) for seed in range(10))
                 if r.verdict.violated)
    assert found.verdict.invariant == "sessions-settle", found.verdict
    assert "still takes session" in found.verdict.explanation


def test_sessions_settle_wants_a_session_no_client_uses_expired_at_rest() -> None:
    """A correct run rests and settles; a session opened for c1 that c1 never used (committed
    at the rest's start, as if its Connected were lost) must be gone by the rest's end."""
    result = execute(SYSTEM, "correct", DEFAULT, 0, RandomWalk(0, DEFAULT.max_pause))
    sim = result.sim
    began = sim.rest_began()
    assert result.verdict.ok and began is not None and sim.time - began > checks.EXPIRES
    assert checks.sessions_settle.check(sim).ok
    seen = checks.ghosts(sim)
    index = len(seen.committed_log())
    last = seen.committed_log()[-1].zxid
    orphan = Txn(Zxid(last + 1), Write(None, 99, CreateSession("c1", 99)))
    sim.ghost.append(("commit", began, "z1", {"index": index, "txn": orphan}))
    verdict = checks.sessions_settle.check(sim)
    assert verdict.violated and f"session {orphan.zxid!r} of c1 is still open" in \
        verdict.explanation, verdict


def test_ensemble_kept_at_rest_wants_the_leader_it_settled_on_until_the_end() -> None:
    """A correct run settles at rest and keeps its leader; the same run with its leader found
    looking afterwards, or a follower gone over to another epoch, is an election nothing
    called for."""
    result = execute(SYSTEM, "correct", DEFAULT, 0, RandomWalk(0, DEFAULT.max_pause))
    sim = result.sim
    assert result.verdict.ok and checks.ensemble_kept_at_rest.check(sim) is None
    leader, epoch, since = sim.invariant_state("zookeeper-settled", checks.Settled).under
    assert since >= sim.rest_began()
    follower = next(s for n, s in servers(sim).items() if n != leader)
    follower.epoch = epoch + 1
    assert checks.ensemble_kept_at_rest.check(sim) == (
        f"the ensemble had settled at rest under {leader} in epoch {epoch} at t={since}, but "
        f"at t={sim.time} {follower.id} is in the broadcast of epoch {epoch + 1}, which "
        f"{leader} gave up: it leads epoch {epoch}, with no fault and no request")
    follower.epoch = epoch
    sim.nodes[leader].role = LOOKING
    assert "0 leaders: []" in checks.ensemble_kept_at_rest.check(sim)


def test_new_epoch_from_its_leader_wants_the_sender_leading_that_epoch() -> None:
    """z1 leads and chooses epoch 1 with z2: its NEWEPOCH passes, and so does a duplicate of
    it once z1 gave the bid up (a copy, not a send). A NEWEPOCH sent by a looking peer, or of
    an epoch other than the one its sender leads, does not."""
    sim = fresh()
    leader, ctx = sim.nodes["z1"], sim.contexts["z1"]
    leader.lead(ctx)
    leader.on_follower_info(ctx, "z2", 0)  # a quorum: NEWEPOCH(1) to z2
    assert checks.new_epoch_from_its_leader.check(sim) is None
    sent = next(e for e in sim.network.in_flight.values() if e.msg == NewEpoch(1))
    leader.on_follower_info(ctx, "z3", 2)  # z3 promised epoch 2: z1 gives way, sends none
    assert leader.role == LOOKING and checks.new_epoch_from_its_leader.check(sim) is None
    sim.execute(("duplicate", *sent.key))
    assert checks.new_epoch_from_its_leader.check(sim) is None
    sim = fresh()  # every peer looking
    sim.contexts["z2"].send("z3", NewEpoch(1))
    assert checks.new_epoch_from_its_leader.check(sim) == (
        "z2 sent NEWEPOCH(1) to z3 at t=0, though it is looking: only the leader of an epoch "
        "proposes it")
    sim = fresh()
    leader, ctx = sim.nodes["z1"], sim.contexts["z1"]
    leader.lead(ctx)
    leader.on_follower_info(ctx, "z2", 0)
    ctx.send("z3", NewEpoch(2))
    assert "though it leads epoch 1" in checks.new_epoch_from_its_leader.check(sim)


class Muted:
    """A node's context that loses what it sends of one message type."""

    def __init__(self, ctx: Context, kind: type) -> None:
        self.ctx, self.kind = ctx, kind

    def __getattr__(self, name: str) -> object:
        return getattr(self.ctx, name)

    def send(self, dst: str, msg: object) -> None:
        if not isinstance(msg, self.kind):
            self.ctx.send(dst, msg)


class NewLeaderOnRetry(ZooKeeperServer):
    """Slow: a leader that synchronises sends its quorum no NEWLEADER; each follower's
    ACKEPOCH, repeated every RETRY, brings it (the leader answers a late ACKEPOCH with it)."""

    def on_ack_epoch(self, ctx: Context, src: str, position: tuple) -> None:
        super().on_ack_epoch(Muted(ctx, NewLeader) if self.phase == DISCOVERY else ctx, src,
                             position)


class DeliversOnHeartbeat(ZooKeeperServer):
    """Slow: a follower ignores COMMIT and delivers on the leader's next heartbeat, which
    carries how far it committed."""

    def on_leader_message(self, ctx: Context, src: str, msg: object) -> None:
        if not isinstance(msg, Commit):
            super().on_leader_message(ctx, src, msg)


@pytest.mark.parametrize("server, invariant", [
    (NewLeaderOnRetry, "synchronised-by-messages"),
    (DeliversOnHeartbeat, "settled-commit-by-messages"),
], ids=["newleader-on-retry", "delivers-on-heartbeat"])
def test_an_ending_that_waits_for_timers_is_reported(server, invariant) -> None:
    """Only slower, and correct otherwise: what no other check tells from a correct server."""
    system = with_server(server)
    found = next(r for r in (execute(system, "mutant", DEFAULT, seed,
                                     RandomWalk(seed, DEFAULT.max_pause)) for seed in range(20))
                 if r.verdict.violated)
    assert found.verdict.invariant == invariant, found.verdict
    assert "it waited for a timer" in found.verdict.explanation


def test_lock_holder_writes_wants_each_holder_to_write_after_the_ending_began() -> None:
    sim = fresh()
    sim.trace.append(Step(("heal",), 1000, phase="quiesce"))
    sim.nodes["r"].log = [Applied(900, "l1", 7, 7, None), Applied(1000, "l2", 8, 8, None)]
    verdict = checks.lock_holder_writes.check(sim)
    assert verdict.violated and "l1 never wrote to the resource" in verdict.explanation
    sim.nodes["r"].log.append(Applied(1500, "l1", 9, 9, None))
    assert checks.lock_holder_writes.check(sim).ok


class DeafLocker(Locker):
    """Broken: a lock holder that ignores every message, so it never takes the lock."""

    def on_message(self, ctx: Context, src: str, msg: object) -> None:
        pass


def test_a_lock_holder_that_never_takes_the_lock_is_reported() -> None:
    system = attrs.evolve(SYSTEM, variants={"mutant": Variant("mutant",
                                                              Parts(locker=DeafLocker))})
    result = execute(system, "mutant", DEFAULT, 0, RandomWalk(0, DEFAULT.max_pause))
    assert result.verdict.invariant == "lock-holder-writes", result.verdict
    assert "l1 and l2 never wrote" in result.verdict.explanation


# --- progress -----------------------------------------------------------------------------------


class DeafServer(ZooKeeperServer):
    """Drops every message: no election, no session, nothing."""

    def on_message(self, ctx: Context, src: str, msg: object) -> None:
        pass


class LeaderIgnoresWrites(ZooKeeperServer):
    """Elects and synchronises, but the leader never proposes a client's write."""

    def propose(self, ctx: Context, value: object) -> None:
        if not (isinstance(value, Write) and value.session is not None):
            super().propose(ctx, value)


def with_server(server: type[ZooKeeperServer]) -> System:
    return attrs.evolve(SYSTEM, variants={"mutant": Variant("mutant", Parts(server=server))})


@pytest.mark.parametrize("server", [DeafServer, LeaderIgnoresWrites], ids=["deaf", "no-writes"])
def test_an_ensemble_that_does_nothing_useful_is_reported(server) -> None:
    system = with_server(server)
    found = next(r for r in (execute(system, "mutant", DEFAULT, seed,
                                     RandomWalk(seed, DEFAULT.max_pause)) for seed in range(5))
                 if r.verdict.violated)
    assert found.verdict.invariant in ("recovery-bounded", "progress-at-quiescence",
                                       "lock-released"), found.verdict


def test_progress_needs_every_server_in_the_leaders_broadcast() -> None:
    result = execute(SYSTEM, "correct", DEFAULT, 0, RandomWalk(0, DEFAULT.max_pause))
    assert checks.progress_at_quiescence.check(result.sim).ok
    follower = next(s for s in servers(result.sim).values() if s.role != LEADING)
    follower.epoch -= 1  # as if it had missed that its leader gave that epoch up
    verdict = checks.progress_at_quiescence.check(result.sim)
    assert verdict.violated and f"which {follower.leader} gave up" in verdict.explanation
    follower.epoch += 1
    follower.phase = "sync"
    verdict = checks.progress_at_quiescence.check(result.sim)
    assert verdict.violated and "broadcast" in verdict.explanation


def test_trees_match_model_compares_each_server_at_its_own_zxid() -> None:
    sim = fresh()
    assert checks.trees_match_model.check(sim) is None
    session = Write(None, 1, CreateSession("c1", 1))
    sim.ghost.append(("commit", 1, "z1", {"index": 0, "txn": Txn(zxid(1, 1), session)}))
    server = sim.nodes["z1"]
    server.tree.apply(zxid(1, 1), None, 1, session.op)
    server.delivered = 1
    assert checks.trees_match_model.check(sim) is None
    server.tree.apply(zxid(1, 2), zxid(1, 1), 1, Create("/q/n-", sequential=True))
    server.delivered = 2  # applied, never committed
    assert "z1 has applied 2 transactions, but only 1 are committed" in \
        checks.trees_match_model.check(sim)
    server.delivered = 1  # back at the committed zxid, with the uncommitted node still there
    assert "z1's tree after 1 transactions is not the committed one: /q is" in \
        checks.trees_match_model.check(sim)


def test_sync_reads_latest_and_replies_match_model_on_histories() -> None:
    fine = history(("c1", "invoke", "incr", ("/x",), 0), ("c1", "ok", "incr", 1, 1),
                   ("c2", "invoke", "sync", ("/x",), 2), ("c2", "ok", "sync", (1, 1), 3))
    assert checks.sync_reads_latest.check(fine).ok
    stale = history(("c1", "invoke", "incr", ("/x",), 0), ("c1", "ok", "incr", 1, 1),
                    ("c2", "invoke", "sync", ("/x",), 2), ("c2", "ok", "sync", (0, 0), 3))
    verdict = checks.sync_reads_latest.check(stale)
    assert verdict.violated and "version 1 was acknowledged before the sync began" in \
        verdict.explanation
    concurrent = history(("c1", "invoke", "incr", ("/x",), 0),
                         ("c2", "invoke", "sync", ("/x",), 1), ("c1", "ok", "incr", 1, 2),
                         ("c2", "ok", "sync", (0, 0), 3))
    assert checks.sync_reads_latest.check(concurrent).ok
    invented = history(("c2", "invoke", "read", ("/x",), 0), ("c2", "ok", "read", (5, 1), 1))
    verdict = checks.replies_match_model.check(invented)
    assert verdict.violated and "(5, 1), which /x never held" in verdict.explanation
    misnamed = history(("c2", "invoke", "seq", ("/q/n-",), 0),
                       ("c2", "ok", "seq", "/lock/lock-0000000001", 1))
    assert checks.replies_match_model.check(misnamed).violated
    assert checks.replies_match_model.check(history(
        ("c2", "invoke", "read", ("/x",), 0), ("c2", "ok", "read", (0, 0), 1))).ok
    unwritten = history(("c1", "invoke", "incr", ("/x",), 0), ("c1", "ok", "incr", (0, 0), 1))
    assert "neither the version its write made" in \
        checks.replies_match_model.check(unwritten).explanation


def test_the_roaming_client_reads_through_servers_that_have_what_it_saw() -> None:
    sim = fresh()
    moves = sim.workload[ROAMER]
    assert moves and all(f == "read-at" and server in ("z1", "z2", "z3")
                         for f, (_, server) in moves)
    assert fast(sim, lambda: established(sim) is not None)
    z1 = sim.nodes["z1"]
    z1.on_connect(sim.contexts["z1"], ROAMER, Connect(None, zxid(9, 1), attempt=7))
    told = [e.msg for e in sim.network.in_flight.values() if e.src == "z1" and e.dst == ROAMER]
    assert told == [NotReady(7)]  # behind what the client saw: it must not take the session


def test_a_leader_gives_way_to_a_follower_that_promised_a_later_epoch() -> None:
    """Only to a later promise: a follower rejoining with the leader's own epoch (it
    restarted, or lost the leader for a while) is synchronised again, not a reason to elect."""
    sim = fresh()
    assert fast(sim, lambda: established(sim) is not None)
    leader = sim.nodes[established(sim)]
    follower = next(z for z in ("z1", "z2", "z3") if z != leader.id)
    sim.network.in_flight.clear()
    leader.on_follower_info(sim.contexts[leader.id], follower, leader.epoch)
    assert leader.role == LEADING
    assert NewEpoch(leader.epoch) in [e.msg for e in sim.network.in_flight.values()]
    leader.on_follower_info(sim.contexts[leader.id], "z9", leader.epoch + 1)
    assert leader.role != LEADING


def test_a_peer_whose_own_bid_lost_may_join_an_older_epoch() -> None:
    sim = fresh()
    peer = sim.nodes["z1"]
    peer.accepted, peer.current_epoch = (5, "z1"), 1  # its bid for epoch 5 went nowhere
    assert peer.may_join("z2", 3)
    peer.promised = (4, "z3")  # but before its bid it acknowledged z3's NEWEPOCH(4)
    assert not peer.may_join("z2", 3) and peer.may_join("z2", 4)
    peer.promised = (0, None)
    peer.accepted = (5, "z3")  # a promise to z3's epoch 5 still binds it
    assert not peer.may_join("z2", 3) and peer.may_join("z2", 5)  # not yet synchronised
    peer.current_epoch = 5  # it took z3's history of epoch 5: bound to z3 for that epoch
    assert not peer.may_join("z2", 5) and peer.may_join("z3", 5) and peer.may_join("z2", 6)


def test_epoch_promises_kept_reads_each_disk_and_skips_own_bids() -> None:
    sim = fresh()
    disk = sim.contexts["z2"].storage
    for accepted in [(2, "z3"), (3, "z2"), (2, "z1")]:  # a bid of its own promises nothing
        disk.put("accepted", accepted)
        sim.time += 1
        assert checks.epoch_promises_kept.check(sim) is None
    disk.put("accepted", (1, "z1"))
    sim.time += 1
    assert checks.epoch_promises_kept.check(sim) == \
        "z2 accepted epoch 1 from z1 (t=4) after it had accepted epoch 2 from z1 (t=3)"


class ForgetsPromiseOnBid(ZooKeeperServer):
    """Issue #23's defect: the epoch accepted from another leader is not kept apart, so a bid
    of one's own that overwrites it in `accepted` releases the promise."""

    def accept_epoch(self, ctx: Context, epoch: int, leader: str) -> None:
        self.accepted = (epoch, leader)
        ctx.storage.put("accepted", self.accepted)


def bid_and_give_up(sim: Simulation) -> ZooKeeperServer:
    """z2 acknowledges z3's NEWEPOCH(2), then bids to lead (epoch 3, chosen with z1) and
    gives the bid up; z1 now leads, still choosing its epoch."""
    z2, ctx = sim.nodes["z2"], sim.contexts["z2"]
    steps = [lambda: z2.follow(ctx, "z3"), lambda: z2.on_message(ctx, "z3", NewEpoch(2)),
             lambda: z2.lead(ctx), lambda: z2.on_follower_info(ctx, "z1", 0),
             lambda: z2.look(ctx),
             lambda: z2.on_message(ctx, "z1", Vote(9, "z1", 0, Zxid(0), LEADING))]
    for step in steps:  # the check reads the disks after every step, as in a run
        step()
        assert checks.epoch_promises_kept.check(sim) is None
    assert z2.accepted == (3, "z2") and z2.role == FOLLOWING and z2.leader == "z1"
    return z2


def test_a_peer_whose_bid_lost_refuses_an_epoch_below_its_promise() -> None:
    """Zab: a follower that acknowledged NEWEPOCH(e) never accepts NEWEPOCH(e') with e' < e.
    Its own bid in between changes nothing (seen in a hunt: correct seed 1642)."""
    sim = fresh()
    z2 = bid_and_give_up(sim)
    z2.on_message(sim.contexts["z2"], "z1", NewEpoch(1))  # late: z1 chose it without z2
    assert z2.role == LOOKING and z2.accepted == (3, "z2")
    assert checks.epoch_promises_kept.check(sim) is None
    sim.network.in_flight.clear()
    z2.on_message(sim.contexts["z2"], "z1", Vote(9, "z1", 0, Zxid(0), LEADING, led=1))
    sent = [e.msg for e in sim.network.in_flight.values() if e.dst == "z1"]
    assert z2.role == LOOKING and FollowerInfo(3) in sent  # z1 must choose above it
    mutant = new_simulation(with_server(ForgetsPromiseOnBid), "mutant", DEFAULT, seed=0)
    mutant.start()
    z2 = bid_and_give_up(mutant)
    z2.on_message(mutant.contexts["z2"], "z1", NewEpoch(1))
    assert z2.accepted == (1, "z1")
    assert checks.epoch_promises_kept.check(mutant) == \
        "z2 accepted epoch 1 from z1 (t=0) after it had accepted epoch 2 from z3 (t=0)"


def test_a_peer_bound_to_a_later_epoch_tells_an_older_leader_to_give_way() -> None:
    sim = fresh()
    peer = sim.nodes["z2"]
    peer.accepted = (6, "z3")  # promised z3's epoch 6; z1 now leads epoch 5
    sim.network.in_flight.clear()
    peer.on_message(sim.contexts["z2"], "z1", Vote(9, "z1", 5, zxid(5, 3), LEADING, led=5))
    sent = [e.msg for e in sim.network.in_flight.values() if e.dst == "z1"]
    assert FollowerInfo(6) in sent and peer.role != "following"


def test_a_follower_counts_for_the_first_leader_it_promised_an_epoch_to() -> None:
    sim = fresh()
    z3, ctx = sim.nodes["z3"], sim.contexts["z3"]
    z3.follow(ctx, "z1")
    z3.on_message(ctx, "z1", NewEpoch(1))
    assert z3.epoch_ack == AckEpoch(1, 0, Zxid(0))  # its first promise of epoch 1: it counts
    z3.look(ctx)
    z3.follow(ctx, "z2")
    z3.on_message(ctx, "z2", NewEpoch(1))  # z1 may have given up: z2 may have it, uncounted
    assert z3.phase == SYNC and z3.epoch_ack == AckEpoch(1, UNCOUNTED, Zxid(0))
    sim.network.in_flight.clear()
    z3.follower_retry(ctx)  # repeated as it was
    assert [e.msg for e in sim.network.in_flight.values()] == [z3.epoch_ack]
    z3.look(ctx)
    z3.follow(ctx, "z1")
    z3.on_message(ctx, "z1", NewEpoch(1))  # back to z1: it counted for z1 already
    assert z3.epoch_ack == AckEpoch(1, 0, Zxid(0)) and z3.promised == (1, "z1")
    z2, ctx2 = sim.nodes["z2"], sim.contexts["z2"]
    z2.lead(ctx2)
    z2.on_follower_info(ctx2, "z3", 0)  # a late FOLLOWERINFO: z2 chooses epoch 1 too
    z2.on_message(ctx2, "z3", AckEpoch(1, UNCOUNTED, Zxid(0)))
    assert z2.phase == DISCOVERY  # not a quorum: z3 counts for z1
    z2.on_message(ctx2, "z1", AckEpoch(1, 0, Zxid(0)))
    assert z2.phase == SYNC and set(z2.epoch_acks) == {"z1", "z2"}
    sim.network.in_flight.clear()
    z2.on_message(ctx2, "z3", AckEpoch(1, UNCOUNTED, Zxid(0)))  # synchronised all the same
    assert [e.msg for e in sim.network.in_flight.values()] == [NewLeader(1, ())]


class CountsForTwoLeaders(ZooKeeperServer):
    """Issue #23's defect: a follower's ACKEPOCH counts for every leader of an epoch it may
    join, so two leaders can synchronise one epoch."""

    def counts_for(self, leader: str, epoch: int) -> bool:
        return True


def two_bids_for_epoch_one(sim: Simulation) -> None:
    """z1's own bid for epoch 1 synchronises with z3, but its NEWLEADER is lost; z3 gives z1
    up, and z2, choosing epoch 1 too from z3's late FOLLOWERINFO(0), leads it with z3; z1
    gives its bid up. Then the ending: everything delivered, timers in order."""
    z1, z2, z3 = (sim.nodes[n] for n in ("z1", "z2", "z3"))
    c1, c2, c3 = (sim.contexts[n] for n in ("z1", "z2", "z3"))
    sim.network.in_flight.clear()
    z3.follow(c3, "z2")
    late = FollowerInfo(z3.accepted[0])  # its FOLLOWERINFO to z2, which arrives late
    z3.look(c3)
    z3.follow(c3, "z1")
    z1.lead(c1)
    z1.on_follower_info(c1, "z3", 0)  # z1 chooses epoch 1 with z3
    z3.on_message(c3, "z1", NewEpoch(1))
    z1.on_message(c1, "z3", z3.epoch_ack)
    assert z1.phase == SYNC and z1.current_epoch == 1  # z1's history is epoch 1's
    sim.network.in_flight.clear()  # its NEWLEADER to z3 is lost
    z3.look(c3)
    z2.lead(c2)
    z2.on_message(c2, "z3", late)
    assert z2.epoch == 1
    sim.network.in_flight.clear()
    z3.on_message(c3, "z2", z2.vote_message())  # z3 joins z2: it never took z1's history
    z1.look(c1)
    sim.quiesce(20000, 20000)


def test_two_bids_for_one_epoch_leave_no_server_out() -> None:
    """Issue #23: z1, whose own bid synchronised epoch 1, can never join z2's epoch 1, and z2
    gave way only to promises of later epochs: z1 looked for ever. Now z3's ACKEPOCH to z2
    does not count (it promised epoch 1 to z1 first), z2 gives its bid up, and the next
    election chooses a later epoch, which z1 joins."""
    sim = fresh()
    two_bids_for_epoch_one(sim)
    members = servers(sim).values()
    leader = next(server for server in members if server.role == LEADING)
    assert leader.epoch > 1
    assert all(s.phase == BROADCAST and (s.leader, s.epoch) == (leader.id, leader.epoch)
               for s in members)
    assert checks.progress_at_quiescence.check(sim).ok
    assert checks.one_leader_per_epoch.check(sim) is None
    mutant = new_simulation(with_server(CountsForTwoLeaders), "mutant", DEFAULT, seed=0)
    mutant.start()
    two_bids_for_epoch_one(mutant)
    assert mutant.nodes["z1"].role == LOOKING and mutant.nodes["z2"].epoch == 1
    assert checks.progress_at_quiescence.check(mutant).explanation == \
        "c3's final sync-at('/x', 'z1') did not succeed after the ending"
    assert checks.one_leader_per_epoch.check(mutant).startswith(
        "z1 and z2 both synchronised epoch 1")


class KeepsStaleVotes(ZooKeeperServer):
    """Issue #23's five-server defect: a looking peer keeps the vote of a peer that agreed
    with it, though others report following that peer, and so never asks it again."""

    def forget_vote_of(self, leader: str) -> None:
        pass


def elected_without_z3(sim: Simulation) -> Callable[[], bool]:
    """Five servers: z3 takes up z5's vote (z5's credentials are the best) but no other vote
    reaches it; z1, z2 and z4 elect z5 without z3. Then a fast network, until every server is
    in z5's broadcast (the returned test)."""
    z = {n: sim.nodes[n] for n in ("z1", "z2", "z3", "z4", "z5")}
    ctx = {n: sim.contexts[n] for n in z}
    sim.network.in_flight.clear()
    z["z3"].on_message(ctx["z3"], "z5", z["z5"].vote_message())
    assert z["z3"].vote[2] == "z5" and z["z3"].role == LOOKING  # two votes of five
    sim.network.in_flight.clear()
    for voter in ("z1", "z2"):
        z["z5"].on_message(ctx["z5"], voter, Vote(1, "z5", 0, Zxid(0), LOOKING))
    assert z["z5"].role == LEADING
    for voter in ("z1", "z2", "z4"):
        z[voter].on_message(ctx[voter], "z5", z["z5"].vote_message())
        assert z[voter].role == FOLLOWING
    sim._ready_stale = True  # the messages cleared above are not to be delivered
    return lambda: all(s.phase == BROADCAST and s.leader == "z5" for s in z.values())


def test_a_peer_that_agreed_with_a_leader_elected_without_it_joins_it() -> None:
    """Issue #23, five servers: z3 resends its vote only to peers whose vote differs from
    its own, so never to z5, and z1, z2 and z4 answer that they follow z5, which z3 does not
    count. Once a follower names z5, z3 forgets z5's stale vote, asks z5 again, and joins it
    on z5's answer. The defect: z3 looks for ever."""
    five = attrs.evolve(DEFAULT, servers=5)
    sim = new_simulation(SYSTEM, "correct", five, seed=0)
    sim.start()
    assert fast(sim, elected_without_z3(sim))
    mutant = new_simulation(with_server(KeepsStaleVotes), "mutant", five, seed=0)
    mutant.start()
    assert not fast(mutant, elected_without_z3(mutant), steps=5000)
    assert mutant.nodes["z3"].role == LOOKING and mutant.nodes["z5"].phase == BROADCAST


def test_a_follower_of_an_epoch_its_leader_gave_up_elects_again_at_once() -> None:
    sim = fresh()
    assert fast(sim, lambda: established(sim) is not None)
    leader = sim.nodes[established(sim)]
    follower = next(n for n in servers(sim).values() if n.role == FOLLOWING)
    sim.network.in_flight.clear()
    stale = AckEpoch(leader.epoch - 1, 0, Zxid(0))  # it waits for a bid the leader gave up
    leader.on_message(sim.contexts[leader.id], follower.id, stale)
    sent = [e.msg for e in sim.network.in_flight.values() if e.dst == follower.id]
    assert sent == [Disconnect(leader.epoch - 1)]
    follower.on_message(sim.contexts[follower.id], leader.id, Disconnect(leader.epoch - 1))
    assert follower.role == FOLLOWING  # not its epoch: a stale answer changes nothing
    follower.on_message(sim.contexts[follower.id], leader.id, Disconnect(follower.epoch))
    assert follower.role == LOOKING


# --- the hunt -----------------------------------------------------------------------------------


def test_a_leader_sends_newepoch_again_to_a_follower_not_synchronised() -> None:
    sim = fresh()
    leader = sim.nodes["z1"]
    leader.lead(sim.contexts["z1"])
    leader.on_follower_info(sim.contexts["z1"], "z2", 0)  # a quorum: epoch 1 chosen
    sim.network.in_flight.clear()
    leader.leader_tick(sim.contexts["z1"])
    sent = [(e.dst, e.msg) for e in sim.network.in_flight.values()]
    assert sent == [("z2", NewEpoch(1))]  # lost, or it was looking: it may answer Disconnect
    leader.on_message(sim.contexts["z1"], "z2", Disconnect(1))
    assert leader.role == LOOKING


def test_a_leader_no_quorum_joined_gives_up_after_sync_limit() -> None:
    sim = fresh()
    leader = sim.nodes["z1"]
    leader.failures = 5  # many failed elections: a follower would wait 4 * SYNC_LIMIT
    leader.lead(sim.contexts["z1"])
    assert leader.patience() == SYNC_LIMIT
    leader.on_follower_info(sim.contexts["z1"], "z2", 0)
    assert leader.patience() == SYNC_LIMIT << 2  # synchronising a quorum may take longer


def test_recovery_bounded_times_the_ensemble_and_the_clients_from_the_ending() -> None:
    sim = fresh()
    assert checks.recovery_bounded.check(sim) is None  # not in the ending yet
    sim.phase = "quiesce"  # the faults end now, at t=0; every server is looking
    assert checks.recovery_bounded.check(sim) is None
    sim.time = checks.RECOVERY + 1
    assert f"due to recover by t={checks.RECOVERY} (RECOVERY={checks.RECOVERY}), and at " \
           f"t={sim.time}: 0 leaders" in checks.recovery_bounded.check(sim)
    result = execute(SYSTEM, "correct", DEFAULT, 0, RandomWalk(0, DEFAULT.max_pause))
    sim = result.sim
    assert checks.recovery_bounded.check(sim) is None
    sim.history.append(Event("c1", "invoke", "read", ("/x",), sim.time))
    assert checks.recovery_bounded.check(sim) is None
    sim.time += checks.RETURNS + 1
    assert "c1's read (called at t=" in checks.recovery_bounded.check(sim)


def test_registered() -> None:
    assert SYSTEM in implementations.registered()


def test_quorums_intersect() -> None:
    [verdict] = SYSTEM.proofs(DEFAULT, SYSTEM.variant("correct").impl)
    assert verdict.ok, verdict.explanation


def test_correct_variant_survives_a_short_hunt() -> None:
    for seed in range(40):
        result = execute(SYSTEM, "correct", DEFAULT, seed, RandomWalk(seed, DEFAULT.max_pause))
        assert not result.verdict.violated, (seed, result.verdict)


@pytest.mark.parametrize("variant, invariant", [
    ("ack-newleader-before-persist", "committed-durable"),
    ("persistent-lock-node", "lock-released"),
    ("no-resend", "recovery-bounded"),
    ("replay-history-on-sync", "trees-match-model"),
])
def test_seeded_bug_is_found_and_replays(variant: str, invariant: str) -> None:
    found = next(r for r in (execute(SYSTEM, variant, DEFAULT, seed,
                                     RandomWalk(seed, DEFAULT.max_pause)) for seed in range(20))
                 if r.verdict.violated)
    assert found.verdict.invariant == invariant
    again = execute(SYSTEM, variant, DEFAULT, found.seed, Replay(found.choices))
    assert again.verdict == found.verdict
    assert again.sim.fingerprint() == found.sim.fingerprint()


def test_zxids_show_their_epoch() -> None:
    z = zxid(2, 5)
    assert repr(z) == "0x200000005" and z.epoch == 2 and isinstance(z, Zxid) and z > zxid(1, 9)


def test_a_leader_short_of_a_quorum_of_synchronised_followers_commits_nothing() -> None:
    """Five servers: followers that rejoin (FOLLOWERINFO) are unsynchronised until they
    acknowledge NEWLEADER again, so a leader may hear an Ack while fewer than a quorum are
    synchronised. It must not commit on it (nor fail: this once raised IndexError)."""
    sim = new_simulation(SYSTEM, "correct", attrs.evolve(DEFAULT, servers=5), seed=0)
    sim.start()
    sim.quiesce(20000, 20000)
    leader = next(s for s in sim.nodes.values()
                  if isinstance(s, ZooKeeperServer) and s.role == LEADING)
    ctx = sim.contexts[leader.id]
    assert leader.phase == BROADCAST and len(leader.synced) == 4 and leader.quorum == 3
    rejoining, (last,) = list(leader.synced)[:3], list(leader.synced)[3:]
    for follower in rejoining:
        leader.on_message(ctx, follower, FollowerInfo(leader.epoch))
    leader.propose(ctx, "w")
    committed = leader.committed
    leader.on_message(ctx, last, Ack(leader.epoch, len(leader.log), ()))
    assert leader.committed == committed < len(leader.log)
