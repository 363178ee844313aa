"""`deepdives check --consistency` on files written as Jepsen and Elle write them."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from checker.cli import cli

DATA = Path(__file__).parent / "data"


def run(*args):
    return CliRunner().invoke(cli, ["check", *(str(a) for a in args)])


def test_a_completion_only_history_is_read_as_elle_reads_it():
    result = run(DATA / "elle-readme-g1c.edn", "--consistency", "read-committed")
    assert result.exit_code == 1, result.output
    assert "not read-committed: G1c x1" in result.stdout


def test_events_without_f_and_with_times_out_of_order_are_read():
    result = run(DATA / "append-jepsen-style.edn", "--consistency", "snapshot-isolation")
    assert result.exit_code == 0, result.output
    result = run(DATA / "append-jepsen-style.edn", "--consistency", "serializable")
    assert result.exit_code == 1
    assert "not serializable: G2-item x1" in result.stdout


def test_g_nonadjacent_violates_snapshot_isolation():
    assert run(DATA / "append-g-nonadjacent.jsonl", "--consistency",
               "read-committed").exit_code == 0
    result = run(DATA / "append-g-nonadjacent.jsonl", "--consistency", "snapshot-isolation")
    assert result.exit_code == 1
    assert "G-nonadjacent-item x1" in result.stdout


def test_a_second_invocation_while_one_is_open_is_a_warning_naming_both_lines():
    result = run(DATA / "append-double-invoke.jsonl", "--consistency", "serializable")
    assert result.exit_code == 0
    assert result.stdout.startswith("serializable: ok\n")
    [warning] = [line for line in result.stdout.splitlines() if line.startswith("warning: ")]
    assert "line 2: process 0 invoked txn while its txn invoked on line 1" in warning
    assert "read as info" in warning


def test_process_order_gives_the_strong_session_levels(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text('{"process": 0, "type": "invoke", "f": "txn", "value": [["append", "x", 1]]}\n'
                    '{"process": 0, "type": "ok", "f": "txn", "value": [["append", "x", 1]]}\n'
                    '{"process": 0, "type": "invoke", "f": "txn", "value": [["r", "x", null]]}\n'
                    '{"process": 0, "type": "ok", "f": "txn", "value": [["r", "x", []]]}\n')
    assert run(path, "--consistency", "snapshot-isolation").exit_code == 0
    result = run(path, "--consistency", "snapshot-isolation", "--process-order")
    assert result.exit_code == 1
    assert result.stdout.startswith("strong-session-snapshot-isolation: violated")
    assert "G-single-item-process" in result.stdout


def test_register_options_from_the_command_line(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text('{"process": 0, "type": "invoke", "f": "txn", "value": [["r", "x", null]]}\n'
                    '{"process": 0, "type": "ok", "f": "txn", "value": [["r", "x", 0]]}\n')
    assert run(path, "--consistency", "read-committed").exit_code == 1  # garbage
    assert run(path, "--consistency", "read-committed", "--initial-value", "0").exit_code == 0


@pytest.mark.parametrize("args, fragment", [
    (["--initial-value", "zero"], "--initial-value: expected nil or an integer"),
])
def test_bad_options_are_bad_input(args, fragment):
    result = run(DATA / "append-g-nonadjacent.jsonl", "--consistency", "serializable", *args)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("deepdives: error: ") and fragment in line


def test_events_without_f_that_are_not_transactions_still_need_one(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text('{"process": 0, "type": "invoke", "value": 3}\n')
    result = run(path, "--consistency", "serializable")
    assert result.exit_code == 2
    assert "expected the event to have f" in result.stderr
