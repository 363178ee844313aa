"""Property systems (`checker.properties`) on a toy: run-length encoding of digits.

A hunt is one Hypothesis search: the seeded bug is found, shrunk to the smallest input that
shows it (four zeros), written as a replay file holding that input, replayed and re-shrunk by
the CLI; the correct variant survives; the same seed finds the same input in any process;
forged files are refused in one line; reports, lessons and `deepdives list` show the input and
the property where a simulated system shows a trace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

from checker import lesson, registry, watchdog
from checker.cli import cli
from checker.hunt import Budget, hunt
from checker.properties import check_input, pretty_json, smaller
from checker.replayfile import PropertyCounterexample, ReplayFileError, check_fits, load
from checker.run import execute
from checker.strategies import RandomWalk, Replay
from checker.system import System, Variant
from tests.toys import COUNTER
from tests.toys_property import TOY_RLE, RunLength

ROOT = Path(__file__).parent.parent
DEFAULT = TOY_RLE.config("default")


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The toy (and a simulated toy beside it) as the whole registry."""
    monkeypatch.setattr(registry, "systems", lambda: {TOY_RLE.name: TOY_RLE,
                                                      COUNTER.name: COUNTER})


def found(variant: str, tmp_path: Path, **options) -> object:
    return hunt(TOY_RLE, variant, DEFAULT, budget=Budget(runs=2000), report_dir=tmp_path,
                **options)


def invoke(*args: str) -> object:
    return CliRunner().invoke(cli, list(args))


# --- the hunt ---------------------------------------------------------------------------------


def test_a_property_system_registers_as_a_system() -> None:
    assert isinstance(TOY_RLE, System) and TOY_RLE.kind == "property"
    assert [p.kind for p in TOY_RLE.invariants] == ["property", "property"]
    assert COUNTER.kind == "simulation"


def test_the_correct_variant_survives_its_budget_of_examples() -> None:
    outcome = hunt(TOY_RLE, "correct", DEFAULT, budget=Budget(runs=400))
    assert outcome.passed and outcome.verdict == "clean"
    assert outcome.runs == 400 and outcome.unknowns == 0


def test_the_seeded_bug_is_found_and_shrunk_to_four_zeros(tmp_path: Path) -> None:
    outcome = found("two-bit-counts", tmp_path)
    assert outcome.verdict == "found" and 1 <= outcome.runs < 2000
    assert outcome.violation.verdict.invariant == "roundtrip"
    assert outcome.violation.sim.input == [0, 0, 0, 0]
    assert outcome.after == 4 and outcome.before >= 4
    assert outcome.violation.choices == [("input", [0, 0, 0, 0])]


def test_an_exception_in_the_implementation_is_a_finding(tmp_path: Path) -> None:
    outcome = found("nine-raises", tmp_path)
    assert outcome.violation.sim.input == [9]
    assert "raised ValueError: no code for 9" in outcome.violation.verdict.explanation


def test_the_counterexample_file_names_the_property_and_holds_the_input(tmp_path: Path) -> None:
    outcome = found("two-bit-counts", tmp_path)
    data = json.loads(Path(outcome.replay_path).read_text())
    assert data["property"] == "roundtrip" and data["input"] == [0, 0, 0, 0]
    assert "choices" not in data and "invariant" not in data
    example = load(outcome.replay_path)
    assert isinstance(example, PropertyCounterexample)
    again = execute(TOY_RLE, "two-bit-counts", example.config, example.seed,
                    Replay(example.choices))  # what tests/test_hunts.py does
    assert (again.verdict.invariant, again.verdict.status) == ("roundtrip", "violated")
    assert again.sim.fingerprint() == outcome.violation.sim.fingerprint()


def test_the_report_shows_the_input_and_the_property(tmp_path: Path) -> None:
    text = Path(found("two-bit-counts", tmp_path).report_path).read_text()
    assert "```json\n[0, 0, 0, 0]\n```" in text
    assert "Decoding what was encoded gives the digits back." in text
    assert "## Trace" not in text and "an input of size 4" in text


def test_the_budget_only_cuts_the_search_short(tmp_path: Path) -> None:
    """Hypothesis is told the same budget whatever the hunt's: a smaller budget finds the
    bug at the same example, or not at all."""
    full = found("two-bit-counts", tmp_path)
    assert found("two-bit-counts", tmp_path, shrink_found=False).runs == full.runs
    cut = hunt(TOY_RLE, "two-bit-counts", DEFAULT, budget=Budget(runs=full.runs - 1))
    assert cut.verdict == "MISSED" and cut.runs == full.runs - 1


def test_without_shrinking_the_first_violation_is_kept(tmp_path: Path) -> None:
    outcome = found("two-bit-counts", tmp_path, shrink_found=False)
    assert outcome.before == outcome.after > 4


def test_a_shrink_budget_of_checks_is_kept(tmp_path: Path) -> None:
    tight = found("two-bit-counts", tmp_path, shrink_replays=1)
    assert tight.violation.verdict.invariant == "roundtrip"
    assert tight.after <= tight.before and tight.after >= 4


def test_a_time_budget_ends_the_search() -> None:
    outcome = hunt(TOY_RLE, "correct", DEFAULT, budget=Budget(runs=None, seconds=0.3))
    assert outcome.verdict == "clean" and outcome.runs > 0


def test_shard_i_searches_from_seed_plus_i() -> None:
    from checker.hunt import Shard

    sharded = hunt(TOY_RLE, "two-bit-counts", DEFAULT, budget=Budget(runs=2000), seed=5,
                   shard=Shard(2, 3))
    direct = hunt(TOY_RLE, "two-bit-counts", DEFAULT, budget=Budget(runs=2000), seed=7)
    assert (sharded.runs, sharded.before) == (direct.runs, direct.before)


def test_a_run_that_is_not_a_replay_checks_the_simplest_input() -> None:
    result = execute(TOY_RLE, "correct", DEFAULT, 3, RandomWalk(3))
    assert result.sim.input == [] and result.verdict.ok and result.steps == 0


def test_the_pytest_plugin_hunts_a_property_system(assert_hunt, registered) -> None:
    assert assert_hunt("toyrle", "two-bit-counts", 2000).after == 4
    assert assert_hunt("toyrle", "correct", 200).verdict == "clean"


SAME_SEED = """
import sys
if sys.argv[1] == "loaded":  # other modules' constants must not change the draws
    import checker.cli, models.kv, tests.test_replay_fuzz
from checker.hunt import Budget, hunt
from tests.toys_property import TOY_RLE, RunLength
for variant in ("two-bit-counts", "nine-raises"):
    for seed in (0, 11):
        o = hunt(TOY_RLE, variant, TOY_RLE.config("default"), budget=Budget(runs=2000),
                 seed=seed)
        print(variant, seed, o.runs, o.before, o.violation.sim.input)
"""


def test_the_same_seed_finds_the_same_input_in_any_process() -> None:
    outputs = []
    for hash_seed, imports in (("0", "bare"), ("4242", "loaded")):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, "-c", SAME_SEED, imports], capture_output=True,
                              text=True, env=env, cwd=ROOT, check=True)
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1] and outputs[0].count("\n") == 4
    here = hunt(TOY_RLE, "two-bit-counts", DEFAULT, budget=Budget(runs=2000), seed=11)
    assert f"two-bit-counts 11 {here.runs} {here.before} " in outputs[0]


# --- the CLI ----------------------------------------------------------------------------------


def test_list_shows_the_properties(registered) -> None:
    result = invoke("list")
    assert "properties (of inputs Hypothesis draws): roundtrip, maximal-runs" in result.output


def test_hunt_prints_input_sizes(registered, tmp_path: Path) -> None:
    result = invoke("hunt", "toyrle", "--runs", "300", "--jobs", "1", "--quiet",
                    "--report-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "two-bit-counts" in line)
    assert "found" in row and "-> 4" in row


def test_replay_rechecks_the_input(registered, tmp_path: Path) -> None:
    result = invoke("replay", found("two-bit-counts", tmp_path).replay_path)
    assert result.exit_code == 0
    assert result.output.splitlines()[:2] == ["input:", "[0, 0, 0, 0]"]
    assert "roundtrip: violated\ndecode(encode([0, 0, 0, 0])) is []\nreproduced" in result.output


def test_replay_of_a_forged_verdict_does_not_reproduce(registered, tmp_path: Path) -> None:
    path = Path(found("two-bit-counts", tmp_path).replay_path)
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "property": "maximal-runs"}))
    result = invoke("replay", str(path))
    assert result.exit_code == 1 and "NOT REPRODUCED" in result.stderr


def test_shrink_says_a_shrunk_input_is_minimal(registered, tmp_path: Path) -> None:
    path = found("two-bit-counts", tmp_path).replay_path
    result = invoke("shrink", path, "-o", str(tmp_path / "out"))
    assert result.exit_code == 0 and "minimal" in result.output
    assert not (tmp_path / "out").exists()


def test_shrink_shrinks_a_larger_input(registered, tmp_path: Path) -> None:
    path = Path(found("two-bit-counts", tmp_path).replay_path)
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "input": [3, 0, 0, 0, 0, 0, 5]}))
    result = invoke("shrink", str(path), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0 and "input of size 7 -> 4" in result.output
    [written] = (tmp_path / "out").glob("*.json")
    assert load(written).input == [0, 0, 0, 0]


def test_shrink_of_an_input_that_no_longer_fails(registered, tmp_path: Path) -> None:
    path = Path(found("two-bit-counts", tmp_path).replay_path)
    path.write_text(json.dumps({**json.loads(path.read_text()), "input": [1, 2]}))
    result = invoke("shrink", str(path), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1 and "no longer violates roundtrip" in result.stderr


@pytest.mark.parametrize("edit, complaint", [
    ({"input": [1, "x"]}, "field 'input' is not an input of toyrle: every item must be a digit"),
    ({"input": {"a": 1}}, "field 'input' is not an input of toyrle: expected a list"),
    ({"input": [0] * 13}, "expected a list of at most 12 digits"),
    ({"property": "bogus"}, "toyrle checks no property 'bogus'"),
    ({"property": 3}, "field 'property' must be a str, not an integer"),
    ({"system": "counter", "variant": "correct"}, "counter replays choices of events"),
    ({"choices": [], "invariant": "roundtrip"}, "toyrle is a property system: its replay "
                                                "files hold an input, not choices"),
    ({"seed": -1}, "field 'seed' must be within 0..2**64-1"),
    ({"config": {"name": "x", "params": {"max_length": "long"}}}, "'max_length' is"),
])
def test_forged_files_are_refused_in_one_line(registered, tmp_path: Path, edit: dict,
                                              complaint: str) -> None:
    path = Path(found("two-bit-counts", tmp_path).replay_path)
    path.write_text(json.dumps({**json.loads(path.read_text()), **edit}))
    for command in ("replay", "shrink"):
        result = invoke(command, str(path))
        assert result.exit_code == 2, result.output
        [line] = result.stderr.splitlines()
        assert line.startswith("deepdives: error: ") and complaint in line, line


def test_check_fits_refuses_an_input_for_a_simulated_system(tmp_path: Path) -> None:
    example = load(found("two-bit-counts", tmp_path).replay_path)
    with pytest.raises(ReplayFileError, match="replays choices of events"):
        check_fits(example, COUNTER)


def test_explore_refuses_a_property_system(registered) -> None:
    result = invoke("explore", "toyrle")
    assert result.exit_code == 2 and "property system" in result.stderr


# --- lessons ----------------------------------------------------------------------------------


def test_a_lesson_block_shows_the_input(registered, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    page = Path("toy.md")
    page.write_text("# Toy\n\n<!-- trace toyrle:two-bit-counts -->\n<!-- /trace -->\n")
    lesson.update(page, check=False)
    text = page.read_text()
    assert "```json\n[0, 0, 0, 0]\n```" in text and "**Violated:** `roundtrip`" in text
    assert "Replay it: `deepdives replay traces/toyrle.two-bit-counts.json`" in text
    assert lesson.update(page, check=True)  # the saved file renders the same block
    page.write_text(text.replace("[0, 0, 0, 0]", "[0, 0, 0]"))
    assert not lesson.update(page, check=True)


# --- the pieces -------------------------------------------------------------------------------


def test_smaller_json_values_are_strictly_smaller() -> None:
    assert list(smaller([2, True])) == [[True], [2], [0, True], [1, True], [2, False]]
    assert list(smaller(-7)) == [0, -3, -6] and list(smaller(0)) == []
    assert list(smaller("ab")) == ["b", "a"] and list(smaller(2.5)) == [0.0, 2.0]
    assert list(smaller({"k": 1})) == [{"k": 0}]


def test_pretty_json_breaks_long_values_and_hides_backticks() -> None:
    assert pretty_json([1, [2, 3]]) == ["[1, [2, 3]]"]
    lines = pretty_json({"a": list(range(40)), "b": "`"}, width=40)
    assert lines[0] == "{" and lines[-1] == "}" and lines[1] == '  "a": ['
    assert all(len(line) <= 40 for line in lines) and '"\\u0060"' in lines[-2]
    assert json.loads("\n".join(lines)) == {"a": list(range(40)), "b": "`"}
    assert pretty_json(["\x7f", "é"]) == ['["\\u007f", "\\u00e9"]']  # printable ASCII


class LoopsOnNine(RunLength):
    def encode(self, digits: list[int]) -> list[tuple[int, int]]:
        while 9 in digits:  # never advances
            pass
        return super().encode(digits)


def test_a_check_that_never_returns_is_a_finding_not_a_hung_hunt(monkeypatch) -> None:
    monkeypatch.setattr(watchdog, "SECONDS", 0.5)
    looping = attrs.evolve(TOY_RLE, variants={**TOY_RLE.variants, "loops": Variant(
        "loops", LoopsOnNine(), breaks="hangs on a 9", caught_by="roundtrip")})
    verdict = check_input(looping, "loops", [9])
    assert verdict.violated and verdict.invariant == "roundtrip"
    assert "ran for 0.5 s without returning" in verdict.explanation
    assert check_input(looping, "loops", [1, 2]).ok
