"""Mesa: versioned batch updates to aggregate tables, committed across datacenters.

Gupta et al., "Mesa: Geo-Replicated, Near Real-Time, Scalable Data Warehousing" (VLDB 2014).
A Mesa table maps row keys to values that an associative function aggregates (SUM here, MAX
in the `max` configuration). Upstream systems hand over update batches; each becomes a
*version*, and a query reads the table at a version: the aggregate of batches 1..n. The
pieces:

- `versionsdb.py`: the versions database, the only synchronously replicated part: which batch
  each version is, and the committed version, on SSO's Paxos cell (`paxos_core` with a
  master lease);
- `committer.py`: the stateless committer: gives a batch its version, has the instances load
  it, commits it once `quorum` instances hold it, one version at a time;
- `instance.py`: a Mesa instance (one per datacenter): loads versions in order as durable
  deltas, answers queries at committed versions from a spanning set of deltas, and compacts
  (cumulative deltas, and a base that trails the committed version by a queryable window);
- `client.py`: submissions to the committer, queries to any instance;
- `deployment.py`, `messages.py`: who is where (and the operator's settings), what they say;
- `checks.py`: the invariants; `models/mesa.py`: the model they hold the system to.

A run: the versions database `vdb1..vdb3`, the `committer`, instances `dc1..dc3`, and two
clients mixing submissions of batches with queries of the latest committed version or of an
early one. The ending submits one more batch (so that every version assigned before it
commits) and then another into the system the first brought up to date (committed by
messages alone: `settled-commit-by-messages`), queries the latest version from every client,
and has the last client submit the final batch again (an upstream system retrying a batch
already committed: it is told the version it has). Then the system rests for REST ticks,
nothing asked of it, so that a committer or an instance that stays busy for ever with nothing
left to do is seen.
"""

from __future__ import annotations

import functools
from typing import Any

import attrs

from checker.sim import Cluster
from checker.system import Config, System, Variant
from implementations.mesa import checks
from implementations.mesa.client import MesaClient
from implementations.mesa.committer import DRIVE, CommitBeforeQuorum, Committer
from implementations.mesa.deployment import Deployment
from implementations.mesa.instance import CompactionOverlap, MesaInstance, ServesUncommitted
from implementations.mesa.versionsdb import VersionsReplica
from implementations.sso import one_value_per_slot
from invariants.quorum import majority, prove_intersection
from invariants.verdict import Verdict


@attrs.frozen
class Roles:
    """The node classes one variant runs."""

    instance: type[MesaInstance] = MesaInstance
    committer: type[Committer] = Committer
    vdb: type[VersionsReplica] = VersionsReplica


def deployment(config: Config) -> Deployment:
    p = config.params
    return Deployment(
        vdb=tuple(f"vdb{i + 1}" for i in range(p.get("vdb", 3))),
        instances=tuple(f"dc{i + 1}" for i in range(config.servers)),
        committer="committer", quorum=p.get("quorum", 2), window=p.get("window", 2),
        aggregate=p.get("aggregate", "sum"))


def batch_rows(rng: Any, keys: list[str]) -> tuple[tuple[str, int], ...]:
    """One or two rows, each a small count."""
    return tuple(sorted((key, rng.randint(1, 5)) for key in rng.sample(keys, rng.choice((1, 2)))))


def build(config: Config, roles: Roles, rng: Any) -> Cluster:
    """Each client's operations: submissions of fresh batches (60%), queries of a key at the
    latest version (30%) or at an early version (10%). The ending submits a last batch from
    the first client, and then a `settled` one into the system the last brought up to date,
    then every client queries the latest version of a key, then the last client submits the
    last batch again: a resubmission of a committed batch, which only a committer that
    answers from the versions it knows acknowledges (no later commit comes to answer it)."""
    where = deployment(config)
    keys = list(config.params.get("keys", ("x", "y")))
    clients = [f"c{i + 1}" for i in range(config.clients)]
    batches = (f"b{i}" for i in range(1, 1 + config.clients * config.ops_per_client))

    def operation() -> tuple[str, Any]:
        draw = rng.random()
        if draw < 0.6:
            return "submit", (next(batches), batch_rows(rng, keys))
        return "query", (rng.choice(keys), None if draw < 0.9 else rng.randint(1, 3))

    workload = {c: [operation() for _ in range(config.ops_per_client)] for c in clients}
    servers: dict[str, Any] = {
        r: functools.partial(roles.vdb, replicas=where.vdb) for r in where.vdb}
    servers[where.committer] = functools.partial(roles.committer, deployment=where)
    servers.update({i: functools.partial(roles.instance, deployment=where)
                    for i in where.instances})
    final = ("final", ((keys[0], 1),))
    settled = ("settled", ((keys[-1], 1),))
    return Cluster(
        servers=servers,
        clients={c: functools.partial(MesaClient, deployment=where) for c in clients},
        workload=workload,
        final_ops=[(clients[0], "submit", final), (clients[0], "submit", settled),
                   *[(c, "query", (keys[i % len(keys)], None)) for i, c in enumerate(clients)],
                   (clients[-1], "submit", final)],
    )


def proofs(config: Config, roles: Roles) -> list[Verdict]:
    """Any two majorities of the versions database intersect (z3): the committed version,
    once chosen, is in every later master's log."""
    vdb = deployment(config).vdb
    return [prove_intersection(majority(vdb, threshold=roles.vdb.quorum_size(len(vdb))))]


FAULTS = {"drop": 4, "duplicate": 4, "crash": 3, "partition": 2, "pause": 3}
# After the final operations the system rests this long (`quiet-at-rest`): the compactions the
# ending left due run, the committer's retry round pending then fires (DRIVE ticks at most,
# unless a pause postponed it) and may set its view of the instances right, the round that
# arms finds nothing to do, and one armed again for ever fires once more, with time to spare.
REST = 4 * DRIVE
PARAMS = {"vdb": 3, "quorum": 2, "window": 2, "aggregate": "sum", "keys": ["x", "y"]}

SYSTEM = System(
    name="mesa",
    paper="Gupta et al.: Mesa: Geo-Replicated, Near Real-Time, Scalable Data Warehousing "
          "(VLDB 2014)",
    summary="versioned batch updates to aggregate tables: a Paxos versions database, a "
            "stateless committer committing on a quorum of instances, delta compaction",
    build=build,
    invariants=(one_value_per_slot, checks.backs_one_candidate, checks.versions_in_order,
                checks.compaction_preserves_answers, checks.committed_on_quorum,
                checks.answers_at_committed_versions, checks.compaction_keeps_up,
                checks.compaction_when_due, checks.commits_reach_instances,
                checks.quiet_at_rest, checks.answers_match_model,
                checks.batches_exactly_once, checks.settled_commit_by_messages,
                checks.progress_at_quiescence),
    configs={
        "default": Config("default", servers=3, clients=2, ops_per_client=4, max_steps=300,
                          max_pause=1000, faults=FAULTS, quiesce_horizon=3000,
                          rest=REST, params=PARAMS),
        # one versions database replica: no Paxos messages between replicas in the way
        "small": Config("small", servers=3, clients=2, ops_per_client=2, max_steps=150,
                        max_pause=1000, faults=FAULTS, quiesce_horizon=3000,
                        rest=REST, params={**PARAMS, "vdb": 1}),
        "max": Config("max", servers=3, clients=2, ops_per_client=4, max_steps=300,
                      max_pause=1000, faults=FAULTS, quiesce_horizon=3000,
                      rest=REST, params={**PARAMS, "aggregate": "max"}),
    },
    variants={
        "correct": Variant("correct", Roles()),
        "compaction-overlap": Variant(
            "compaction-overlap", Roles(instance=CompactionOverlap),
            breaks="compaction over adjacent ranges: a cumulative delta merged with the "
                   "singletons it already holds counts their batches twice",
            caught_by="compaction-preserves-answers",
            teaches="Mesa (VLDB'14) 2.2: deltas merge only over adjacent, non-overlapping "
                    "version ranges"),
        "commit-before-quorum": Variant(
            "commit-before-quorum", Roles(committer=CommitBeforeQuorum),
            breaks="the commit criterion: a version is committed while fewer instances "
                   "than the quorum hold it (perhaps none), so none may answer at it",
            caught_by="committed-on-quorum",
            teaches="Mesa (VLDB'14) 3.2: commit once enough instances incorporated the "
                    "update"),
        "serves-uncommitted": Variant(
            "serves-uncommitted", Roles(instance=ServesUncommitted),
            breaks="queries at the committed version: an instance answers at a version it "
                   "loaded that is not committed yet",
            caught_by="answers-at-committed-versions",
            teaches="Mesa (VLDB'14) 3.2: queries go to the committed version"),
    },
    proofs=proofs,
)
