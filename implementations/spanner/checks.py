"""Spanner's invariants: disjoint leader leases, external consistency, serializability, and
snapshot reads that any replica would repeat."""

from __future__ import annotations

import attrs

from checker.sim import Simulation
from checker.system import history_invariant, state_invariant
from implementations.sso import NEVER
from invariants.external import check_external_consistency, timed_txns
from invariants.history import OK
from invariants.transactions import check_transactions
from invariants.verdict import Verdict, passed, violated

TXN_STEPS = 100_000
"""The transactional check's budget, in steps so that verdicts never depend on the machine.
Spanner's histories need at most 289 (the most seen in 1,600 runs of every variant and
configuration: 1,000 random, 300 PCT, 300 portfolio): only a checker gone wrong spends it."""
Z3_RLIMIT = 2_000_000
"""The external-consistency search's budget in z3's resource units, for the same reason: the
hunts' histories need at most about 2,100 (200 random runs of each configuration)."""


@state_invariant("disjoint-leases")
def disjoint_leases(sim: Simulation) -> str | None:
    """In each group, at most one replica trusts its leader lease at any true time."""
    holders: dict[str, list[str]] = {}
    for n in sim.servers:
        node = sim.nodes[n]
        if node is not None and node.lease_expiry != NEVER and node.lease_valid(sim.contexts[n]):
            holders.setdefault(node.group, []).append(n)
    for group, leaders in holders.items():
        if len(leaders) > 1:
            return (f"group {group}: {' and '.join(leaders)} each trust a leader lease at "
                    f"t={sim.time}")
    return None


@history_invariant("external-consistency")
def external_consistency(sim: Simulation) -> Verdict:
    """Commit timestamps respect real time, and a serial order respecting real time explains
    every read (invariants/external.py, z3 with an unsat core)."""
    return check_external_consistency(timed_txns(sim.operations()), rlimit=Z3_RLIMIT)


@history_invariant("serializable")
def serializable(sim: Simulation) -> Verdict:
    """No dependency cycle among the transactions (invariants/transactions.py). That checker
    reads an `ok` result as the completed micro-ops: the commit timestamp is set aside."""
    ops = [attrs.evolve(op, result=op.result["txn"]) if op.status == OK else op
           for op in sim.operations()]
    return check_transactions(ops, "serializable", max_seconds=None, max_steps=TXN_STEPS)


@history_invariant("repeatable-snapshot-reads")
def repeatable_snapshot_reads(sim: Simulation) -> Verdict:
    """Every snapshot read of a key at timestamp t returned the version with the largest
    commit timestamp <= t among all versions ever committed: what any replica, at any later
    moment, returns for that read. From the ghost record of reads served, and of commits
    (a transaction's writes in every group, once any group logged its commit)."""
    versions: dict[str, dict[int, object]] = {}
    for key, ts, value in committed_versions(sim):
        versions.setdefault(key, {})[ts] = value
    for kind, time, replica, fact in sim.ghost:
        if kind != "snapshot-read":
            continue
        key, ts, value = fact["key"], fact["ts"], fact["value"]
        below = [v for v in versions.get(key, {}) if v <= ts]
        expected = versions[key][max(below)] if below else None
        if value != expected:
            writer = f"committed at timestamp {max(below)}" if below else "the initial value"
            return violated("repeatable-snapshot-reads",
                            f"{replica} served {key}={value!r} at timestamp {ts} (t={time}), but "
                            f"the version of {key} at {ts} is {expected!r}, {writer}: a replica "
                            f"that reads at {ts} later returns {expected!r}",
                            {"replica": replica, "key": key, "ts": ts, "value": value,
                             "expected": expected})
    return passed("repeatable-snapshot-reads", "every snapshot read returned the version at "
                                               "its timestamp")


def committed_versions(sim: Simulation) -> list[tuple[str, int, object]]:
    """(key, commit timestamp, value) of every write of a committed transaction: the writes
    of its commit records and of its participants' prepare records."""
    writes: dict = {}
    commits: dict = {}
    for kind, _, _, fact in sim.ghost:
        if kind in ("prepared", "committed"):
            writes.setdefault(fact["txn"], {}).update(fact["writes"])
        if kind == "committed":
            commits[fact["txn"]] = fact["ts"]
    return [(key, ts, value) for txn, ts in commits.items()
            for key, value in writes[txn].items()]
