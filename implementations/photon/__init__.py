"""Photon: joining two continuous streams exactly once, in two datacenters at once
(Ananthanarayanan et al., "Photon: Fault-tolerant and Scalable Joining of Continuous Data
Streams", SIGMOD 2013).

The primary log holds queries, each with a query id; the foreign log holds clicks, each with a
click id and the id of the query it followed. Photon outputs every click joined with its
query, exactly once, although the query may reach the pipeline after the click, machines
crash and a whole datacenter may be cut off. For availability, two datacenters each hold both
logs and each runs the whole pipeline on them:

1. the dispatcher reads the click log and sends each click to a joiner; a click that cannot
   be joined yet (its query is not in the event store) comes back and is retried later, with
   an exponential backoff;
2. the joiner looks the query up in the event store (a lookup service fed by the query
   log), then asks the IdRegistry to insert the click id with a token naming the joiner and
   its attempt; only if the insert succeeds does it write the joined click to the
   datacenter's output log;
3. the IdRegistry, one table replicated by Paxos across datacenters, answers a conditional
   insert: the id is absent: insert it with the token, success; present with the same token
   (a retry whose reply was lost): success again; present with another token: "already
   joined". So exactly one attempt, in one datacenter, ever outputs a click;
4. a joiner can crash after the registry committed its insert but before it wrote the
   output. It lists each registration durably before sending it, and its recovery scan
   presents the listed tokens again after a restart: a click registered for one of them is
   output then, once.

The pieces: `messages.py` (events, tokens, messages), `pipeline.py` (dispatcher, joiner,
event store, output log), `registry.py` (the IdRegistry on SSO's Paxos cell), `frontend.py`
(the clients that write the logs, and the harness that waits for the pipeline), `checks.py`
(the invariants). A run: registry replicas r1.., and in datacenter 1 the dispatcher d1,
joiner j1, event store e1 and output log o1 (d2, j2, e2, o2 in datacenter 2); frontends c1...
Server-side batching of the registry, sharding and the throttling of dispatchers are left out.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import attrs

from checker.sim import Cluster
from checker.system import Config, System, Variant
from implementations.photon import checks
from implementations.photon.frontend import Frontend
from implementations.photon.pipeline import (
    Dispatcher,
    EventStore,
    Joiner,
    NoRecoveryScan,
    OutputBeforeInsert,
    OutputLog,
)
from implementations.photon.registry import IdRegistry, TokenIgnored
from implementations.sso import one_value_per_slot

DATACENTERS = ("1", "2")
WALK_POLLS = 8  # rounds a frontend's own drain waits, while faults still happen
FINAL_POLLS = 15  # rounds the final drain waits, after the faults (within the horizon)


@attrs.frozen
class Roles:
    """The node classes one variant runs."""

    joiner: type[Joiner] = Joiner
    registry: type[IdRegistry] = IdRegistry


def build(config: Config, roles: Roles, rng: Any) -> Cluster:
    """`servers` registry replicas and two datacenters; the frontends' workload (`workload`),
    and the ending's drain, after the faults."""
    replicas = tuple(f"r{i + 1}" for i in range(config.servers))
    servers: dict[str, Any] = {r: functools.partial(roles.registry, replicas=replicas)
                               for r in replicas}
    for dc in DATACENTERS:
        servers[f"d{dc}"] = functools.partial(Dispatcher, joiner=f"j{dc}")
        servers[f"j{dc}"] = functools.partial(roles.joiner, dispatcher=f"d{dc}",
                                              event_store=f"e{dc}", output_log=f"o{dc}",
                                              registry=replicas)
        servers[f"e{dc}"] = EventStore
        servers[f"o{dc}"] = OutputLog
    clients = [f"c{i + 1}" for i in range(config.clients)]
    frontend = functools.partial(
        Frontend, dispatchers=tuple(f"d{dc}" for dc in DATACENTERS),
        event_stores=tuple(f"e{dc}" for dc in DATACENTERS),
        joiners=tuple(f"j{dc}" for dc in DATACENTERS), registry=replicas)
    return Cluster(servers=servers, clients=dict.fromkeys(clients, frontend),
                   workload=workload(config, clients, rng),
                   final_ops=[(clients[0], "drain", FINAL_POLLS)])


def workload(config: Config, clients: list[str], rng: Any) -> dict[str, list]:
    """Each frontend serves `ops_per_client` queries, each showing an ad and followed by one
    to `clicks_per_query` clicks, then waits for the pipeline while faults still happen."""
    queries, clicks = itertools.count(1), itertools.count(1)
    most = config.params.get("clicks_per_query", 2)

    def serve() -> tuple[str, tuple]:
        query, ad = f"q{next(queries)}", f"ad{rng.randint(1, 9)}"
        return "serve", (query, ad, tuple(f"k{next(clicks)}" for _ in range(rng.randint(1, most))))

    return {c: [serve() for _ in range(config.ops_per_client)] + [("drain", WALK_POLLS)]
            for c in clients}


FAULTS = {"drop": 4, "duplicate": 4, "crash": 6, "pause": 3, "partition": 2}

SYSTEM = System(
    name="photon",
    paper="Ananthanarayanan et al.: Photon: Fault-tolerant and Scalable Joining of Continuous "
          "Data Streams (SIGMOD 2013)",
    summary="clicks joined with their queries exactly once by two datacenters at once: "
            "dispatchers, joiners, event stores, and an IdRegistry on Paxos with tokens",
    build=build,
    invariants=(checks.no_duplicate_join, checks.registered_once, one_value_per_slot,
                checks.backs_one_candidate,
                checks.registry_replicas_agree, checks.joined_promptly,
                checks.retried_after_backoff,
                checks.joined_exactly_once,
                checks.pipeline_drains, checks.registry_converged,
                checks.nothing_left_to_recover),
    configs={
        "default": Config("default", servers=3, clients=2, ops_per_client=2, max_steps=400,
                          max_pause=600, faults=FAULTS, quiesce_horizon=5000,
                          params={"clicks_per_query": 2}),
        "small": Config("small", servers=3, clients=1, ops_per_client=1, max_steps=300,
                        max_pause=600, faults=FAULTS, quiesce_horizon=5000,
                        params={"clicks_per_query": 1}),
    },
    variants={
        "correct": Variant("correct", Roles()),
        "output-before-insert": Variant(
            "output-before-insert", Roles(joiner=OutputBeforeInsert),
            breaks="at most once: both datacenters output the click, the registry refuses one "
                   "of them too late",
            caught_by="no-duplicate-join",
            teaches="Photon (SIGMOD'13), the joiner: output only after the IdRegistry commit"),
        "token-ignored": Variant(
            "token-ignored", Roles(registry=TokenIgnored),
            breaks="at least once: a registration retried after a lost reply is refused as "
                   "already joined, and nobody outputs the click",
            caught_by="joined-exactly-once",
            teaches="Photon (SIGMOD'13), the IdRegistry: the token makes a retried insert succeed"),
        "no-recovery-scan": Variant(
            "no-recovery-scan", Roles(joiner=NoRecoveryScan),
            breaks="at least once: a joiner that crashes between the registry's commit and "
                   "its output loses the click",
            caught_by="joined-exactly-once",
            teaches="Photon (SIGMOD'13), joiner failures: recovering what a failed joiner "
                    "registered and never output"),
    },
)
