"""A hunt says what it knows: runs no check could decide are shown and are not 'clean'."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from click.testing import CliRunner

from checker import registry
from checker.cli import cli
from checker.hunt import Budget, hunt
from checker.system import Variant, history_invariant
from invariants.verdict import unknown
from tests.toys import COUNTER, Counter


@history_invariant("undecidable")
def undecidable(sim: Any) -> Any:
    """A check whose budget always runs out."""
    return unknown("undecidable", "budget spent")


UNDECIDED = attrs.evolve(COUNTER, name="undecided",
                         invariants=(*COUNTER.invariants, undecidable))


@pytest.fixture
def only_undecided(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "systems", lambda: {UNDECIDED.name: UNDECIDED})


def test_a_correct_variant_with_unknown_runs_is_not_clean(only_undecided, tmp_path):
    result = CliRunner().invoke(cli, ["hunt", "undecided:correct", "--runs", "3", "--jobs", "1",
                                      "--quiet", "--report-dir", str(tmp_path)])
    assert result.exit_code == 3, result.output
    header, row = result.stdout.splitlines()
    assert header.split()[:5] == ["system", "variant", "verdict", "runs", "unknown"]
    assert row.split()[:5] == ["undecided", "correct", "UNKNOWN", "3", "3"]
    assert "undecided:correct (UNKNOWN)" in result.stderr


def test_a_missed_bug_outranks_unknown_runs_in_the_exit_code(only_undecided, tmp_path):
    result = CliRunner().invoke(cli, ["hunt", "undecided", "--runs", "1", "--jobs", "1",
                                      "--quiet", "--no-shrink", "--report-dir", str(tmp_path)])
    rows = {line.split()[1]: line.split()[2] for line in result.stdout.splitlines()[1:]}
    assert rows == {"correct": "UNKNOWN", "forgetful": "MISSED"}
    assert result.exit_code == 1


@pytest.mark.parametrize("args, fragment", [
    (["check", "--budget-seconds", "abc", "x.jsonl"], "'abc' is not a valid float"),
    (["hunt", "--runs", "0"], "'--runs': 0 is not in the range"),
    (["check"], "Missing argument 'FILE'"),
    (["replay", "a", "b"], "unexpected extra argument"),
])
def test_usage_errors_are_one_line_of_bad_input(args, fragment):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("deepdives: error: ") and fragment in line
    assert f"(see 'cli {args[0]} --help')" in line


class Deaf(Counter):
    """Acknowledges nothing: its clients' operations never complete ok."""

    def on_message(self, ctx: Any, src: str, msg: Any) -> None:
        return None


def test_a_hunt_reports_the_share_of_operations_completed_ok() -> None:
    deaf = attrs.evolve(COUNTER, variants={"correct": Variant("correct", Deaf)})
    working = hunt(COUNTER, "correct", COUNTER.config("default"), budget=Budget(runs=5))
    silent = hunt(deaf, "correct", deaf.config("default"), budget=Budget(runs=5))
    assert working.invoked == silent.invoked > 0
    assert 0 < working.completed_ok <= working.invoked and working.ok_share.endswith("%")
    assert silent.completed_ok == 0 and silent.ok_share == "0%"


def test_the_hunt_table_shows_the_ok_share(only_undecided, tmp_path):
    result = CliRunner().invoke(cli, ["hunt", "undecided:correct", "--runs", "2", "--jobs", "1",
                                      "--quiet", "--report-dir", str(tmp_path)])
    header, row = result.stdout.splitlines()
    assert header.split()[5:7] == ["ops", "ok"]
    assert row.split()[5].endswith("%")
