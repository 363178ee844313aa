"""The CLI end to end, on a toy system: hunts with every strategy, replay, shrink, explore,
and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from checker import registry
from checker.cli import cli
from tests.toys import COUNTER


@pytest.fixture(autouse=True)
def only_the_toy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "systems", lambda: {COUNTER.name: COUNTER})


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_bad_input(result, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("deepdives: error: ") and fragment in line, line


def test_list_names_variants_and_invariants() -> None:
    result = run("list")
    assert result.exit_code == 0
    assert "counter" in result.stdout and "forgetful" in result.stdout
    assert "acked-puts-durable" in result.stdout


def test_parallel_hunts_give_the_same_results(tmp_path: Path) -> None:
    """Only the wall-clock column may differ between one process and several."""
    tables, files = [], []
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}"
        result = run("hunt", "counter", "--runs", 200, "--jobs", jobs, "--quiet",
                     "--report-dir", out)
        assert result.exit_code == 0, result.output
        rows = [line.replace(str(out), "DIR").split() for line in result.stdout.splitlines()]
        tables.append([row[:4] + row[5:] for row in rows])  # without "first violation"
        files.append({p.name: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))})
    assert tables[0] == tables[1] and files[0] == files[1] and files[0]


@pytest.mark.parametrize("strategy, runs", [("random", 300), ("pct", 300), ("portfolio", 300),
                                             ("hypothesis", 40)])  # hypothesis runs are long
def test_hunt_finds_the_bug_with_every_strategy(tmp_path: Path, strategy: str,
                                                runs: int) -> None:
    result = run("hunt", "counter", "--runs", runs, "--strategy", strategy, "--quiet",
                 "--report-dir", tmp_path)
    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line.split()[2] for line in result.stdout.splitlines()[1:]}
    assert rows == {"correct": "clean", "forgetful": "found"}
    assert len(list(tmp_path.glob("counter.forgetful.seed*.json"))) == 1


def test_replay_and_shrink_a_hunts_counterexample(tmp_path: Path) -> None:
    assert run("hunt", "counter:forgetful", "--no-shrink", "--quiet", "--report-dir",
               tmp_path).exit_code == 0
    [replay_file] = tmp_path.glob("*.json")
    replayed = run("replay", replay_file)
    assert replayed.exit_code == 0 and replayed.stdout.rstrip().endswith("reproduced")
    shrunk = run("shrink", replay_file, "-o", tmp_path / "shrunk")
    assert shrunk.exit_code == 0, shrunk.output
    [shrunk_file] = (tmp_path / "shrunk").glob("*.json")
    assert len(json.loads(shrunk_file.read_text())["choices"]) <= \
        len(json.loads(replay_file.read_text())["choices"])
    assert run("replay", shrunk_file).exit_code == 0


def test_a_missed_bug_fails_the_hunt(tmp_path: Path) -> None:
    result = run("hunt", "counter:forgetful", "--runs", 1, "--seed", 1, "--quiet",
                 "--report-dir", tmp_path)
    if "found" in result.stdout:
        pytest.skip("seed 1 happens to find it")  # pragma: no cover - depends on the toy
    assert result.exit_code == 1 and "MISSED" in result.stdout


def test_explore_finds_a_shortest_counterexample_and_passes_the_correct_variant(
        tmp_path: Path) -> None:
    result = run("explore", "counter", "--config", "default", "--faults", "crash=1",
                 "--depth", 5, "--quiet", "--report-dir", tmp_path)
    assert result.exit_code == 0, result.output
    verdicts = dict(line.split(": ", 1) for line in result.stdout.splitlines()
                    if line.startswith("counter:"))
    assert verdicts["counter:forgetful"].startswith("violated acked-puts-durable")
    assert verdicts["counter:correct"].startswith("unknown exploration")  # bounded by depth
    [replay_file] = tmp_path.glob("counter.forgetful.*.json")
    assert run("replay", replay_file).exit_code == 0


def test_explore_ending_only_leaves_still_finds_the_bug_but_no_shorter(tmp_path: Path) -> None:
    lengths = {}
    for ends in ("every", "leaves"):
        result = run("explore", "counter:forgetful", "--config", "default", "--faults",
                     "crash=1", "--depth", 5, "--ends", ends, "--quiet",
                     "--report-dir", tmp_path / ends)
        assert result.exit_code == 0, result.output
        [events] = [line.split()[0] for line in result.stdout.splitlines()
                    if line.endswith(".md") and "events; replay" in line]
        lengths[ends] = int(events)
    assert lengths["every"] <= lengths["leaves"]


def test_explore_without_faults_misses_the_crash_bug(tmp_path: Path) -> None:
    result = run("explore", "counter:forgetful", "--config", "default", "--depth", 6,
                 "--quiet", "--report-dir", tmp_path)
    assert result.exit_code == 1 and "FAILED: counter:forgetful" in result.stderr


@pytest.mark.parametrize("args, fragment", [
    (["hunt", "nope"], "unknown system 'nope'"),
    (["hunt", "counter:nope"], "no variant 'nope'"),
    (["hunt", "counter", "--config", "huge"], "no config 'huge'"),
    (["hunt", "counter", "--shard", "3/2"], "shard '3/2'"),
    (["explore", "counter", "--config", "default", "--faults", "meteor=1"], "'meteor'"),
    (["explore", "counter", "--config", "default", "--faults", "crash=x"], "crash=N"),
    (["replay", "missing.json"], "missing.json"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], fragment: str) -> None:
    assert_bad_input(run(*args), fragment)


def test_bad_budget_is_refused_by_the_option_parser() -> None:
    result = run("hunt", "counter", "--runs", 0)
    assert result.exit_code == 2 and "Traceback" not in result.output
