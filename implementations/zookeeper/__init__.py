"""ZooKeeper: a replicated tree of znodes on Zab, with sessions, watches and the lock recipe.

The pieces, each on a screen or two:
- `zab.py`: the ensemble's atomic broadcast (election, discovery, synchronisation, broadcast)
  over a durable log with fsync points;
- `server.py`: the data tree (`models/znodes.py`) each server applies, client sessions and
  their expiry, one-shot watches, reads from the local tree, sync;
- `client.py`: the client library, the lock recipe, lock holders writing to a protected
  resource (`implementations/resource.py`) with the lock node's czxid as fencing token;
- `checks.py`: the invariants.

A run: servers z1..zN; lock holders l1, l2 looping over take the lock / work / write to the
resource r / release; clients c1.. running reads, conditional increments, sequential creates
and syncs; a roaming client m1 moving its session from server to server to read /x (its
reads must never go back in time); and, in the run's ending, a fresh client that must be able
to sync and read /x through every server in turn, then stands by while each lock holder takes
the lock and writes, then takes the lock itself; then the run rests (`checks.REST`): no
faults, no operations, the ensemble keeping its leader and every session in use or expired.
In the whole ending, where messages take no time, synchronisation and commits must not wait
for a timer (`synchronised-by-messages`, `settled-commit-by-messages`).
"""

from __future__ import annotations

import functools
from typing import Any

import attrs

from checker.sim import Cluster
from checker.system import Config, System, Variant
from implementations.resource import ResourceServer
from implementations.zookeeper import checks
from implementations.zookeeper.client import Locker, NoFencingToken, PersistentLockNode, ZkClient
from implementations.zookeeper.server import ReplayHistoryOnSync, ZooKeeperServer
from implementations.zookeeper.zab import AckNewLeaderBeforePersist, NoResend, ZabPeer
from invariants.quorum import majority, prove_intersection
from invariants.verdict import Verdict

PATHS = (("/lock", None), ("/q", None), ("/x", 0))  # the initial tree; /x holds a counter
RESOURCE = "r"
ROAMER = "m1"


@attrs.frozen
class Parts:
    """What a variant changes: the server and lock-holder classes, and whether the resource
    checks fencing tokens."""

    server: type[ZabPeer] = ZooKeeperServer
    locker: type[Locker] = Locker
    fencing: bool = True


class AckBeforePersistServer(AckNewLeaderBeforePersist, ZooKeeperServer):
    """A ZooKeeper server whose Zab follower has the seeded bug."""


class NoResendServer(NoResend, ZooKeeperServer):
    """A ZooKeeper server whose Zab leader has the seeded bug."""


def ensemble_ids(config: Config) -> tuple[str, ...]:
    return tuple(f"z{i + 1}" for i in range(config.servers))


def build(config: Config, parts: Parts, rng: Any) -> Cluster:
    ensemble = ensemble_ids(config)
    lockers = [f"l{i + 1}" for i in range(config.params.get("lockers", 2))]
    clients = [f"c{i + 1}" for i in range(config.clients)]
    fresh = f"c{config.clients + 1}"  # syncs and takes the lock in the ending, nothing before
    # readers and writers on one znode: increments, and syncs that must see them, weigh double
    ops = (("read", ("/x",)), ("incr", ("/x",)), ("incr", ("/x",)), ("seq", ("/q/n-",)),
           ("sync", ("/x",)), ("sync", ("/x",)))
    workload = {c: [rng.choice(ops) for _ in range(config.ops_per_client)] for c in clients}
    # a client moving its session from server to server, as clients do when their connection
    # breaks or they are rebalanced: a server behind what it saw must not take it
    workload[ROAMER] = [("read-at", (checks.COUNTER, rng.choice(ensemble)))
                        for _ in range(config.ops_per_client)]
    nodes: dict[str, Any] = {
        z: functools.partial(parts.server, peers=ensemble, paths=PATHS) for z in ensemble}
    nodes[RESOURCE] = functools.partial(ResourceServer, fencing=parts.fencing)
    nodes.update({lk: functools.partial(parts.locker, servers=ensemble, resource=RESOURCE)
                  for lk in lockers})
    return Cluster(
        servers=nodes,
        clients={c: functools.partial(ZkClient, servers=ensemble)
                 for c in [*clients, ROAMER, fresh]},
        workload={**workload, fresh: []},
        final_ops=[*[(fresh, "sync-at", ("/x", z)) for z in ensemble],
                   (fresh, "wait", (STAND_BY,)), (fresh, "lock", ())],
    )


def proofs(config: Config, parts: Parts) -> list[Verdict]:
    """Any two quorums of the ensemble intersect (z3): discovery, establishment and commits
    all rest on it."""
    ensemble = ensemble_ids(config)
    threshold = parts.server.quorum_size(len(ensemble))
    return [prove_intersection(majority(ensemble, threshold=threshold))]


# the ending's time: enough for an ensemble whose peers promised different epochs to elect
# again (patience doubles to 4 * SYNC_LIMIT) and for every server to serve the last syncs
ENDING = 10000
# how long the ending's fresh client stands by, once it has synced through every server and
# before it asks for the lock (which it keeps), so that each lock holder takes the lock and
# writes (`lock-holder-writes`): a holder may first wait for the lock nodes of sessions given
# up to expire (SESSION_TIMEOUT and a tick), perhaps twice, and for each holder before it to
# work WRITES * WORK and rest. The correct variant's holders have all written at most about
# 5,000 ticks into it, over 500 runs: 8,000 leaves headroom.
STAND_BY = 8000
FAULTS = {"drop": 6, "duplicate": 6, "crash": 6, "partition": 4, "pause": 4}

SYSTEM = System(
    name="zookeeper",
    paper="Hunt, Konar, Junqueira, Reed: ZooKeeper: Wait-free coordination for Internet-scale "
          "systems (USENIX ATC 2010); Junqueira, Reed, Serafini: Zab: High-performance "
          "broadcast for primary-backup systems (DSN 2011)",
    summary="a tree of znodes replicated by Zab, with sessions, ephemeral and sequential "
            "nodes, one-shot watches, and the lock recipe fenced by the lock node's czxid",
    build=build,
    invariants=(checks.one_leader_per_epoch, checks.one_count_per_epoch,
                checks.new_epoch_from_its_leader,
                checks.epoch_promises_kept, checks.committed_prefix,
                checks.logs_from_leader, checks.committed_durable, checks.committed_survives,
                checks.ephemerals_owned, checks.monotone_tokens,
                checks.trees_match_model, checks.session_order, checks.sequential_names,
                checks.conditional_set, checks.sync_reads_latest, checks.replies_match_model,
                checks.recovery_bounded, checks.progress_at_quiescence,
                checks.lock_released, checks.lock_holder_writes, checks.session_kept_alive,
                checks.closed_sessions_stay_closed, checks.failed_writes_void,
                checks.ensemble_kept_at_rest, checks.synchronised_by_messages,
                checks.settled_commit_by_messages, checks.sessions_settle),
    configs={
        "default": Config("default", servers=3, clients=2, ops_per_client=8, max_steps=1500,
                          max_pause=6000, faults=FAULTS, quiesce_horizon=ENDING, rest=checks.REST),
        "small": Config("small", servers=3, clients=1, ops_per_client=6, max_steps=800,
                        max_pause=6000, faults=FAULTS, quiesce_horizon=ENDING, rest=checks.REST),
        # the paused lock holder and nothing else: the lesson's trace of no-fencing-token
        "pauses": Config("pauses", servers=3, clients=1, ops_per_client=6, max_steps=800,
                         max_pause=6000, faults={"pause": 4}, quiesce_horizon=ENDING,
                         rest=checks.REST),
        # the leader cut off right after a client is told ok, its old messages delivered
        # first once the partition heals: fail-over in the window an early ack opens
        "fail-over": Config("fail-over", servers=3, clients=2, ops_per_client=8,
                            max_steps=1500, max_pause=6000,
                            faults={**FAULTS, "nemesis": 2}, quiesce_horizon=ENDING,
                            rest=checks.REST),
    },
    variants={
        "correct": Variant("correct", Parts()),
        "ack-newleader-before-persist": Variant(
            "ack-newleader-before-persist", Parts(server=AckBeforePersistServer),
            breaks="committed transactions survive crashes: a follower acknowledges NEWLEADER "
                   "with the history still in its page cache, and the leader commits on it",
            caught_by="committed-durable",
            teaches="Zab 1.0 synchronisation (persist before ACK); ZOOKEEPER-3911, -4646"),
        "no-fencing-token": Variant(
            "no-fencing-token", Parts(locker=NoFencingToken, fencing=False),
            breaks="mutual exclusion at the resource: a holder paused past its session "
                   "timeout writes after the next holder did",
            caught_by="monotone-tokens",
            teaches="fencing tokens (the lock node's czxid); Kleppmann 2016"),
        "persistent-lock-node": Variant(
            "persistent-lock-node", Parts(locker=PersistentLockNode),
            breaks="the lock is released when its holder's session ends: a persistent lock "
                   "node outlives its session and blocks every later waiter",
            caught_by="lock-released",
            teaches="the lock recipe's ephemeral nodes: release by session expiry"),
        "no-resend": Variant(
            "no-resend", Parts(server=NoResendServer),
            breaks="progress: a follower that missed a proposal never applies another one, "
                   "and its clients' syncs never return",
            caught_by="recovery-bounded",
            teaches="Zab (DSN'11) assumes FIFO channels: a lost proposal must be resent"),
        "replay-history-on-sync": Variant(
            "replay-history-on-sync", Parts(server=ReplayHistoryOnSync),
            breaks="replicas agree at equal zxids: a follower synchronising with a leader "
                   "applies the whole history again onto the tree that holds part of it",
            caught_by="trees-match-model",
            teaches="Zab's synchronisation phase: each transaction applied exactly once "
                    "(DIFF from the follower's last zxid, or a snapshot replacing the tree)"),
    },
    proofs=proofs,
)
