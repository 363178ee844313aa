"""Hostile replay files for `deepdives replay` and `deepdives shrink`, made by Hypothesis.

Each input starts from a real counterexample (sso:restart-grants-at-once, found by a hunt
here) and is mutated: random bytes, truncation, bytes that are not UTF-8, deep nesting, huge and
out-of-range numbers, NaN, wrong types, missing fields, unknown kinds, nodes, invariants and
params, lone surrogates, control characters, absurd configurations — and edits that leave a
well-formed file (fewer or reordered choices, another node, another seed), which may or may
not reproduce. Whatever the input, the command ends in a verdict or in one line of bad input:

- never a traceback, never exit 4 (an internal error caused by input is a defect);
- exit 2 is exactly one line, on stderr, starting `deepdives: error:`;
- exit 1 only for a file that passes every check (a real counterexample that did not
  reproduce, or whose shrink no longer violates), never for a malformed one;
- every line printed or written is printable: nothing from the file starts a line or an
  escape sequence.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker import registry
from checker.cli import cli
from checker.hunt import Budget, hunt
from checker.replayfile import ReplayFileError, check_fits, load
from checker.sim import KINDS
from checker.system import LIMITS, Config

ROOT = Path(__file__).parent.parent
NODES = {"n1", "n2", "n3", "c1", "c2"}  # what sso's default configuration builds
SERVERS, CLIENTS = ["n1", "n2", "n3"], ["c1", "c2"]
NODE_ROLES = {"deliver": (1, 2), "drop": (1, 2), "duplicate": (1, 2), "fire": (1,),
              "invoke": (1,), "crash": (1,), "restart": (1,), "pause": (1,), "skew": (1,)}
SHRINK_REPLAYS = 20  # a shrink of a well-formed mutant need not finish, only end honestly


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """A real counterexample, as found (41 choices: replay's input) and shrunk (5 choices:
    shrink's input, which it replays again and again)."""
    system = registry.lookup("sso")
    found = {}
    for shrunk in (False, True):
        out = tmp_path_factory.mktemp("shrunk" if shrunk else "found")
        outcome = hunt(system, "restart-grants-at-once", system.config("default"),
                       budget=Budget(runs=100), report_dir=out, shrink_found=shrunk)
        found["shrink" if shrunk else "replay"] = json.loads(Path(outcome.replay_path)
                                                             .read_text())
    assert len(found["replay"]["choices"]) > 10
    return found


# --- mutations: each draws a hostile file and says which exit codes it may end in ----------

Mutant = tuple[bytes, set[int]]
WELL_FORMED = {0, 1}  # a real counterexample: reproduced or not
ANY = {0, 1, 2}  # may or may not be well-formed: exit 1 is then checked against the validation


def _bytes(data: Any) -> bytes:
    return json.dumps(data).encode()


def _copy(original: dict) -> dict:
    return json.loads(json.dumps(original))


def random_bytes(draw: st.DataObject, original: dict) -> Mutant:
    return draw.draw(st.binary(max_size=300)), {2}


def truncated(draw: st.DataObject, original: dict) -> Mutant:
    text = _bytes(original)
    return text[:draw.draw(st.integers(0, len(text) - 1))], {2}


def not_utf8(draw: st.DataObject, original: dict) -> Mutant:
    text = _bytes(original)  # ASCII: json.dumps escapes the rest, so one high byte is invalid
    at = draw.draw(st.integers(0, len(text)))
    return text[:at] + bytes([draw.draw(st.integers(0x80, 0xFF))]) + text[at:], {2}


def _set(data: dict, path: tuple, value: Any) -> None:
    *parents, last = path
    for key in parents:
        data = data[key]
    data[last] = value


def _places(original: dict) -> list[tuple]:
    """Every place in the file: each field, config field, fault, choice and argument."""
    places = [(key,) for key in original]
    places += [("config", key) for key in original["config"]]
    places += [("config", "faults", key) for key in original["config"]["faults"]]
    for i, choice in enumerate(original["choices"]):
        places += [("choices", i)] + [("choices", i, j) for j in range(len(choice))]
    return places


def _typed_places(original: dict) -> list[tuple]:
    """The places whose value must have one JSON type: all but the top-level extras."""
    return [p for p in _places(original) if p != ("explanation",)]


def _value_at(original: dict, path: tuple) -> Any:
    for key in path:
        original = original[key]
    return original


OTHER_TYPES = [None, True, False, 1.5, 0, 7, "x", "", [], [1], {}, {"a": 1}]


def wrong_type(draw: st.DataObject, original: dict) -> Mutant:
    path = draw.draw(st.sampled_from(_typed_places(original)))
    current = _value_at(original, path)
    value = draw.draw(st.sampled_from([v for v in OTHER_TYPES if type(v) is not type(current)]))
    data = _copy(original)
    _set(data, path, value)
    return _bytes(data), {2}


def deep(draw: st.DataObject, original: dict) -> Mutant:
    depth = draw.draw(st.integers(17, 50_000))
    path = draw.draw(st.sampled_from(_places(original)))
    data = _copy(original)
    _set(data, path, "HOLE")
    return _bytes(data).replace(b'"HOLE"', b"[" * depth + b"]" * depth), {2}


def huge_number(draw: st.DataObject, original: dict) -> Mutant:
    digits = draw.draw(st.integers(101, 6000))
    path = draw.draw(st.sampled_from([("seed",), *[("config", f) for f in LIMITS],
                                      *[p for p in _places(original)
                                        if isinstance(_value_at(original, p), int)]]))
    data = _copy(original)
    _set(data, path, "HOLE")
    return _bytes(data).replace(b'"HOLE"', b"9" * digits), {2}


def out_of_range(draw: st.DataObject, original: dict) -> Mutant:
    """Absurd seeds and configurations: just past a bound, or far past it."""
    field = draw.draw(st.sampled_from(["seed", *LIMITS, "fault"]))
    low, high = {"seed": (0, 2**64 - 1), "fault": (0, 1000)}.get(field) or LIMITS[field]
    value = draw.draw(st.one_of(st.integers(high + 1, 10**30), st.integers(-10**30, low - 1)))
    data = _copy(original)
    if field == "seed":
        data["seed"] = value
    elif field == "fault":
        data["config"]["faults"][draw.draw(st.sampled_from(sorted(data["config"]["faults"])))] \
            = value
    else:
        data["config"][field] = value
    return _bytes(data), {2}


def not_a_number(draw: st.DataObject, original: dict) -> Mutant:
    path = draw.draw(st.sampled_from(_places(original)))
    data = _copy(original)
    _set(data, path, "HOLE")
    token = draw.draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e999"]))
    return _bytes(data).replace(b'"HOLE"', token), {2}


REQUIRED = ["format", "version", "system", "variant", "config", "seed", "choices",
            "invariant", "verdict"]


def missing_field(draw: st.DataObject, original: dict) -> Mutant:
    data = _copy(original)
    field = draw.draw(st.sampled_from([*REQUIRED, "explanation", "config.name",
                                       *[f"config.{f}" for f in LIMITS], "config.faults",
                                       "config.params"]))
    if field.startswith("config."):
        del data["config"][field.removeprefix("config.")]
        return _bytes(data), {2} if field == "config.name" else ANY  # defaults take its place
    del data[field]
    return _bytes(data), {2} if field in REQUIRED else {0}


def unknown_kind(draw: st.DataObject, original: dict) -> Mutant:
    data = _copy(original)
    kind = draw.draw(st.text(max_size=12).filter(lambda k: k not in KINDS))
    data["choices"][draw.draw(st.integers(0, len(data["choices"]) - 1))][0] = kind
    return _bytes(data), {2}


def _node_places(data: dict) -> list[tuple[int, int]]:
    return [(i, j) for i, choice in enumerate(data["choices"])
            for j in NODE_ROLES.get(choice[0], ())]


def unknown_node(draw: st.DataObject, original: dict) -> Mutant:
    data = _copy(original)
    i, j = draw.draw(st.sampled_from(_node_places(data)))
    data["choices"][i][j] = draw.draw(st.text(max_size=12).filter(lambda n: n not in NODES))
    return _bytes(data), {2}


def another_node(draw: st.DataObject, original: dict) -> Mutant:
    """A node of the right role: well-formed, though the run may not reproduce."""
    data = _copy(original)
    i, j = draw.draw(st.sampled_from(_node_places(data)))
    kind = data["choices"][i][0]
    role = CLIENTS if kind == "invoke" else SERVERS if kind in (
        "crash", "restart", "pause", "skew") else SERVERS + CLIENTS
    data["choices"][i][j] = draw.draw(st.sampled_from(role))
    return _bytes(data), WELL_FORMED


def surrogate(draw: st.DataObject, original: dict) -> Mutant:
    strings = [p for p in _places(original) if isinstance(_value_at(original, p), str)]
    path = draw.draw(st.sampled_from([*strings, ("config", "name"), ("explanation",)]))
    data = _copy(original)
    lone = chr(draw.draw(st.integers(0xD800, 0xDFFF)))
    _set(data, path, draw.draw(st.text(max_size=5)) + lone)
    return _bytes(data), {2}  # json.dumps writes it as a \\udXXX escape


CONTROL = st.text(st.characters(codec="utf-8", categories=["Cc", "Cf", "Zl", "Zp", "Lu",
                                                             "Ll", "Nd", "Pc", "Sm", "Po"]),
                  min_size=1, max_size=40)


def control_characters(draw: st.DataObject, original: dict) -> Mutant:
    """Escapes, line breaks and Markdown where a name is free text: the config's name and the
    explanation change nothing; a timer no node has is skipped; anywhere else it is no name
    the system knows."""
    data = _copy(original)
    text = draw.draw(CONTROL)
    timers = [("choices", i, 2) for i, choice in enumerate(data["choices"])
              if choice[0] == "fire"]
    where = draw.draw(st.sampled_from([("config", "name"), ("explanation",), *timers,
                                       ("system",), ("variant",), ("invariant",)]))
    _set(data, where, text)
    if where in (("config", "name"), ("explanation",)):
        return _bytes(data), {0}
    return _bytes(data), WELL_FORMED if where in timers else {2}


def unknown_field(draw: st.DataObject, original: dict) -> Mutant:
    data = _copy(original)
    name = draw.draw(st.text(max_size=10))
    if draw.draw(st.booleans()):
        if name in data["config"]:
            return _bytes(data), {0}
        data["config"][name] = 1
        return _bytes(data), {2}
    if name in data:
        return _bytes(data), {0}
    data[name] = 1  # ignored: a later version may add fields
    return _bytes(data), {0}


def unknown_param(draw: st.DataObject, original: dict) -> Mutant:
    data = _copy(original)
    name, value = draw.draw(st.sampled_from([("keys", 5), ("keys", ["a", "b\n"]), ("keys", []),
                                             ("colour", 1), ("n", "three"), ("sloppy", 1),
                                             ("primaries", 10**6), ("keys", ["x"] * 65)]))
    data["config"]["params"] = {name: value}
    return _bytes(data), {2}


def forged_verdict(draw: st.DataObject, original: dict) -> Mutant:
    """Another verdict or invariant the system has: replay does not reproduce it (1), shrink
    finds nothing to shrink (2) or no violation of it (1); or one it has not (2)."""
    data = _copy(original)
    field, value, real = draw.draw(st.sampled_from([
        ("verdict", "ok", True), ("verdict", "unknown", True), ("verdict", "maybe", False),
        ("verdict", "VIOLATED", False), ("invariant", "linearizable", True),
        ("invariant", "no-handler-exception", True), ("invariant", "all", True),
        ("invariant", "bogus", False), ("format", "pickle", False), ("version", 2, False),
        ("version", True, False), ("version", 1.0, False)]))
    data[field] = value
    return _bytes(data), {1, 2} if real else {2}


def not_an_object(draw: st.DataObject, original: dict) -> Mutant:
    return _bytes(draw.draw(st.sampled_from([[], [original], "replay", 3, None, True]))), {2}


def choices_edited(draw: st.DataObject, original: dict) -> Mutant:
    """Fewer, more or reordered choices: a well-formed run that may not violate anything."""
    data = _copy(original)
    choices = data["choices"]
    data["choices"] = draw.draw(st.lists(st.sampled_from(choices), max_size=len(choices) + 5)
                                if choices else st.just([]))
    return _bytes(data), WELL_FORMED


def config_edited(draw: st.DataObject, original: dict) -> Mutant:
    """In-bound configurations: they build or say why not; their runs end."""
    data = _copy(original)
    data["config"].update(draw.draw(st.fixed_dictionaries({}, optional={
        "servers": st.integers(1, 5), "clients": st.integers(1, 3),
        "ops_per_client": st.integers(0, 12), "max_steps": st.integers(0, 2000),
        "epsilon": st.integers(0, 300), "max_pause": st.integers(0, 3000),
        "quiesce_horizon": st.integers(0, 2000), "quiesce_steps": st.integers(0, 2000),
        "faults": st.dictionaries(st.sampled_from(["crash", "skew", "drop", "partition"]),
                                  st.integers(0, 5))})))
    return _bytes(data), ANY


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)


def anything_anywhere(draw: st.DataObject, original: dict) -> Mutant:
    data = _copy(original)
    _set(data, draw.draw(st.sampled_from(_places(original))), draw.draw(JSON))
    return _bytes(data), ANY


MUTATIONS: dict[str, Callable[[st.DataObject, dict], Mutant]] = {
    f.__name__: f for f in (
        random_bytes, truncated, not_utf8, wrong_type, deep, huge_number, out_of_range,
        not_a_number, missing_field, unknown_kind, unknown_node, another_node, surrogate,
        control_characters, unknown_field, unknown_param, forged_verdict, not_an_object,
        choices_edited, config_edited, anything_anywhere)}


# --- what every answer must look like ---------------------------------------------------------


def well_formed(path: Path) -> bool:
    """Whether the file passes every check `replay` and `shrink` make before running it."""
    try:
        example = load(path)
        system = registry.lookup(example.system)
        system.variant(example.variant)
        check_fits(example, system)
    except (ReplayFileError, LookupError):
        return False
    return True


def assert_honest(result, path: Path, allowed: set[int], out: Path | None) -> None:
    """The answer of `deepdives replay|shrink path` to a hostile file."""
    assert result.exit_code in allowed, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    assert "Traceback" not in result.output
    for line in result.output.splitlines():
        assert line.isprintable(), line
    if result.exit_code == 2:
        assert result.stdout == ""
        [line] = result.stderr.splitlines()
        assert line.startswith("deepdives: error: ")
    if result.exit_code == 1:
        assert well_formed(path), result.output
        [line] = result.stderr.splitlines()
        assert line.startswith(("NOT REPRODUCED: ", "deepdives: ")), line
    if out is not None:
        written = sorted(out.glob("*"))
        assert bool(written) == (result.exit_code == 0), written
        for report in out.glob("*.md"):
            lines = report.read_text().splitlines()
            assert all(line.isprintable() for line in lines)
            headings = [line for line in lines if line.startswith("#")]
            assert len([h for h in headings if h.startswith("# ")]) == 1, headings


def fuzz(command: str, original: dict, examples: int) -> Counter:
    tally: Counter = Counter()

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def one(draw: st.DataObject) -> None:
        label = draw.draw(st.sampled_from(sorted(MUTATIONS)))
        content, allowed = MUTATIONS[label](draw, original)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "hostile.json"
            path.write_bytes(content)
            out = Path(tmp) / "out" if command == "shrink" else None
            args = [command, str(path)] + (["-o", str(out), "--replays", str(SHRINK_REPLAYS)]
                                           if out else [])
            result = CliRunner().invoke(cli, args)
            assert_honest(result, path, allowed, out)
        tally[label, result.exit_code] += 1

    one()
    return tally


def _summary(command: str, tally: Counter) -> str:
    """How many files of each kind ended in which exit code (shown with pytest -s)."""
    by_kind: dict[str, Counter] = {}
    for (label, code), n in sorted(tally.items()):
        by_kind.setdefault(label, Counter())[code] += n
    exits = sum(by_kind.values(), Counter())
    kinds = "; ".join(f"{label} {dict(codes)}" for label, codes in by_kind.items())
    return (f"{command}: {exits.total()} hostile files, exits {dict(sorted(exits.items()))}"
            f"\n  {kinds}")


def test_replay_answers_hostile_files_honestly(originals: dict[str, dict]) -> None:
    tally = fuzz("replay", originals["replay"], examples=2000)
    print(_summary("replay", tally))
    assert {label for label, _ in tally} == set(MUTATIONS)  # every kind of mutation was tried


def test_shrink_answers_hostile_files_honestly(originals: dict[str, dict]) -> None:
    tally = fuzz("shrink", originals["shrink"], examples=1000)
    print(_summary("shrink", tally))
    assert {label for label, _ in tally} == set(MUTATIONS)


# --- and the checks refuse nothing real -------------------------------------------------------


def test_every_registered_configuration_reads_back() -> None:
    for system in registry.systems().values():
        for config in system.configs.values():
            as_read = json.loads(json.dumps(config.to_json()))
            assert Config.from_json(as_read).to_json() == as_read


@pytest.mark.parametrize("path", sorted((ROOT / "docs" / "lessons" / "traces").glob("*.json")),
                         ids=lambda p: p.stem)
def test_every_lesson_trace_passes_the_checks(path: Path) -> None:
    assert well_formed(path)
