"""A failing handler is a finding with its trace; a failure of the engine is not."""

from __future__ import annotations

import time
from typing import Any

import attrs
import pytest

from checker import watchdog
from checker.hunt import Budget, hunt
from checker.node import Context
from checker.run import execute
from checker.sim import HANDLERS
from checker.strategies import RandomWalk, Replay
from checker.system import Variant
from tests.toys import COUNTER, Counter


class RaisingCounter(Counter):
    """Raises on the first put."""

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        raise RuntimeError(f"cannot take {msg.value}")


class LoopingCounter(Counter):
    """Loops forever on the first put: an index that is never advanced."""

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        i = 0
        while i < 1:
            pass


def with_variant(name: str, impl: type) -> Any:
    variants = {**COUNTER.variants, name: Variant(name, impl, breaks="", caught_by="")}
    return attrs.evolve(COUNTER, variants=variants)


def test_an_exception_in_a_handler_is_a_finding_that_names_the_node_and_handler():
    system = with_variant("raising", RaisingCounter)
    result = execute(system, "raising", system.config("default"), 0, RandomWalk(0))
    verdict = result.verdict
    assert verdict.violated and verdict.invariant == "no-handler-exception"
    assert verdict.explanation.startswith("s: on_message(")
    assert "RuntimeError('cannot take" in verdict.explanation
    assert "cannot take" in verdict.witness["traceback"]
    assert result.choices[-1][0] == "deliver"


def test_an_engine_error_is_not_reported_as_a_node_raising():
    config = COUNTER.config("default")
    with pytest.raises(KeyError):
        execute(COUNTER, "correct", config, 0, Replay([("fire", "no-such-node", "tick")]))


def test_a_handler_that_never_returns_is_a_finding_with_its_trace(monkeypatch):
    monkeypatch.setattr(watchdog, "SECONDS", 0.5)
    system = with_variant("looping", LoopingCounter)
    started = time.monotonic()
    outcome = hunt(system, "looping", system.config("default"), budget=Budget(runs=3),
                   shrink_found=False)
    assert time.monotonic() - started < 30
    verdict = outcome.violation.verdict
    assert verdict.invariant == "handler-returns"
    assert verdict.explanation.startswith("s: on_message(")
    assert "without returning" in verdict.explanation
    assert outcome.violation.choices[-1][0] == "deliver"
    assert HANDLERS.node is None and not HANDLERS.watched


def test_the_guard_restores_the_previous_alarm_handler():
    import signal

    def mine(signum, frame):  # pragma: no cover - never fires
        pass

    previous = signal.signal(signal.SIGALRM, mine)
    try:
        with watchdog.guard():
            assert signal.getitimer(signal.ITIMER_REAL)[0] > 0
        assert signal.getsignal(signal.SIGALRM) is mine
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    finally:
        signal.signal(signal.SIGALRM, previous)


def test_the_hypothesis_strategy_reports_a_raising_handler_with_a_replayable_trace():
    from checker.hypothesis_adapter import hypothesis_hunt

    system = with_variant("raising", RaisingCounter)
    found, _ = hypothesis_hunt(system, "raising", system.config("default"), 0, Budget(runs=50))
    assert found.verdict.invariant == "no-handler-exception"
    assert found.choices[-1][0] == "deliver"
