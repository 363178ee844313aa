"""Dynamo: an always-writable key-value store on a ring, with sloppy quorums and vector clocks.

DeCandia et al., "Dynamo: Amazon's Highly Available Key-value Store" (SOSP 2007). The parts:

- `ring`: consistent hashing with virtual nodes, preference lists, Merkle trees per key range;
- `node`: the storage node (coordinator, replica, stand-in with hinted handoff, gossip
  membership, anti-entropy) and the seeded bugs beside it;
- `client`: the client library, which keeps causal contexts and reconciles siblings by
  writing with their merged context;
- `checks`: quorum regularity, no lost write, hint delivery, anti-entropy, convergence,
  puts that supersede what their client read, sloppy quorums that call on stand-ins,
  coordinators that answer as their quorum did, data kept on its homes, coordinators that
  route around the replicas they found failed;
- `models/dynamo.py`: the multi-value register with causal contexts those checks refer to.

Two configurations matter: `default` counts only homes towards R and W (strict quorums,
R + W > N: reads are regular), `sloppy` counts stand-ins too (always writable, reads may be
stale; regularity is not promised there and not checked).
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

from checker.sim import Cluster
from checker.system import Config, System, Variant
from implementations.dynamo.checks import (
    anti_entropy,
    convergence,
    coordinator_answers,
    deletes_stick,
    gets_return_puts,
    hint_delivery,
    local_failure_detection,
    no_lost_write,
    placement,
    progress_at_quiescence,
    puts_supersede_reads,
    quorum_regularity,
    sloppy_availability,
)
from implementations.dynamo.client import DynamoClient
from implementations.dynamo.node import (
    HintsInMemory,
    LastWriteWins,
    NamesRequestsByClient,
    ReapsTombstones,
    Settings,
    SloppyCountedStrict,
    StorageNode,
)
from implementations.dynamo.ring import Ring
from invariants.quorum import (
    prove_intersection,
    prove_sloppy_intersection,
    read_write,
    sloppy_quorums,
)
from invariants.verdict import Verdict

SETTLE = 1000  # ticks the ending waits, after the longest pause, before the final reads
DELETES = 0.5  # the share of clients whose workload ends with a delete of the key it last used
HEALED = "healed"  # the key the ending puts once every fault has healed: no workload uses it


def node_ids(config: Config) -> tuple[str, ...]:
    return tuple(f"n{i + 1}" for i in range(config.servers))


def settings(config: Config) -> Settings:
    p = config.params
    return Settings(n=p.get("n", 3), r=p.get("r", 2), w=p.get("w", 2),
                    sloppy=p.get("sloppy", False))


def build_ring(config: Config) -> Ring:
    return Ring.build(node_ids(config), config.params.get("vnodes", 2))


def build(config: Config, impl: type[StorageNode], rng: Any) -> Cluster:
    """Storage nodes running `impl`; each client mixes gets and puts of unique values over a
    few keys, and half of them then delete the key they used last (a delete is named by a
    unique value too). The ending waits, puts the fresh key HEALED (a ring whose faults have
    healed must take a put, not only answer gets), waits again, then gets every key. The
    first wait is SETTLE ticks of gossip, handoff and anti-entropy after the longest pause a
    node may still be in (a pause postpones the node's timers, so a stand-in paused just
    before the ending hands its hints off only once the pause is over); the second lets a
    hint the final put left (a coordinator may still believe a home down) reach its home.
    The fresh key keeps the final put out of the workload's keys: a put there would
    supersede, with its client's context, what the final gets must show (a delete's
    tombstone, a lost write)."""
    nodes = node_ids(config)
    clients = [f"c{i + 1}" for i in range(config.clients)]
    keys = tuple(config.params.get("keys", ("a", "b")))
    values = itertools.count(1)
    workload = {c: [("read", (rng.choice(keys),)) if rng.random() < 0.35
                    else ("write", (rng.choice(keys), next(values)))
                    for _ in range(config.ops_per_client)] for c in clients}
    for ops in workload.values():  # drawn after the rest, so the draws above stay as they were
        if ops and rng.random() < DELETES:
            ops.append(("delete", (ops[-1][1][0], next(values))))
    node = functools.partial(impl, ring=build_ring(config), settings=settings(config))
    return Cluster(
        servers={n: node for n in nodes},
        clients={c: functools.partial(DynamoClient, nodes=nodes) for c in clients},
        workload=workload,
        final_ops=[(clients[0], "wait", (config.max_pause + SETTLE,)),
                   (clients[0], "write", (HEALED, next(values))), (clients[0], "wait", (SETTLE,))]
        + [(clients[i % len(clients)], "read", (key,)) for i, key in enumerate((*keys, HEALED))],
    )


def proofs(config: Config, impl: type[StorageNode]) -> list[Verdict]:
    """For the first key: strict read and write quorums of its preference list intersect
    (z3 proves it); sloppy ones, counted as this implementation counts them, need not (z3
    names the failures and the disjoint quorums)."""
    s = settings(config)
    order = build_ring(config).order_for(tuple(config.params.get("keys", ("a",)))[0])
    if impl.counts_stand_ins(s.sloppy):
        return [prove_sloppy_intersection(sloppy_quorums(order, s.n, s.r, s.w, max_failures=1))]
    return [prove_intersection(read_write(order[:s.n], s.r, s.w))]


FAULTS = {"drop": 4, "duplicate": 4, "crash": 3, "partition": 4, "pause": 4, "skew": 10}
PARAMS = {"n": 3, "r": 2, "w": 2, "sloppy": False, "vnodes": 2, "keys": ["a", "b"]}

SYSTEM = System(
    name="dynamo",
    paper="DeCandia et al.: Dynamo: Amazon's Highly Available Key-value Store (SOSP 2007)",
    summary="a key-value store on a consistent-hashing ring: preference lists, R/W quorums "
            "(strict or sloppy with hinted handoff), vector clocks and siblings, read repair, "
            "Merkle anti-entropy, gossip membership",
    build=build,
    invariants=(anti_entropy, deletes_stick, no_lost_write, quorum_regularity, hint_delivery,
                gets_return_puts, puts_supersede_reads, convergence, progress_at_quiescence,
                sloppy_availability, coordinator_answers, placement, local_failure_detection),
    configs={  # five nodes, N=3: every key has two stand-ins
        "default": Config("default", servers=5, clients=2, ops_per_client=6, max_steps=300,
                          epsilon=100, max_pause=1000, faults=FAULTS, quiesce_horizon=2000,
                          params=PARAMS),
        "sloppy": Config("sloppy", servers=5, clients=2, ops_per_client=6, max_steps=300,
                         epsilon=100, max_pause=1000, faults=FAULTS, quiesce_horizon=2000,
                         params={**PARAMS, "sloppy": True}),
        # one client, whose puts are sequential: only clock skew can reorder its versions
        "one-client": Config("one-client", servers=5, clients=1, ops_per_client=6,
                             max_steps=300, epsilon=100, max_pause=1000, faults=FAULTS,
                             quiesce_horizon=2000, params=PARAMS),
        "small": Config("small", servers=4, clients=1, ops_per_client=3, max_steps=150,
                        epsilon=100, max_pause=1000, faults=FAULTS, quiesce_horizon=2000,
                        params={**PARAMS, "keys": ["a"]}),
        # clocks running fast or slow within epsilon: timestamps and timeouts drift apart
        "drifting": Config("drifting", servers=5, clients=2, ops_per_client=6, max_steps=300,
                           epsilon=100, max_drift=100, max_pause=1000,
                           faults={**FAULTS, "drift": 4}, quiesce_horizon=2000,
                           params=PARAMS),
    },
    variants={
        "correct": Variant("correct", StorageNode),
        "sloppy-counted-strict": Variant(
            "sloppy-counted-strict", SloppyCountedStrict,
            breaks="quorum regularity: a stand-in's acknowledgement counts towards W, so a "
                   "later read quorum of homes can miss an acknowledged write",
            caught_by="coordinator-answers (a put answered ok with fewer than W homes' "
                      "acknowledgements), then quorum-regularity",
            teaches="Dynamo section 4.6: sloppy quorums do not intersect"),
        "lww-wall-clock": Variant(
            "lww-wall-clock", LastWriteWins,
            breaks="no lost write: reconciling by timestamps drops a concurrent write, or a "
                   "later one stamped by a lagging clock",
            caught_by="no-lost-write",
            teaches="Dynamo section 4.4: vector clocks, not physical time, order versions"),
        "hints-in-memory": Variant(
            "hints-in-memory", HintsInMemory,
            breaks="hint delivery: a stand-in that crashes forgets the hints it acknowledged",
            caught_by="hint-delivery",
            teaches="Dynamo section 4.6: hinted replicas are kept in a local database"),
        "tombstone-reaped": Variant(
            "tombstone-reaped", ReapsTombstones,
            breaks="deleted stays deleted: a replica drops a key's tombstones as soon as only "
                   "tombstones are left, and an older version from a replica that missed the "
                   "delete comes back through anti-entropy or handoff",
            caught_by="deletes-stick",
            teaches="Dynamo section 4.4: a delete is a version that supersedes what it saw; "
                    "Cassandra's gc_grace_seconds: a tombstone goes only once all have it"),
        "request-named-by-client": Variant(
            "request-named-by-client", NamesRequestsByClient,
            breaks="progress: a coordinator names requests by client alone and drops a "
                   "client's second request as a duplicate of its first; gets fail and puts "
                   "time out on a healthy ring, and no safety check notices",
            caught_by="progress-at-quiescence",
            teaches="Dynamo section 4.5: any node coordinates; a request's name must be unique "
                    "to the request"),
    },
    proofs=proofs,
)
