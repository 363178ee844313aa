"""Replay memory: what a hunt found is replayed first by the next hunt of that variant, from
pytest, from `deepdives hunt --database`, and with the Hypothesis strategy."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from checker.hunt import Budget, hunt
from checker.hypothesis_adapter import hypothesis_hunt
from checker.memory import ReplayMemory
from tests.toys import COUNTER

pytest_plugins = ["pytester"]
CONFIG = COUNTER.config("default")


def test_a_remembered_failure_is_found_first_and_replays_exactly(tmp_path: Path) -> None:
    memory = ReplayMemory.at(tmp_path / "db")
    first = hunt(COUNTER, "forgetful", CONFIG, budget=Budget(runs=500), seed=5, memory=memory)
    assert first.runs > 1 and len(memory.entries("counter", "forgetful")) == 1
    second = hunt(COUNTER, "forgetful", CONFIG, budget=Budget(runs=500), seed=900,
                  memory=memory)
    assert second.runs == 1 and second.verdict == "found"
    assert second.violation.choices == first.violation.choices


def test_a_failure_that_no_longer_reproduces_is_forgotten(tmp_path: Path) -> None:
    memory = ReplayMemory.at(tmp_path / "db")
    found = hunt(COUNTER, "forgetful", CONFIG, budget=Budget(runs=500), memory=memory)
    # the same failure filed under the correct variant, as if its bug had been fixed
    entry = json.loads(memory.entries("counter", "forgetful")[0])
    memory.database.save(memory.key("counter", "correct"),
                         json.dumps({**entry, "variant": "correct"}).encode())
    clean = hunt(COUNTER, "correct", CONFIG, budget=Budget(runs=20), memory=memory)
    assert found.violation is not None and clean.verdict == "clean"
    assert memory.entries("counter", "correct") == []


def test_an_unreadable_entry_is_forgotten(tmp_path: Path) -> None:
    memory = ReplayMemory.at(tmp_path / "db")
    memory.database.save(memory.key("counter", "forgetful"), b"{not json")
    assert memory.replay(COUNTER, "forgetful") is None
    assert memory.entries("counter", "forgetful") == []


def test_the_hypothesis_strategy_replays_its_database_first(tmp_path: Path) -> None:
    first, tried = hypothesis_hunt(COUNTER, "forgetful", CONFIG, 4, Budget(runs=300),
                                   tmp_path / "hyp")
    assert first is not None and tried > 1
    again, tried_again = hypothesis_hunt(COUNTER, "forgetful", CONFIG, 77, Budget(runs=300),
                                         tmp_path / "hyp")
    assert again is not None and tried_again == 1
    assert again.sim.fingerprint() == first.sim.fingerprint()


def test_the_cli_remembers_with_database(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from checker.cli import cli

    args = ["hunt", "sso:minority-quorum", "--quiet", "--jobs", "1", "--report-dir",
            str(tmp_path / "reports"), "--database", str(tmp_path / "db")]
    runner = CliRunner()
    first = runner.invoke(cli, [*args, "--seed", "0"])
    second = runner.invoke(cli, [*args, "--seed", "12345"])
    assert first.exit_code == second.exit_code == 0
    assert len(ReplayMemory.at(tmp_path / "db").entries("sso", "minority-quorum")) == 1
    runs = [line.split()[3] for line in second.output.splitlines()
            if line.startswith("sso ")]
    assert runs == ["1"]


PYTEST_HUNT = """
from tests.toys import COUNTER

def test_hunt(assert_hunt):
    outcome = assert_hunt(COUNTER, "forgetful", 2000, config_name="default")
    print("RUNS", outcome.runs)
"""


def test_pytest_replays_a_failure_first_on_its_next_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_forgetful=PYTEST_HUNT)
    pytester.syspathinsert(str(Path(__file__).resolve().parent.parent))
    counts = []
    for _ in range(2):
        result = pytester.runpytest("-s", "-p", "no:xdist")
        result.assert_outcomes(passed=1)
        counts.append(int(next(line.split()[-1] for line in result.outlines
                               if line.startswith("RUNS") or " RUNS " in line
                               or "RUNS" in line)))
    assert counts[0] > 1 and counts[1] == 1
    assert (pytester.path / ".hypothesis" / "deepdives").is_dir()


def test_database_none_turns_pytests_memory_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_forgetful=PYTEST_HUNT)
    pytester.syspathinsert(str(Path(__file__).resolve().parent.parent))
    for _ in range(2):
        result = pytester.runpytest("-s", "-p", "no:xdist", "--deepdives-database", "none")
        result.assert_outcomes(passed=1)
    assert not (pytester.path / ".hypothesis" / "deepdives").exists()


def test_runs_is_a_strategy_of_whole_runs() -> None:
    from hypothesis import given, settings

    from checker.hypothesis_adapter import runs

    seen = []

    @settings(max_examples=300, deadline=None, database=None)
    @given(runs(COUNTER, "forgetful"))
    def never_violated(run) -> None:
        seen.append(run)
        assert not run.violated

    with pytest.raises(AssertionError):
        never_violated()
    assert seen[-1].violated and seen[-1].verdict.invariant == "acked-puts-durable"
    assert attrs.has(type(seen[-1]))
