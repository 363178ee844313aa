import contextlib
import json
import os
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from checker import check_cmd
from checker.cli import cli
from checker.historyio import (
    EdnReader,
    HistoryFileError,
    hashable,
    load_history,
    parse_edn_history,
    parse_jsonl,
)
from invariants.history import Event
from invariants.linearizability import search_linearization

DATA = Path(__file__).parent / "data"


def run(*args):
    """`deepdives check ARGS` through the top-level group, as the shell runs it."""
    return CliRunner().invoke(cli, ["check", *(str(a) for a in args)])


def assert_bad_input(result, *fragments):
    """Exit 2, one line on stderr naming the problem, nothing on stdout, no traceback."""
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("deepdives: error: ")
    for fragment in fragments:
        assert fragment in line


def write_jsonl(tmp_path, events, name="history.jsonl"):
    """Events as (process, type, f, value) tuples, one JSON object a line."""
    path = tmp_path / name
    path.write_text("".join(json.dumps({"process": p, "type": t, "f": f, "value": v}) + "\n"
                            for p, t, f, v in events))
    return path


def call(process, f, args, result, completion="ok"):
    """An invocation and its completion."""
    return [(process, "invoke", f, args), (process, completion, f, result)]


def write_text(tmp_path, text, name="history.jsonl"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


def txn_events(invoked, completed, process=0):
    """One txn as JSON lines: its invocation and its ok completion, raw JSON values."""
    return (f'{{"process": {process}, "type": "invoke", "f": "txn", "value": {invoked}}}\n'
            f'{{"process": {process}, "type": "ok", "f": "txn", "value": {completed}}}\n')


# -- verdicts and exit codes on the sample files -----------------------------------------

@pytest.mark.parametrize("name, args, status, code", [
    ("register-linearizable.jsonl", ["--model", "register"], "linearizable: ok", 0),
    ("register-crashed-write.edn", ["--model", "register"], "linearizable: ok", 0),
    ("register-stale-read.jsonl", ["--model", "register"], "linearizable: violated", 1),
    ("register-stale-read.edn", ["--model", "register"], "linearizable: violated", 1),
    ("append-serializable.edn", ["--consistency", "serializable"], "serializable: ok", 0),
    ("append-g-single.jsonl", ["--consistency", "serializable"], "serializable: violated", 1),
    ("append-g-single.jsonl", ["--consistency", "read-committed"], "read-committed: ok", 0),
    ("append-g1c.edn", ["--consistency", "read-committed"], "read-committed: violated", 1),
])
def test_sample_verdicts_and_exit_codes(name, args, status, code):
    result = run(DATA / name, *args)
    assert result.exit_code == code, result.output
    assert result.stdout.splitlines()[0] == status


def test_stale_read_is_explained_with_the_ops_involved():
    result = run(DATA / "register-stale-read.edn", "--model", "register")
    out = result.stdout
    assert "it could only return 4" in out
    assert "witness: 3 operation(s)" in out
    assert "#2 1 read(None) -> 3 [t=500..t=600]" in out


def test_anomalies_are_named():
    assert "G-single" in run(DATA / "append-g-single.jsonl", "--consistency",
                             "serializable").stdout
    assert "G1c" in run(DATA / "append-g1c.edn", "--consistency", "serializable").stdout


def test_markdown_report(tmp_path):
    out = tmp_path / "verdict.md"
    result = run(DATA / "register-stale-read.jsonl", "--model", "register", "--markdown", out)
    assert result.exit_code == 1
    text = out.read_text()
    assert text.startswith("# `linearizable`: violated")
    assert "against the `register` model" in text
    assert "## Explanation" in text and "## Witness" in text
    assert "```json" in text


def test_spent_budget_is_unknown_exit_3(tmp_path):
    """Twenty writes that never returned, then reads of 5, 3 and 5 again: the write of 5
    takes effect at most once, and every subset of the others is tried."""
    events = [(f"w{i}", "invoke", "write", i) for i in range(20)]
    events += call("r1", "read", None, 5) + call("r2", "read", None, 3)
    events += call("r3", "read", None, 5)
    path = write_jsonl(tmp_path, events)
    result = run(path, "--model", "register", "--budget-seconds", "0.05")
    assert result.exit_code == 3
    assert result.stdout.startswith("linearizable: unknown")


# -- models and the conventions of other tools -------------------------------------------

@pytest.mark.parametrize("model, good, bad", [
    ("set", call(0, "add", 1, 1) + call(1, "read", None, [1]),
     call(0, "add", 1, None) + call(1, "read", None, [])),
    ("set", call(0, "add", 2, None) + call(0, "add", 1, None) + call(1, "read", None, [1, 2]),
     call(0, "add", 2, None) + call(1, "contains", 2, False)),
    ("kv", call(0, "write", ["x", 1], ["x", 1]) + call(1, "read", ["x", None], ["x", 1]),
     call(0, "write", ["x", 1], ["x", 1]) + call(1, "read", ["x", None], ["x", None])),
    ("kv", call(0, "cas", ["x", [None, 2]], ["x", [None, 2]]) + call(1, "read", ["x"], 2),
     call(0, "cas", ["x", None, 2], True) + call(1, "read", ["x"], None)),
    ("lock", call(0, "acquire", None, None) + call(0, "release", None, None)
     + call(1, "acquire", None, None),
     call(0, "acquire", None, None) + call(1, "acquire", None, None)),
    ("queue", call(0, "enqueue", 1, 1) + call(0, "enqueue", 2, 2) + call(1, "dequeue", None, 1),
     call(0, "enqueue", 1, 1) + call(0, "enqueue", 2, 2) + call(1, "dequeue", None, 2)),
    ("log", call(0, "append", "a", 0) + call(0, "append", "b", None)
     + call(1, "read", None, ["a", "b"]),
     call(0, "append", "a", 1) + call(1, "read", None, ["a"])),
    ("counter", call(0, "add", 2, 2) + call(1, "read", None, 2),
     call(0, "add", 2, None) + call(1, "read", None, 3)),
])
def test_models_read_native_and_jepsen_histories(tmp_path, model, good, bad):
    assert run(write_jsonl(tmp_path, good, "good.jsonl"), "--model", model).exit_code == 0
    assert run(write_jsonl(tmp_path, bad, "bad.jsonl"), "--model", model).exit_code == 1


def test_edn_set_reads_match_as_sets(tmp_path):
    path = tmp_path / "set.edn"
    path.write_text("{:process 0 :type :invoke :f :add :value 2}\n"
                    "{:process 0 :type :ok :f :add :value 2}\n"
                    "{:process 1 :type :invoke :f :read :value nil}\n"
                    "{:process 1 :type :ok :f :read :value #{2}}\n")
    assert run(path, "--model", "set").exit_code == 0


def test_an_op_the_model_does_not_know_is_a_violation_in_words(tmp_path):
    path = write_jsonl(tmp_path, call(0, "increment", None, None))
    result = run(path, "--model", "counter")
    assert result.exit_code == 1
    assert "cannot be applied" in result.stdout


# -- bad input: one line, exit 2 ---------------------------------------------------------

def test_malformed_json_line_names_file_and_line():
    assert_bad_input(run(DATA / "malformed.jsonl", "--model", "register"),
                     "malformed.jsonl, line 3: expected one JSON object per line")


def test_malformed_edn_line_names_file_and_line():
    assert_bad_input(run(DATA / "malformed.edn", "--model", "register"),
                     "malformed.edn, line 3: expected a value for every key in the map")


def test_unknown_event_type_names_the_line():
    assert_bad_input(run(DATA / "bad-type.jsonl", "--model", "register"),
                     "bad-type.jsonl, line 2: expected type to be one of invoke, ok, fail, "
                     "info, found 'done'")


def test_exactly_one_check_must_be_asked_for():
    assert_bad_input(run(DATA / "register-linearizable.jsonl"), "exactly one of")
    assert_bad_input(run(DATA / "register-linearizable.jsonl", "--model", "register",
                         "--consistency", "serializable"), "exactly one of")


def test_format_comes_from_the_extension_or_the_option(tmp_path):
    path = tmp_path / "history.log"
    path.write_text((DATA / "register-stale-read.edn").read_text())
    assert_bad_input(run(path, "--model", "register"), "cannot tell the format")
    assert run(path, "--model", "register", "--format", "edn").exit_code == 1
    assert_bad_input(run(path, "--model", "register", "--format", "jsonl"), "line 1")


def test_missing_file_and_empty_history(tmp_path):
    assert_bad_input(run(tmp_path / "absent.jsonl", "--model", "register"), "cannot read")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert_bad_input(run(empty, "--model", "register"), "expected at least one event")


def test_consistency_needs_transactions():
    assert_bad_input(run(DATA / "register-linearizable.jsonl", "--consistency",
                         "serializable"), "no txn operations")


def test_history_with_only_completions_has_nothing_to_check(tmp_path):
    path = write_jsonl(tmp_path, [("nemesis", "info", "start", None)])
    assert_bad_input(run(path, "--model", "register"), "no operations to check")


@pytest.mark.parametrize("model, events", [
    ("kv", call(0, "read", None, 1)),
    ("register", call(0, "cas", 5, True)),
])
def test_ops_the_model_cannot_take_are_bad_input(tmp_path, model, events):
    assert_bad_input(run(write_jsonl(tmp_path, events), "--model", model),
                     "operation #0", f"does not fit the {model} model")


def test_unwritable_markdown_is_bad_input_after_the_verdict(tmp_path):
    out = tmp_path / "missing-dir" / "verdict.md"
    result = run(DATA / "register-linearizable.jsonl", "--model", "register", "--markdown", out)
    assert result.exit_code == 2
    assert result.stdout.startswith("linearizable: ok")
    assert result.stderr.startswith(f"deepdives: error: cannot write {out}")


# -- the loaders -------------------------------------------------------------------------

def test_jsonl_time_defaults_to_position_and_lines_are_kept():
    history = parse_jsonl('{"process": 1, "type": "invoke", "f": "read"}\n\n'
                          '{"process": 1, "type": "ok", "f": "read", "value": 2}\n', "h.jsonl")
    assert history.events == [Event("1", "invoke", "read", None, 0),
                              Event("1", "ok", "read", 2, 1)]
    assert history.where(1) == "h.jsonl, line 3"


@pytest.mark.parametrize("text, message", [
    ('[1, 2]', "line 1: expected an event map, found a list"),
    ('{"type": "ok"}', "line 1: expected the event to have process, f (it has type)"),
    ('{"process": 0, "type": "ok", "f": "read", "time": 1}\n'
     '{"process": 0, "type": "ok", "f": "read"}', "line 2: expected a time"),
    ('{"process": 0, "type": "ok", "f": "read", "time": "noon"}',
     "line 1: expected time to be an integer, found 'noon'"),
    ('{"process": [0], "type": "ok", "f": "read"}', "expected process to be a name or number"),
    ('{"process": 0, "type": "ok", "f": 3}', "expected f to be a name, found a number"),
])
def test_jsonl_errors_say_what_was_expected(text, message):
    with pytest.raises(HistoryFileError, match="^h.jsonl, ") as info:
        parse_jsonl(text, "h.jsonl")
    assert message in str(info.value)


def test_edn_reader_handles_the_jepsen_subset():
    text = ('; a comment\n[{:process 0, :type :invoke, :f :txn, :value [[:append 1 2] '
            '[:r 1 nil]]}\n #_{:discarded true}\n'
            '#jepsen.history.Op{:process 0, :type :ok, :f :txn, '
            ':value [[:append 1 2] [:r 1 [1 2]]], :time 9N}]')
    with pytest.raises(HistoryFileError, match="expected a time"):
        parse_edn_history(text)
    first, second = parse_edn_history(text.replace(", :time 9N", "")).events
    assert first.value == [["append", 1, 2], ["r", 1, None]]
    assert second == Event("0", "ok", "txn", [["append", 1, 2], ["r", 1, [1, 2]]], 1)


@pytest.mark.parametrize("text, value", [
    ('"a\\"b\\u0041\\n"', 'a"bA\n'),
    ("-12", -12), ("1.5e3", 1500.0), ("2.5M", 2.5), ("true", True), ("nil", None),
    (":ns/name", "ns/name"), ("#{1 [2 3]}", frozenset({1, (2, 3)})),
    ("{[1 2] (3 4)}", {(1, 2): [3, 4]}), ('#inst "2024-01-01"', "2024-01-01"),
])
def test_edn_values(text, value):
    assert EdnReader(text).read() == value


@pytest.mark.parametrize("text, message", [
    ("{:a 1}\n{:b", "line 2: expected '}' to close the collection opened on line 2, found "
                    "the end of the file"),
    ("[1 2\n", "expected ']' to close the collection opened on line 1"),
    ('\n"open', 'line 2: expected a closing " for the string'),
    ("sym", "expected a value (map, vector"),
    ("#", "expected a set #{...}, a discard #_ or a tag"),
    ('"\\q"', "expected a string escape"),
])
def test_edn_errors_say_where_and_what_was_expected(text, message):
    with pytest.raises(HistoryFileError) as info:
        reader = EdnReader(text, "h.edn")
        while reader.more():
            reader.read()
    assert str(info.value).startswith("h.edn, line ")
    assert message in str(info.value)


def test_edn_top_level_must_hold_event_maps():
    with pytest.raises(HistoryFileError, match="line 2: expected an event map, found a number"):
        parse_edn_history("[{:process 0 :type :invoke :f :read}\n 7]", "h.edn")


def test_load_history_picks_the_format_by_extension():
    assert len(load_history(DATA / "register-stale-read.edn").events) == 8
    assert len(load_history(DATA / "register-stale-read.jsonl").events) == 4


def test_hashable_freezes_nested_values():
    assert hashable([1, [2, {"a": [3]}]]) == (1, (2, frozenset({("a", (3,))})))


# -- transactions the checker cannot read are bad input, never skipped ---------------------

def test_an_unknown_micro_op_is_bad_input_not_a_silent_pass(tmp_path):
    """A G-single with "r" spelled "read" used to answer `serializable: ok`."""
    text = (DATA / "append-g-single.jsonl").read_text().replace('"r"', '"read"')
    assert_bad_input(run(write_text(tmp_path, text), "--consistency", "serializable"),
                     "history.jsonl, line 2: operation #1 (the invocation of a txn by process 1)",
                     "micro-op 0 is 'read'", "expected 'r' (read), 'append' or 'w' (write)")


@pytest.mark.parametrize("invoked, completed, line, fragment", [
    ("5", "5", 1, "expected a list of micro-ops [f, key, value], found 5"),
    ('"x"', '"x"', 1, "found 'x'"),
    ('{"r": "x"}', '{"r": "x"}', 1, "found {'r': 'x'}"),
    ("null", "null", 1, "found None"),
    ('[["r", "x"]]', '[["r", "x", []]]', 1, "micro-op 0 is ['r', 'x']: expected [f, key, value]"),
    ('[["append", "x", 1, 2]]', '[["append", "x", 1]]', 1, "micro-op 0 is ['append', 'x', 1, 2]"),
    ('[["append", "x", 1], "r"]', '[["append", "x", 1]]', 1, "micro-op 1 is 'r'"),
    ('[["append", "x", 1]]', '[["append", "x", 1], 7]', 2, "micro-op 1 is 7"),
    ('[["append", ["x"], 1]]', '[["append", ["x"], 1]]', 1, "has the key ['x']"),
    ('[["append", "x", [1]]]', '[["append", "x", [1]]]', 1, "writes [1]"),
    ('[["w", "x", {"a": 1}]]', '[["w", "x", {"a": 1}]]', 1, "writes {'a': 1}"),
    ('[["append", "x", 1]]', "null", 2, "expected a list of micro-ops"),
    ('[["append", "x", 1], ["r", "x", null]]', '[["append", "x", 1], ["r", "x", 1]]', 2,
     "micro-op 1 read x, which is appended to, and returned 1: expected a list"),
    ('[["r", "x", null]]', '[["r", "x", [[1]]]]', 2, "whose elements cannot all be compared"),
    ('[["w", "x", 1], ["r", "x", null]]', '[["w", "x", 1], ["r", "x", [1]]]', 2,
     "micro-op 1 read register x and returned [1]"),
])
def test_txn_values_of_the_wrong_shape_are_bad_input(tmp_path, invoked, completed, line,
                                                     fragment):
    """These crashed (exit 4) or were skipped; now one line naming the op and where."""
    result = run(write_text(tmp_path, txn_events(invoked, completed)), "--consistency",
                 "serializable")
    part = "invocation" if line == 1 else "completion"
    assert_bad_input(result, f"history.jsonl, line {line}: operation #0 (the {part} of a txn",
                     fragment)


def test_a_malformed_txn_in_edn_names_its_line(tmp_path):
    path = write_text(tmp_path, "[{:process 0 :type :invoke :f :txn :value [[:append :x 1]]}\n"
                                " {:process 0 :type :ok :f :txn :value [[:read :x [1]]]}]",
                      "h.edn")
    assert_bad_input(run(path, "--consistency", "serializable"), "h.edn, line 2: operation #0",
                     "micro-op 0 is 'read'")


# -- hostile files: one line and exit 2, never a crash -----------------------------------

def event_line(value_json, process='0', f='"write"', type_="invoke"):
    return f'{{"process": {process}, "type": "{type_}", "f": {f}, "value": {value_json}}}\n'


def edn_event(value_edn):
    return f"{{:process 0 :type :invoke :f :write :value {value_edn}}}\n"


NESTED = "nested at most 100 levels deep"
FINITE = "expected a finite number (NaN and infinities cannot be compared as values)"


BEYOND_THE_LIMITS = [
    ("deep.jsonl", event_line("[" * 100_000 + "]" * 100_000), NESTED),
    ("deep-enough-to-crash-hashable.jsonl", event_line("[" * 900 + "]" * 900), NESTED),
    ("deep.edn", edn_event("[" * 100_000 + "]" * 100_000), NESTED),
    ("tags.edn", edn_event("#t " * 5_000 + "1"), NESTED),
    ("discards.edn", "#_ " * 5_000 + "1 " * 5_000 + edn_event("1"), NESTED),
    ("huge-int.jsonl", event_line("9" * 5_000), "expected an integer of at most 4300 digits"),
    ("huge-int.edn", edn_event("9" * 5_000), "found one of 5000 digits"),
    ("huge-bigint.edn", edn_event("-" + "9" * 5_000 + "N"), "found one of 5000 digits"),
    ("nan.jsonl", event_line("NaN"), FINITE + ", found NaN"),
    ("inf.jsonl", event_line("-Infinity"), "found -Infinity"),
    ("overflow.jsonl", event_line("1e999"), "found 1e999"),
    ("nan.edn", edn_event("##NaN"), FINITE + ", found '##NaN'"),
    ("inf.edn", edn_event("[##Inf ##-Inf]"), "found '##Inf'"),
    ("overflow.edn", edn_event("-1e999"), "found '-1e999'"),
]


@pytest.mark.parametrize("name, text, fragment", BEYOND_THE_LIMITS,
                         ids=[name for name, _, _ in BEYOND_THE_LIMITS])
def test_values_beyond_the_limits_are_bad_input(tmp_path, name, text, fragment):
    assert_bad_input(run(write_text(tmp_path, text, name), "--model", "register"),
                     f"{name}, line 1: ", fragment)


def test_nan_read_then_written_is_not_a_violation(tmp_path):
    """##NaN used to be read as a tag that swallowed the next form."""
    path = write_text(tmp_path, "{:process 0 :type :invoke :f :write :value ##NaN}\n"
                                "{:process 0 :type :ok :f :write :value nil}\n", "h.edn")
    assert_bad_input(run(path, "--model", "register"), "found '##NaN'")


def test_edn_discards_may_precede_a_closing_bracket(tmp_path):
    path = write_text(tmp_path, "[{:process 0 :type :invoke :f :write :value 1 #_ :x}\n"
                                " {:process 0 :type :ok :f :write :value [1 #_ 2]} #_ 3]", "h.edn")
    assert load_history(path).events[1].value == [1]


def test_non_utf8_files_name_the_line(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_bytes(event_line("1").encode() + b'{"process": "\xff"}\n')
    assert_bad_input(run(path, "--model", "register"),
                     "h.jsonl, line 2: expected UTF-8 text, found the byte 0xff")


def test_json_lines_end_at_newlines_only(tmp_path):
    """A raw U+2028 inside a JSON string is valid JSON; str.splitlines() would cut there."""
    path = write_text(tmp_path, event_line('"a\u2028b"') + event_line("null", type_="ok"))
    assert run(path, "--model", "register").exit_code == 0


def test_a_directory_is_refused(tmp_path):
    (tmp_path / "dir.jsonl").mkdir()
    assert_bad_input(run(tmp_path / "dir.jsonl", "--model", "register"),
                     "dir.jsonl: expected a regular file, found a directory")


def come_and_go_after(seconds, fifo):
    """A writer that opens `fifo` and closes it: a check that opened the FIFO for reading
    sees the end of the file then, rather than waiting for a writer forever."""
    def writer():
        time.sleep(seconds)
        with contextlib.suppress(OSError):  # no reader: nobody opened it
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    threading.Thread(target=writer, daemon=True).start()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_opening_it(tmp_path):
    """Opening a FIFO for reading blocks until a writer comes: it used to hang forever."""
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    come_and_go_after(2, fifo)
    assert_bad_input(run(fifo, "--model", "register"),
                     "pipe.jsonl: expected a regular file, found a FIFO (named pipe)")


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="no /dev/null here")
def test_a_device_is_refused():
    assert_bad_input(run("/dev/null", "--model", "register", "--format", "jsonl"),
                     "/dev/null: expected a regular file, found a character device")


@pytest.mark.parametrize("seconds", ["nan", "inf", "-inf", "0", "-1"])
def test_budget_must_be_positive_and_finite(seconds):
    """FloatRange let nan through, which switched the budget off."""
    assert_bad_input(run(DATA / "register-linearizable.jsonl", "--model", "register",
                         "--budget-seconds", seconds),
                     "--budget-seconds: expected a positive, finite number of seconds")


def test_linearizability_has_no_hidden_step_cap(monkeypatch):
    seen = {}

    def spy(ops, model, **budget):
        seen.update(budget)
        return search_linearization(ops, model, **budget)

    monkeypatch.setattr(check_cmd, "search_linearization", spy)
    run(DATA / "register-linearizable.jsonl", "--model", "register", "--budget-seconds", "7")
    assert seen == {"max_steps": None, "max_seconds": 7.0}


# -- outside text is escaped in every output ---------------------------------------------

def stale_read(writer, f="write", value=1):
    """`writer` writes `value`, then another process reads nil: a violation whose
    explanation names the writer's op."""
    return [(writer, "invoke", f, value), (writer, "ok", f, None),
            ("b", "invoke", "read", None), ("b", "ok", "read", None)]


def test_names_cannot_forge_a_verdict_line_or_send_escape_sequences(tmp_path):
    forged = "\x1b[2J\nlinearizable: ok\n"
    path = write_jsonl(tmp_path, stale_read(forged, f="write"))
    result = run(path, "--model", "register")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert [line for line in lines if line.startswith("linearizable:")] == [
        "linearizable: violated"]
    assert "\x1b" not in result.stdout
    assert "\\x1b[2J\\nlinearizable: ok\\n write(1)" in result.stdout


def test_plain_names_stay_plain(tmp_path):
    result = run(write_jsonl(tmp_path, stale_read("écrivain")), "--model", "register")
    assert "écrivain write(1) -> None" in result.stdout


def test_lone_surrogates_are_shown_escaped(tmp_path):
    """Printing them used to fail (UnicodeEncodeError, exit 4)."""
    path = write_text(tmp_path, event_line('"\\ud800"', process='"\\udc00"')
                      + event_line("null", process='"\\udc00"', type_="ok")
                      + event_line("null", process='"b"', f='"read"')
                      + event_line("null", process='"b"', f='"read"', type_="ok"))
    out = tmp_path / "verdict.md"
    result = run(path, "--model", "register", "--markdown", out)
    assert result.exit_code == 1, result.output
    assert "\\udc00 write('\\ud800')" in result.stdout
    assert "\\udc00 write('\\ud800')" in out.read_text()


def test_txn_keys_are_escaped(tmp_path):
    text = (DATA / "append-g-single.jsonl").read_text().replace('"x"', '"x\\nserializable: ok"')
    result = run(write_text(tmp_path, text), "--consistency", "serializable")
    assert result.exit_code == 1
    assert "'x\\nserializable: ok'=[]" in result.stdout
    assert "serializable: ok" not in result.stdout.splitlines()


def test_markdown_escapes_the_file_name(tmp_path):
    """The name used to go raw into the report: a new line, a heading, raw HTML."""
    name = "a\n# forged heading\n<img src=x onerror=alert(1)>`.jsonl"
    path = write_jsonl(tmp_path, stale_read("w"), name)
    out = tmp_path / "verdict.md"
    assert run(path, "--model", "register", "--markdown", out).exit_code == 1
    text = out.read_text()
    assert "\n# forged" not in text
    [checked] = [line for line in text.splitlines() if "<img" in line]
    assert checked.startswith("Checked ``")  # a code span: no HTML, no Markdown inside
    assert "a\\n# forged heading\\n<img src=x onerror=alert(1)>`.jsonl`` (4 events" in checked


def test_bad_input_messages_are_one_printable_line(tmp_path):
    path = write_text(tmp_path, '{"process": 0, "type": "invoke", "f": "read", "value": 1}\n'
                                '{"type\\n\\u001b[31m": 1}\n')
    assert_bad_input(run(path, "--model", "register"),
                     "expected the event to have process, type, f (it has type\\n\\x1b[31m)")


# -- real time is the order of the events ------------------------------------------------

def test_real_time_is_the_order_of_events_even_at_equal_times(tmp_path):
    """One process writes 1, then reads nil, all four events at time 5: not linearizable."""
    events = [{"process": "a", "type": "invoke", "f": "write", "value": 1, "time": 5},
              {"process": "a", "type": "ok", "f": "write", "value": 1, "time": 5},
              {"process": "a", "type": "invoke", "f": "read", "value": None, "time": 5},
              {"process": "a", "type": "ok", "f": "read", "value": None, "time": 5}]
    path = write_text(tmp_path, "".join(json.dumps(event) + "\n" for event in events))
    result = run(path, "--model", "register")
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("linearizable: violated")
    assert "[t=5..t=5]" in result.stdout
