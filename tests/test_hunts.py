"""One hunt per (system, variant) in the registry, so `pytest -n auto` spreads them.

A seeded bug must be found (and its counterexample must replay to the same violation); a
correct variant must survive its whole budget. Systems added later are picked up here.
"""

from __future__ import annotations

import pytest

from checker import registry
from checker.replayfile import load
from checker.run import execute
from checker.strategies import Replay

SEEDED_RUNS = 2000  # a ceiling: a seeded bug hunt stops at its first violation
CORRECT_RUNS = 300

TARGETS = [(system.name, variant.name, variant.seeded)
           for system in registry.systems().values() for variant in system.variants.values()]


@pytest.mark.parametrize("system_name, variant, seeded", TARGETS,
                         ids=[f"{s}:{v}" for s, v, _ in TARGETS])
def test_hunt(assert_hunt, system_name: str, variant: str, seeded: bool) -> None:
    outcome = assert_hunt(system_name, variant, SEEDED_RUNS if seeded else CORRECT_RUNS)
    if not seeded:
        return
    example = load(outcome.replay_path)
    system = registry.lookup(system_name)
    again = execute(system, variant, example.config, example.seed, Replay(example.choices))
    assert (again.verdict.invariant, again.verdict.status) == (example.invariant, "violated")
    assert again.sim.fingerprint() == outcome.violation.sim.fingerprint()
