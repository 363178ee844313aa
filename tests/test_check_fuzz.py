"""Fuzzing `deepdives check` with hostile history files, through the top-level command group.

Whatever the file holds, the check ends in a verdict (exit 0, 1 or 3) whose output is
printable and holds one verdict line, or in exactly one line of bad input (exit 2): never a
traceback, never an internal error (exit 4). And it answers `violated` (exit 1) only for real
violations: histories built valid stay unviolated however oddly they are written, and
histories built with a violation are found.

Files are drawn as structured events (JSON lines or EDN) with hostile parts — wrong types,
unknown micro-ops, wrong shapes, deep nesting, huge integers, NaN and infinities, lone
surrogates, control characters, names that forge verdict lines — then sometimes cut short or
corrupted; some are random bytes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from checker.check_cmd import MODELS
from checker.cli import cli
from invariants.transactions import LEVELS

MODEL_CHECKS = [("--model", model) for model in sorted(MODELS)]
TXN_CHECKS = [("--consistency", level) for level in LEVELS]
FUZZ = settings(max_examples=300, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
KNOWN = settings(max_examples=60, derandomize=True, deadline=None, database=None,
                 suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def check(workdir: Path, data: bytes, suffix: str, *args: str):
    path = workdir / f"history{suffix}"
    path.write_bytes(data)
    return CliRunner().invoke(cli, ["check", str(path), *args, "--budget-seconds", "2"])


def assert_well_behaved(result, args: tuple[str, ...]) -> None:
    """A verdict with one verdict line and printable output, or one line of bad input."""
    assert result.exit_code in (0, 1, 2, 3), (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert result.stdout == ""
        [line] = result.stderr.splitlines()
        assert line.startswith("deepdives: error: ")
        assert line.isprintable()
        return
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    invariant = {"--model": "linearizable", "--log": "kafka-log"}.get(args[0]) or args[1]
    status = {0: "ok", 1: "violated", 3: "unknown"}[result.exit_code]
    assert lines[0] == f"{invariant}: {status}"
    assert not any(line.startswith(f"{invariant}: ") for line in lines[1:]), result.stdout
    assert all(line.isprintable() for line in lines), result.stdout


# -- hostile parts ------------------------------------------------------------------------

class Raw:
    """Text written into the file as it is: what no serializer would write."""

    def __init__(self, json_text: str, edn_text: str | None = None) -> None:
        self.json, self.edn = json_text, json_text if edn_text is None else edn_text


def nested(depth: int) -> Raw:
    return Raw("[" * depth + "1" + "]" * depth)


RAW = st.sampled_from([
    Raw("NaN", "##NaN"), Raw("Infinity", "##Inf"), Raw("-Infinity", "##-Inf"),
    Raw("1e999"), Raw("-1e999"), Raw("9" * 4301), Raw("-" + "9" * 5000, "-" + "9" * 5000 + "N"),
    Raw("9" * 4300), Raw("1.5", "1.5M"), Raw("12", "12N"), Raw("true", "#inst \"2024\""),
    Raw("[]", "#{1 2 [3]}"), Raw("{}", "#{}"), Raw("null", "#_ :x nil"), Raw("1", "##"),
    Raw('"\\ud800"', '"\\ud800"'), Raw('"\\udfff\\ud800"'), Raw("[1,", "[1"), Raw("]", ")"),
    Raw('"\\u00', '"\\u00"'), Raw("\\a", "\\a"), Raw("1/2"), Raw("sym"), Raw('"a\\qb"'),
    nested(99), nested(100), nested(101), nested(3000),
    Raw("[" * 200 + "]" * 200, "#t " * 200 + "1"), Raw("[]", "#_ " * 200 + "1 " * 200 + "2"),
])
TEXT = st.one_of(
    st.sampled_from(["read", "write", "cas", "txn", "add", "r", "w", "append", "x", "y", "",
                     "\n", "\r\n", "\x1b[31m", "\x1b]0;owned\x07", "\ud800", "\udc00x",
                     "\u2028", "\u202e", "\x00", "linearizable: ok", "\nserializable: ok\n",
                     "<script>", "`", "```", "\\", '"', "ok", "nemesis", "é", "🙂"]),
    st.text(max_size=6))
NUMBERS = st.one_of(st.integers(-3, 10), st.integers(), st.floats(allow_nan=False,
                                                                  allow_infinity=False))
PLAIN_SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
SCALARS = st.one_of(PLAIN_SCALARS, RAW)


def nesting(scalars: st.SearchStrategy) -> st.SearchStrategy:
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(TEXT, inner, max_size=3), max_leaves=12)


PLAIN_VALUES = nesting(PLAIN_SCALARS)  # what a valid history may hold anywhere
VALUES = nesting(SCALARS)
WELL_FORMED_MICRO_OP = st.tuples(
    st.sampled_from(["r", "append", "w"]), st.sampled_from(["x", "y", 0]),
    st.one_of(st.integers(0, 5), st.none(), st.lists(st.integers(0, 5), max_size=4))).map(list)
HOSTILE_MICRO_OP = st.one_of(
    st.tuples(st.sampled_from(["r", "append", "w", "read", "write", "cas"]),
              st.one_of(TEXT, VALUES), VALUES).map(list),
    st.lists(SCALARS, max_size=5), SCALARS)


def mostly(usual: st.SearchStrategy, odd: st.SearchStrategy) -> st.SearchStrategy:
    """`usual` about four times in five, else `odd` (one_of would draw each half the time;
    Hypothesis favours the ends of a range, so the odd rolls are in the middle)."""
    return st.integers(0, 9).flatmap(lambda roll: odd if roll in (3, 6) else usual)


MICRO_OP = mostly(WELL_FORMED_MICRO_OP, HOSTILE_MICRO_OP)
TXN_VALUE = mostly(st.lists(MICRO_OP, max_size=4), VALUES)
F_NAMES = ["read", "write", "cas", "txn", "add", "contains", "append", "enqueue", "dequeue",
           "acquire", "release"]
HOSTILE_FIELDS = {  # what a field may hold when it goes wrong
    "process": st.one_of(TEXT, VALUES),
    "type": st.one_of(TEXT, VALUES),
    "f": st.one_of(TEXT, VALUES),
    "value": st.one_of(VALUES, TXN_VALUE),
    "time": st.one_of(st.integers(-2, 100), VALUES),
}


@st.composite
def hostile_op(draw, names: list[str]) -> list[dict]:
    """An invocation and its completion, well formed but for the odd field (or two) gone
    wrong or missing; sometimes only one of the two events. `names`: the likely f."""
    process = draw(st.one_of(st.integers(0, 3), TEXT))
    f = draw(mostly(st.sampled_from(names), TEXT))
    value = TXN_VALUE if f == "txn" else PLAIN_VALUES
    events = [{"process": process, "type": "invoke", "f": f, "value": draw(value)},
              {"process": process, "type": draw(st.sampled_from(["ok", "ok", "fail", "info"])),
               "f": f, "value": draw(value)}]
    for _ in range(draw(mostly(st.just(0), st.integers(1, 2)))):
        event = draw(st.sampled_from(events))
        field = draw(st.sampled_from(sorted(HOSTILE_FIELDS)))
        if draw(st.integers(0, 3)):
            event[field] = draw(HOSTILE_FIELDS[field])
        else:
            event.pop(field, None)
    return draw(st.sampled_from([events, events, events, events[:1], events[1:]]))


# -- writing events -----------------------------------------------------------------------

def to_json(value) -> str:
    if isinstance(value, Raw):
        return value.json
    if isinstance(value, dict):
        return "{" + ", ".join(f"{to_json(k)}: {to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(to_json(v) for v in value) + "]"
    return json.dumps(value)


EDN_KEYWORD = re.compile(r"[a-zA-Z][\w.*+!?-]*")


def to_edn(value, keywords: bool = False) -> str:
    """`keywords`: write names as keywords (:ok) where they can be."""
    if isinstance(value, Raw):
        return value.edn
    if isinstance(value, dict):
        return "{" + ", ".join(f"{to_edn(k, True)} {to_edn(v, keywords)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(to_edn(v, keywords) for v in value) + "]"
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if keywords and EDN_KEYWORD.fullmatch(value):
        return f":{value}"
    return '"' + "".join(_edn_char(char) for char in value) + '"'


def _edn_char(char: str) -> str:
    if char in '"\\':
        return "\\" + char
    if char == "\n":
        return "\\n"
    return f"\\u{ord(char):04x}" if 0xD800 <= ord(char) <= 0xDFFF else char


def jsonl_file(events: list) -> str:
    return "".join(to_json(event) + "\n" for event in events)


def edn_file(events: list, wrap: str) -> str:
    body = "\n ".join(to_edn(event, keywords=True) for event in events)
    return {"none": body, "vector": f"[{body}]", "list": f"({body})"}[wrap]


@st.composite
def written(draw, events: list) -> tuple[bytes, str]:
    """`events` as a JSON lines or an EDN file."""
    if draw(st.booleans()):
        text, suffix = jsonl_file(events), ".jsonl"
    else:
        text = edn_file(events, draw(st.sampled_from(["none", "vector", "list"])))
        suffix = ".edn"
    return text.encode("utf-8", errors="surrogatepass"), suffix


@st.composite
def corrupted(draw, data: bytes) -> bytes:
    """Cut short, a byte changed, or left alone."""
    how = draw(st.sampled_from(["keep", "keep", "keep", "keep", "truncate", "byte"]))
    if how == "truncate" and data:
        return data[:draw(st.integers(0, len(data) - 1))]
    if how == "byte" and data:
        at = draw(st.integers(0, len(data) - 1))
        return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1:]
    return data


@st.composite
def hostile_files(draw, names: list[str]) -> tuple[bytes, str]:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300)), draw(st.sampled_from([".jsonl", ".edn"]))
    ops = draw(st.lists(hostile_op(names), min_size=1, max_size=4))
    data, suffix = draw(written([event for events in ops for event in events]))
    return draw(corrupted(data)), suffix


def check_hostile(workdir: Path, file: tuple[bytes, str], args: tuple[str, ...]) -> None:
    data, suffix = file
    result = check(workdir, data, suffix, *args)
    event(f"exit {result.exit_code}")  # the spread: pytest --hypothesis-show-statistics
    assert_well_behaved(result, args)


@FUZZ
@given(hostile_files(F_NAMES), st.sampled_from(MODEL_CHECKS))
def test_hostile_files_for_models_end_in_a_verdict_or_one_line_of_bad_input(workdir, file,
                                                                              args):
    check_hostile(workdir, file, args)


@FUZZ
@given(hostile_files(["txn"]), st.sampled_from(TXN_CHECKS))
def test_hostile_transactions_end_in_a_verdict_or_one_line_of_bad_input(workdir, file, args):
    check_hostile(workdir, file, args)


@FUZZ
@given(hostile_files(["send", "poll", "txn", "assign"]))
def test_hostile_logs_end_in_a_verdict_or_one_line_of_bad_input(workdir, file):
    check_hostile(workdir, file, ("--log",))


# -- valid but odd histories, and violations, whose verdicts are known ----------------------

NAMES = st.one_of(st.integers(0, 1000), TEXT)
REGISTER_VALUES = st.one_of(st.integers(-5, 5), TEXT, st.lists(st.integers(0, 3), max_size=2),
                            st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 3),
                                            max_size=2))


@st.composite
def sequential_register(draw) -> tuple[list[dict], object]:
    """Register ops one after the other, each completed before the next is invoked, with the
    results the register gives; crashed (`info`) writes of values nobody reads and failed
    writes (which never happened) in between. Returns the events and the final value."""
    processes = draw(st.lists(NAMES, min_size=1, max_size=4, unique_by=str))
    state, events, fresh = None, op(processes[0], "read", None, None), 0
    for _ in range(draw(st.integers(1, 8))):
        process = draw(st.sampled_from(processes))
        kind = draw(st.sampled_from(["write", "read", "cas", "crash", "fail", "nemesis"]))
        if kind == "write":
            value = draw(REGISTER_VALUES)
            events += op(process, "write", value, draw(st.sampled_from([None, value])))
            state = value
        elif kind == "read":
            events += op(process, "read", None, state)
        elif kind == "cas":
            old, new = draw(st.sampled_from([state, "other"])), draw(REGISTER_VALUES)
            took = old == state
            events += op(process, "cas", [old, new], took,
                         "ok" if took or draw(st.booleans()) else "fail")
            state = new if took else state
        elif kind in ("crash", "fail"):
            fresh += 1
            completion = "info" if kind == "crash" else "fail"
            events += op(f"{process}-{kind}{fresh}", "write", ["unread", fresh], None, completion)
        else:
            events.append({"process": "nemesis", "type": "info", "f": "start", "value": None})
    return events, state


def op(process, f, args, result, completion="ok") -> list[dict]:
    return [{"process": process, "type": "invoke", "f": f, "value": args},
            {"process": process, "type": completion, "f": f, "value": result}]


@st.composite
def oddly_timed(draw, events: list[dict]) -> list[dict]:
    """No times, equal times, or times that jump; plus fields nobody reads."""
    how = draw(st.sampled_from(["none", "equal", "jumps"]))
    time = 0
    for entry in events:
        if how != "none":
            time += 0 if how == "equal" else draw(st.integers(0, 10**12))
            entry["time"] = time
        if draw(st.integers(0, 4)) == 0:
            entry[draw(st.sampled_from(["index", "error", "node"]))] = draw(PLAIN_VALUES)
    return events


@KNOWN
@given(st.data())
def test_valid_register_histories_are_never_violated(workdir, data):
    events, _ = data.draw(sequential_register())
    file, suffix = data.draw(written(data.draw(oddly_timed(events))))
    result = check(workdir, file, suffix, "--model", "register")
    assert_well_behaved(result, ("--model", "register"))
    assert result.exit_code == 0, result.output


@KNOWN
@given(st.data())
def test_register_violations_are_found(workdir, data):
    """A read, after everything else, of a value nobody ever wrote."""
    events, _ = data.draw(sequential_register())
    events += op(data.draw(NAMES), "read", None, ["never", "written"])
    file, suffix = data.draw(written(data.draw(oddly_timed(events))))
    result = check(workdir, file, suffix, "--model", "register")
    assert_well_behaved(result, ("--model", "register"))
    assert result.exit_code == 1, result.output


KEYS = st.one_of(st.sampled_from(["x", "y"]), st.integers(0, 2), TEXT)


@st.composite
def serial_transactions(draw) -> tuple[list[dict], dict]:
    """List-append transactions one after the other, each reading what the store holds;
    aborted ones (their appends never seen) and crashed ones (never read) in between.
    Returns the events and the final store."""
    processes = draw(st.lists(NAMES, min_size=1, max_size=3, unique_by=str))
    store: dict = {}
    events, fresh = [], 0
    for _ in range(draw(st.integers(1, 6))):
        invoked, completed = [], []
        status = draw(st.sampled_from(["ok", "ok", "ok", "fail", "info"]))
        for _ in range(draw(st.integers(1, 4))):
            key = draw(KEYS)
            if draw(st.booleans()):
                fresh += 1
                invoked.append(["append", key, fresh])
                completed.append(["append", key, fresh])
                if status == "ok":
                    store.setdefault(key, []).append(fresh)
            else:
                invoked.append(["r", key, None])
                completed.append(["r", key, list(store.get(key, []))])
        process = draw(st.sampled_from(processes))
        if status == "ok":
            events += op(process, "txn", invoked, completed)
        else:
            events += op(f"{process}-{status}{fresh}", "txn", invoked, None, status)
    return events, store


@KNOWN
@given(st.data(), st.sampled_from(list(LEVELS)))
def test_serial_transactions_are_never_violated(workdir, data, level):
    events, _ = data.draw(serial_transactions())
    file, suffix = data.draw(written(data.draw(oddly_timed(events))))
    result = check(workdir, file, suffix, "--consistency", level)
    assert_well_behaved(result, ("--consistency", level))
    assert result.exit_code == 0, result.output


@KNOWN
@given(st.data(), st.sampled_from(list(LEVELS)))
def test_transactional_violations_are_found(workdir, data, level):
    """A final read of a key that holds a value nobody appended (garbage: forbidden at every
    level)."""
    events, store = data.draw(serial_transactions())
    key = data.draw(KEYS)
    events += op(data.draw(NAMES), "txn", [["r", key, None]],
                 [["r", key, [*store.get(key, []), -1]]])
    file, suffix = data.draw(written(data.draw(oddly_timed(events))))
    result = check(workdir, file, suffix, "--consistency", level)
    assert_well_behaved(result, ("--consistency", level))
    assert result.exit_code == 1, result.output
