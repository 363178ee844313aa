"""One run: build a system's variant, drive it with a strategy, check its invariants.

A run is fully named by (system, variant, config, seed, choices): the same name gives the same
trace, in any process.
"""

from __future__ import annotations

import hashlib
import random
import traceback

import attrs

from checker import watchdog
from checker.sim import NodeFailure, Simulation
from checker.strategies import Strategy
from checker.system import Config, System
from invariants.verdict import OK, UNKNOWN, Verdict, passed, unknown, violated


@attrs.frozen
class RunResult:
    system: str
    variant: str
    config: Config
    seed: int
    verdict: Verdict
    sim: Simulation

    @property
    def violated(self) -> bool:
        return self.verdict.violated

    @property
    def choices(self) -> list[tuple]:
        return self.sim.choices()

    @property
    def steps(self) -> int:
        return len(self.sim.trace)


def build_seed(seed: int) -> int:
    """The seed of a run's construction (workload, initial draws), derived without hashing."""
    digest = hashlib.blake2b(f"build/{seed}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def new_simulation(system: System, variant: str, config: Config, seed: int) -> Simulation:
    cluster = system.build(config, system.variant(variant).impl, random.Random(build_seed(seed)))
    return Simulation(cluster, seed, config.epsilon, config.faults, system.fifo,
                      config.max_drift)


def execute(system: System, variant: str, config: Config, seed: int,
            strategy: Strategy) -> RunResult:
    if system.kind == "property":  # no simulation: the run checks one input
        from checker import properties  # which builds on this module

        return properties.execute(system, variant, config, seed, strategy)
    sim = new_simulation(system, variant, config, seed)
    try:
        with watchdog.guard():
            sim.start()
            verdict = _drive(system, sim, config, strategy)
    except NodeFailure as failure:  # a handler bug is a finding, not a crash of the tool
        verdict = node_failure(failure)
    return RunResult(system.name, variant, config, seed, verdict, sim)


def node_failure(failure: NodeFailure) -> Verdict:
    """The violation a failed handler call stands for, with where the node raised."""
    cause = failure.__cause__
    witness = {"node": failure.node, "handler": failure.handler}
    if cause is not None:
        witness["traceback"] = "".join(traceback.format_exception(cause, limit=-8))
    return violated(failure.invariant, str(failure), witness)


def _drive(system: System, sim: Simulation, config: Config, strategy: Strategy) -> Verdict:
    checks = [(inv.name, inv.check) for inv in system.invariants if inv.kind == "state"]
    broken: list[Verdict] = []

    def check_state() -> bool:
        for name, check in checks:
            sentence = check(sim)
            if sentence:
                broken.append(violated(name, sentence, {"step": len(sim.trace)}))
                return True
        return False

    for _ in range(config.max_steps):
        event = strategy.next(sim)
        if event is None:
            break
        sim.execute(event)
        if check_state():
            return broken[0]
    sim.quiesce(config.quiesce_horizon, config.quiesce_steps, check_state, config.rest)
    if broken:
        return broken[0]
    return check_history(system, sim)


def check_history(system: System, sim: Simulation) -> Verdict:
    verdicts = [inv.check(sim) for inv in system.invariants if inv.kind == "history"]
    for verdict in verdicts:
        if verdict.violated:
            return verdict
    undecided = [v for v in verdicts if v.status == UNKNOWN]
    if undecided:
        return unknown(undecided[0].invariant, undecided[0].explanation, undecided[0].witness)
    return passed("all", f"{len(verdicts)} history invariants hold") if verdicts else \
        Verdict("all", OK, "no history invariants")
