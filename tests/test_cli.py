"""The CLI end to end, on a toy system: hunts with every strategy, replay, shrink, explore,
and one-line errors for bad input."""

from __future__ import annotations

import itertools
import json
import os
import re
import time
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

from checker import registry
from checker import shrink as shrink_module
from checker.cli import cli
from checker.sim import Cluster
from checker.strategies import Replay
from checker.system import Config
from tests import toys
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
        tables.append([[cell for cell in row if not re.fullmatch(r"[\d.]+s", cell)]
                       for row in rows])  # without "first violation", a wall-clock time
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
    (["shrink", "missing.json"], "missing.json"),
    (["replay", "forged\n  1. t=0     line\x1b[2J.json"], "forged\\n  1. t=0     line\\x1b[2J"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], fragment: str) -> None:
    assert_bad_input(run(*args), fragment)


def test_bad_budget_is_refused_by_the_option_parser() -> None:
    result = run("hunt", "counter", "--runs", 0)
    assert result.exit_code == 2 and "Traceback" not in result.output


# --- hostile and forged replay files -------------------------------------------------------


@pytest.fixture
def counterexample(tmp_path: Path) -> Path:
    """A real counterexample of the toy's seeded bug, unshrunk."""
    assert run("hunt", "counter:forgetful", "--no-shrink", "--quiet", "--report-dir",
               tmp_path / "found").exit_code == 0
    [path] = (tmp_path / "found").glob("*.json")
    return path


def edited(path: Path, edit) -> Path:
    data = json.loads(path.read_text())
    edit(data)
    out = path.with_name("edited.json")
    out.write_text(json.dumps(data))
    return out


def as_text(path: Path, edit) -> Path:
    out = path.with_name("edited.json")
    out.write_text(edit(path.read_text()))
    return out


def as_bytes(path: Path, data: bytes) -> Path:
    out = path.with_name("edited.json")
    out.write_bytes(data)
    return out


def config(**fields):
    return lambda data: data["config"].update(fields)


HOSTILE = {
    "non-UTF-8": (lambda p: as_bytes(p, p.read_bytes().replace(b'"counter"', b'"\xffx"')),
                  "not UTF-8"),
    "nested 100,000 deep": (lambda p: as_text(p, lambda t: "[" * 100_000 + "]" * 100_000),
                            "nested more than"),
    "nested 300 deep": (lambda p: as_text(p, lambda t: t.replace(
        '"seed": ', '"x": ' + "[" * 300 + "]" * 300 + ', "seed": ')), "nested more than"),
    "5,000-digit seed": (lambda p: as_text(p, lambda t: t.replace('"seed": ', '"seed": '
                                                                  + "9" * 5000 + ", \"x\": ")),
                         "5000 digits"),
    "seed 2**64": (lambda p: edited(p, lambda d: d.update(seed=2**64)), "0..2**64-1"),
    "negative seed": (lambda p: edited(p, lambda d: d.update(seed=-1)), "0..2**64-1"),
    "servers three": (lambda p: edited(p, config(servers="three")), "'servers' must be an int"),
    "faults x": (lambda p: edited(p, config(faults="x")), "'faults' must be an object"),
    "crash a": (lambda p: edited(p, config(faults={"crash": "a"})), "'crash' must be an int"),
    "keys 5": (lambda p: edited(p, config(params={"keys": 5})),
               "names 'keys', which counter does not read"),
    "unknown param": (lambda p: edited(p, config(params={"colour": 1})), "'colour'"),
    "surrogate system": (lambda p: as_text(p, lambda t: t.replace('"counter"', '"\\ud800"')),
                         "lone surrogate"),
    "surrogate variant": (lambda p: as_text(p, lambda t: t.replace('"forgetful"',
                                                                   '"\\udfff"')),
                          "lone surrogate"),
    "NaN": (lambda p: as_text(p, lambda t: t.replace('"seed": ', '"seed": NaN, "x": ')),
            "NaN is not JSON"),
    "Infinity": (lambda p: as_text(p, lambda t: t.replace('"seed": ', '"x": -Infinity, "seed": ')),
                 "-Infinity is not JSON"),
    "1e999": (lambda p: as_text(p, lambda t: t.replace('"seed": ', '"x": 1e999, "seed": ')),
              "out of range"),
    "servers 100000": (lambda p: edited(p, config(servers=100_000)), "within 1..16"),
    "clients 1000000": (lambda p: edited(p, config(clients=1_000_000)), "within 1..16"),
    "ops 10**7": (lambda p: edited(p, config(ops_per_client=10**7)), "within 0..200"),
    "max_steps 10**9": (lambda p: edited(p, config(max_steps=10**9)), "within 0..10000"),
    "quiesce_steps 10**9": (lambda p: edited(p, config(quiesce_steps=10**9)), "within 0..100000"),
    "quiesce_horizon 10**12": (lambda p: edited(p, config(quiesce_horizon=10**12)),
                               "within 0..100000"),
    "no such node": (lambda p: edited(p, lambda d: d["choices"].append(["fire", "zz", "tick"])),
                     "fire names 'zz', not a node"),
    "a client crashes": (lambda p: edited(p, lambda d: d["choices"].append(["crash", "c0"])),
                         "crash names 'c0', not a server"),
    "no such island node": (lambda p: edited(p, lambda d: d["choices"].append(
        ["partition", ["s", "\x1b[2J"]])), "partition names '\\x1b[2J', not a node"),
    "a pause longer than max_pause": (lambda p: edited(p, lambda d: d["choices"].append(
        ["pause", "s", 10**9])), "ticks must be within 1..1"),
    "no such invariant": (lambda p: edited(p, lambda d: d.update(invariant="bogus")),
                          "no invariant 'bogus'"),
    "no such verdict": (lambda p: edited(p, lambda d: d.update(verdict="maybe")),
                        "'verdict' must be one of"),
    "more choices than steps": (lambda p: edited(p, config(max_steps=0)),
                                "more than a run of its config takes"),
    "a directory": (lambda p: p.parent, "expected a regular file, found a directory"),
    "a FIFO": (lambda p: (os.mkfifo(p.with_name("fifo")), p.with_name("fifo"))[1],
               "expected a regular file, found a FIFO"),
}


@pytest.mark.parametrize("command", ["replay", "shrink"])
@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_replay_files_are_one_line_and_exit_2(counterexample: Path, name: str,
                                                      command: str) -> None:
    if name == "a FIFO" and not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")  # pragma: no cover - Windows
    make, fragment = HOSTILE[name]
    assert_bad_input(run(command, make(counterexample)), fragment)


def test_shrink_of_a_run_that_no_longer_violates_writes_nothing(counterexample: Path) -> None:
    """A counterexample from older code, say: shrink says so in one line and exits 1."""
    path = edited(counterexample, lambda data: data.update(choices=[]))
    result = run("shrink", path, "-o", path.parent / "out")
    assert result.exit_code == 1, result.output
    [line] = result.stderr.splitlines()
    assert "no longer violates acked-puts-durable" in line and "nothing written" in line
    assert not (path.parent / "out").exists()


def test_shrink_rechecks_its_result_before_writing(counterexample: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Were the shrunk list, replayed as it will be written, to pass, nothing is written."""
    real = shrink_module.execute
    concrete = []  # replays by number alone: the file's own, then the shrunk result's

    def last_one_passes(system, variant, config, seed, strategy):  # noqa: ANN001 - as execute
        if strategy.messages is None:
            concrete.append(strategy)
            if len(concrete) == 2:
                strategy = Replay([])
        return real(system, variant, config, seed, strategy)

    monkeypatch.setattr(shrink_module, "execute", last_one_passes)
    result = run("shrink", counterexample, "-o", counterexample.parent / "out")
    assert result.exit_code == 1, result.output
    assert "the shrunk run no longer violates acked-puts-durable" in result.stderr
    assert not (counterexample.parent / "out").exists()


def test_replay_says_when_a_file_records_no_violation(counterexample: Path) -> None:
    path = edited(counterexample, lambda data: data.update(variant="correct", invariant="all",
                                                           verdict="ok"))
    result = run("replay", path)
    assert result.exit_code == 0, result.output
    assert "reproduced" not in result.stdout
    assert result.stdout.splitlines()[-1] == \
        "replayed as recorded (all: ok): the file records no violation"
    assert run("shrink", path).exit_code == 2  # nothing to shrink


def test_replay_of_a_file_whose_violation_is_gone_says_not_reproduced(
        counterexample: Path) -> None:
    result = run("replay", edited(counterexample, lambda data: data.update(variant="correct")))
    assert result.exit_code == 1
    assert result.stderr == "NOT REPRODUCED: the file records acked-puts-durable: violated\n"


def hostile_names_build(config: Config, impl, rng) -> Cluster:  # noqa: ANN001 - as a build
    """The toy, with client names that would forge trace lines and clear the terminal."""
    cluster = toys.build(config, impl, rng)
    name = {c: f"{c}\x1b[2J\n 99. t=0     forged\u2028" for c in cluster.clients}
    return Cluster(servers=cluster.servers,
                   clients={name[c]: make for c, make in cluster.clients.items()},
                   workload={name[c]: ops for c, ops in cluster.workload.items()})


def test_outside_strings_are_escaped_in_every_output(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    hostile = attrs.evolve(COUNTER, name="hostile", build=hostile_names_build)
    monkeypatch.setattr(registry, "systems", lambda: {"hostile": hostile})
    assert run("hunt", "hostile:forgetful", "--no-shrink", "--quiet", "--report-dir",
               tmp_path).exit_code == 0
    [found] = tmp_path.glob("*.json")
    path = edited(found, config(name="x\x1b[31m\n# forged heading <script>`"))
    replayed = run("replay", path)
    shrunk = run("shrink", path, "-o", tmp_path / "out")
    assert replayed.exit_code == 0 and shrunk.exit_code == 0, replayed.output + shrunk.output
    [markdown] = (tmp_path / "out").glob("*.md")
    report_lines = markdown.read_text().splitlines()
    for line in replayed.output.splitlines() + shrunk.output.splitlines() + report_lines:
        assert line.isprintable(), line
    trace = replayed.stdout.split("\n\n")[0].splitlines()  # the checker's words follow
    assert len(trace) > 10 and not any(line.startswith(" 99. t=0     forged") for line in trace)
    assert "c0\\x1b[2J\\n 99. t=0     forged\\u2028 invokes put" in replayed.stdout
    assert not any(line.startswith("# forged") for line in report_lines)
    assert not any("<script>" in re.sub("`[^`]*`", "", line) for line in report_lines)
    assert "config `x\\x1b[31m\\n# forged heading <script>'`" in markdown.read_text()


def test_shrinking_does_not_depend_on_how_long_replays_take(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same hunt, on a machine whose clock runs an hour per reading, shrinks alike."""
    def found(out: Path) -> dict:
        assert run("hunt", "counter:forgetful", "--quiet", "--jobs", 1,
                   "--report-dir", out).exit_code == 0
        [path] = out.glob("*.json")
        return json.loads(path.read_text())

    normal = found(tmp_path / "normal")
    hours = itertools.count(step=3600.0)
    for name in ("monotonic", "perf_counter", "time"):
        monkeypatch.setattr(time, name, hours.__next__)
    assert found(tmp_path / "slow") == normal


def test_knobs_are_checked_against_the_systems_own_configurations():
    from checker.system import params_problem
    from implementations.bigtable import SYSTEM as bigtable
    from implementations.dynamo import SYSTEM as dynamo

    assert params_problem({"keys": ["x", "y"], "n": 3, "sloppy": True}, dynamo) is None
    assert "'keys' is an integer of another shape" in params_problem({"keys": 5}, dynamo)
    assert "'sloppy' is an integer" in params_problem({"sloppy": 1}, dynamo)
    assert "names 'colour', which dynamo does not read" in params_problem({"colour": 1}, dynamo)
    assert params_problem({"rows": ["a"], "split_key": None}, bigtable) is None
