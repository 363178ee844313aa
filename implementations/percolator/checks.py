"""The invariants: oracle monotonicity, atomicity at quiescence, snapshot isolation, and
observers acting at most once per change."""

from __future__ import annotations

from checker.sim import Simulation
from checker.system import history_invariant, state_invariant
from implementations.percolator.store import Row, committed_at, visible
from invariants.transactions import check_transactions
from invariants.verdict import Verdict, passed, violated
from models.percolator import LEVEL

TXN_STEPS = 100_000
"""The transactional check's budget, in steps so that verdicts never depend on the machine.
Percolator's histories need at most 272 (the most seen in 1,600 runs of every variant and
configuration: 1,000 random, 300 PCT, 300 portfolio): only a checker gone wrong spends it."""


class _Issued:
    """Per simulation: how much of the ghost record was read, and the highest timestamp."""

    def __init__(self) -> None:
        self.read = 0
        self.highest = 0


@state_invariant("oracle-monotonic")
def oracle_monotonic(sim: Simulation) -> str | None:
    """Every timestamp the oracle hands out is above every one it handed out before, across
    its crashes and restarts."""
    seen = sim.invariant_state("oracle-monotonic", _Issued)
    while seen.read < len(sim.ghost):
        kind, time, node, fact = sim.ghost[seen.read]
        seen.read += 1
        if kind == "timestamp":
            if fact["ts"] <= seen.highest:
                return (f"{node} handed out timestamp {fact['ts']} at t={time}, after already "
                        f"handing out {seen.highest}")
            seen.highest = fact["ts"]
    return None


def final_rows(sim: Simulation) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for node in sim.servers:
        rows.update(getattr(sim.nodes[node], "rows", {}))
    return rows


@history_invariant("atomic")
def atomic(sim: Simulation) -> Verdict:
    """At quiescence, after the final read has cleaned up the locks, each transaction's
    writes are all committed or none is, even if its worker crashed mid-commit. (A lock still
    there is not yet decided: whoever meets it will follow the primary.)"""
    rows = final_rows(sim)
    for kind, _, worker, fact in sim.ghost:
        if kind != "writes":
            continue
        start_ts, written = fact["start_ts"], [rows.get(r, Row()) for r in fact["rows"]]
        done = [r for r, row in zip(fact["rows"], written)
                if committed_at(row, start_ts) is not None]
        missing = [r for r, row in zip(fact["rows"], written)
                   if committed_at(row, start_ts) is None and start_ts not in row.lock]
        if done and missing:
            return violated("atomic",
                            f"the transaction that {worker} started at ts={fact['start_ts']} "
                            f"committed its write to {', '.join(done)} but not to "
                            f"{', '.join(missing)}", {"transaction": fact})
    return passed("atomic", "every transaction committed all of its writes or none")


@history_invariant("snapshot-isolation")
def snapshot_isolation(sim: Simulation) -> Verdict:
    """No snapshot-isolation anomaly in the list-append history (Elle-style cycles)."""
    return check_transactions(sim.operations(), LEVEL, max_seconds=None, max_steps=TXN_STEPS)


@history_invariant("observed-once")
def observed_once(sim: Simulation) -> Verdict:
    """No observer transaction committed twice for one change: every acknowledgement row
    lists each change once."""
    for key, row in final_rows(sim).items():
        acks = visible(row, float("inf"))
        twice = sorted({change for change in acks if acks.count(change) > 1})
        if key.startswith("ack/") and twice:
            return violated("observed-once", f"the change at ts={twice[0]} of row "
                            f"{key.removeprefix('ack/')} was observed twice: {key} = {acks}",
                            {"row": key, "acks": list(acks)})
    return passed("observed-once", "every change was observed at most once")
