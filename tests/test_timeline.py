"""The history timeline without a browser: the orders the linearizability search exposes, what
goes into the page for each kind of check, and that no value of a history can break out of it
(`tests/test_viewer_browser.py` drives the page)."""

from __future__ import annotations

import json
import random
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner
from hypothesis import given, settings

from benchmarks.bench_linearizability import register_invocation, simulate
from checker import timeline
from checker.cli import cli
from checker.hunt import Budget, hunt
from invariants.history import OK, Operation
from invariants.linearizability import check_linearizable, search_linearization
from invariants.verdict import UNKNOWN
from models.collections import Log
from models.kv import KV
from models.sequential import Register
from tests import toys
from tests.test_linearizability import simulated_histories
from tests.test_viewer import HOSTILE

DATA = Path(__file__).parent / "data"


def op(id_: int, f: str, args: Any, result: Any = None, call: int = 0, ret: int | None = None,
       status: str = OK, process: str | None = None) -> Operation:
    return Operation(id_, process or f"p{id_}", f, args, result, status, call, ret)


def page_data(html: str) -> dict:
    """The JSON inside the page's data element, read as a browser reads it."""
    scripts = _Scripts()
    scripts.feed(html)
    [data] = [text for attrs_, text in scripts.found if ("type", "application/json") in attrs_]
    return json.loads(data)


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[list, str]] = []
        self._attrs: list | None = None

    def handle_starttag(self, tag: str, attrs_: list) -> None:
        if tag == "script":
            self._attrs = attrs_
            self.found.append((attrs_, ""))

    def handle_data(self, data: str) -> None:
        if self._attrs is not None:
            attrs_, text = self.found[-1]
            self.found[-1] = (attrs_, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._attrs = None


def check_html(tmp_path: Path, file: Path, *options: str) -> tuple[Any, dict, str]:
    """`deepdives check FILE OPTIONS --html OUT`: the result, the page's data and its text."""
    out = tmp_path / "timeline.html"
    result = CliRunner().invoke(cli, ["check", str(file), *options, "--html", str(out)])
    html = out.read_text(encoding="utf-8")
    return result, page_data(html), html


def ops_by_id(data: dict) -> dict[int, dict]:
    keys = ("id", "lane", "call", "ret", "status", "label", "call_time", "ret_time")
    return {row[0]: dict(zip(keys, row)) for row in data["ops"]}


def replayed_states(ops: list[Operation], order: tuple[int, ...], model: Any) -> list[Any]:
    """The state after each op of `order`, replayed in the model with the recorded results
    (the first fitting outcome: these models are deterministic)."""
    by_id = {o.id: o for o in ops}
    state, states = model.initial(), []
    for id_ in order:
        o = by_id[id_]
        state = next(after for result, after in model.apply(state, o.f, o.args)
                     if o.status != OK or result == o.result)
        states.append(state)
    return states


# -- the orders the search exposes ----------------------------------------------------------

@settings(max_examples=150, derandomize=True, deadline=None)
@given(simulated_histories(max_ops=30))
def test_the_search_exposes_its_order_and_the_state_after_each_op(ops):
    found = search_linearization(ops, Register(0))
    assert found.verdict == check_linearizable(ops, Register(0))
    for part in found.partitions:
        assert part.states == tuple(replayed_states(ops, part.order, Register(0)))
        if part.status == OK:
            assert {o.id for o in ops if o.status == OK} <= set(part.order)
    if found.verdict.violated:
        [witness] = found.verdict.witness
        assert list(found.partitions[-1].order) == witness["linearized"]
        assert [i for i, _ in found.partitions[-1].stuck] == witness["stuck"]


def test_a_stale_read_is_the_op_that_cannot_be_placed_with_why():
    ops = [op(0, "write", 1, None, 0, 1), op(1, "read", None, 0, 2, 3)]
    found = search_linearization(ops, Register(0))
    [part] = found.partitions
    assert part.status == "violated" and part.order == (0,) and part.states == (1,)
    [(stuck, why)] = part.stuck
    assert stuck == 1 and "could only return 1" in why


def test_each_searched_partition_has_its_order_and_later_ones_none():
    ops = [op(0, "write", ("a", 1), None, 0, 1), op(1, "read", ("a",), 1, 2, 3),
           op(2, "write", ("b", 1), None, 4, 5), op(3, "read", ("b",), None, 6, 7),
           op(4, "read", ("c",), 5, 8, 9)]
    found = search_linearization(ops, KV())
    assert [p.status for p in found.partitions] == ["ok", "violated"]  # "c" never searched
    assert found.partitions[0].order == (0, 1)
    assert found.partitions[1].order == (2,) and found.partitions[1].stuck[0][0] == 3


def test_a_spent_budget_keeps_the_prefix_reached():
    ops = simulate(Register(), register_invocation, 200, 5, 0.0, random.Random(1))
    found = search_linearization(ops, Register(), max_steps=50)
    assert found.verdict.status == UNKNOWN
    [part] = found.partitions
    assert part.status == UNKNOWN and len(part.order) == len(part.states) > 0


# -- linearizability on the page --------------------------------------------------------------

def test_pass_lanes_per_process_and_the_order_found(tmp_path):
    result, data, _ = check_html(tmp_path, DATA / "register-linearizable.jsonl",
                                 "--model", "register")
    assert result.exit_code == 0
    rows = ops_by_id(data)
    assert len(data["processes"]) == len({row["lane"] for row in rows.values()})
    for row in rows.values():
        assert data["processes"][row["lane"]] == _process_of(DATA / "register-linearizable.jsonl",
                                                             row["call"])
    [part] = data["partitions"]
    assert part["status"] == "ok" and sorted(part["order"]) == sorted(rows)
    assert all(data["states"][i].startswith("value=") for i in part["states"])


def _process_of(file: Path, position: int) -> str:
    return str(json.loads(file.read_text().splitlines()[position])["process"])


def test_violation_the_prefix_and_the_op_that_cannot_be_placed(tmp_path):
    result, data, _ = check_html(tmp_path, DATA / "register-stale-read.jsonl",
                                 "--model", "register")
    assert result.exit_code == 1
    [part] = data["partitions"]
    assert part["status"] == "violated" and part["order"] == [0]
    assert data["states"][part["states"][0]] == "value=1"
    [[stuck, why]] = part["stuck"]
    assert stuck == 1 and "could only return 1" in why
    assert ops_by_id(data)[1]["label"] == "read(None) \u2192 None"


def test_the_op_that_does_not_fit_comes_before_those_that_only_put_it_off(tmp_path):
    """The page goes to the first stuck op: on the corrupted register that is the corrupted
    read, not the pending cas that would fit but only puts it off."""
    history = Path(__file__).resolve().parent.parent / "benchmarks/histories"
    _, data, _ = check_html(tmp_path, history / "register-10c-corrupted.jsonl",
                            "--model", "register")
    [part] = data["partitions"]
    (first, why), *others = part["stuck"]
    assert ops_by_id(data)[first]["label"].endswith("\u2192 'corrupted'") and others
    assert not why.startswith("it would fit")
    assert all(reason.startswith("it would fit") for _, reason in others)


def test_info_ops_are_open_ended(tmp_path):
    _, data, _ = check_html(tmp_path, DATA / "register-crashed-write.edn", "--model", "register")
    info = [row for row in ops_by_id(data).values() if row["status"] == "info"]
    assert info and all(row["ret"] is None and row["ret_time"] is None for row in info)
    assert all("? unknown outcome" in row["label"] for row in info)
    assert data["end"] > max(row["call"] for row in info)


def test_states_are_described_within_a_budget(monkeypatch):
    monkeypatch.setattr(timeline, "_STATES_BUDGET", 40)
    ops = [op(i, "append", i, None, 2 * i, 2 * i + 1, process="a") for i in range(20)]
    found = search_linearization(ops, Log())
    data = page_data(timeline.check_page("log", ops, found.verdict, linearization=found,
                                         model=Log()))
    indices = data["partitions"][0]["states"]
    assert indices[0] == 0 and data["states"][0] == "log=[0]"
    assert indices[-1] == timeline.NOT_DESCRIBED
    assert sum(len(text) for text in data["states"][:-1]) < 40


# -- transactions and other checks ------------------------------------------------------------

@pytest.mark.parametrize(("file", "kinds"), [("append-g1c.edn", {"wr"}),
                                             ("append-g-single.jsonl", {"rw"})])
def test_a_cycles_transactions_and_edges_with_their_kinds(tmp_path, file, kinds):
    result, data, _ = check_html(tmp_path, DATA / file, "--consistency", "serializable")
    assert result.exit_code == 1
    [anomaly] = [a for a in data["anomalies"] if a["edges"]][:1]
    rows = ops_by_id(data)
    assert set(anomaly["txns"]) <= set(rows)
    assert kinds <= {edge["type"] for edge in anomaly["edges"]}
    cycle = anomaly["txns"]
    assert [(e["from"], e["to"]) for e in anomaly["edges"]] == list(
        zip(cycle, cycle[1:] + cycle[:1]))
    assert all(row["label"].startswith(f"T{row['id']} [") for row in rows.values())


def test_completion_only_transactions_have_no_known_start(tmp_path):
    _, data, _ = check_html(tmp_path, DATA / "elle-readme-g1c.edn", "--consistency",
                            "serializable")
    assert all(row["call"] is None and row["ret"] is not None
               for row in ops_by_id(data).values())
    assert data["anomalies"]


def test_a_log_checks_witness_ops_are_marked(tmp_path):
    result, data, _ = check_html(tmp_path, DATA / "kafka-lost-write.jsonl", "--log")
    assert result.exit_code == 1
    assert data["named"] and set(data["named"]) <= set(ops_by_id(data))
    assert data["partitions"] == [] and data["anomalies"] == []


def test_an_unwritable_page_is_bad_input(tmp_path):
    result = CliRunner().invoke(cli, ["check", str(DATA / "register-stale-read.jsonl"),
                                      "--model", "register", "--html",
                                      str(tmp_path / "missing" / "t.html")])
    assert result.exit_code == 2 and "cannot write" in result.stderr


# -- hostile values ---------------------------------------------------------------------------

def hostile_history(tmp_path: Path) -> Path:
    """Writes and reads of every hostile string, by processes named with them, in a file
    whose name is hostile too."""
    lines = []
    for i, value in enumerate(HOSTILE):
        process = HOSTILE[-1 - i]
        lines += [{"process": process, "type": "invoke", "f": "write", "value": value},
                  {"process": process, "type": "ok", "f": "write", "value": value},
                  {"process": process, "type": "invoke", "f": "read", "value": None},
                  {"process": process, "type": "ok", "f": "read", "value": value}]
    lines[-1]["value"] = HOSTILE[0]  # a stale read: a violation, with a stuck op
    path = tmp_path / 'h"<img src=x onerror=alert(1)>.jsonl'
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8",
                    errors="surrogatepass")
    return path


def test_hostile_values_cannot_break_out_of_the_page(tmp_path):
    result, data, html = check_html(tmp_path, hostile_history(tmp_path), "--model", "register")
    assert result.exit_code == 1
    assert "</script><script>alert(1)" not in html
    assert len(re.findall(r"<script", html, re.IGNORECASE)) == 2
    assert "<img" not in html
    assert "\u2028" not in html and "\u2029" not in html
    labels = " ".join(row["label"] for row in ops_by_id(data).values())
    assert "</script><script>alert(1)</script>" in labels  # shown, as text
    assert set(data["processes"]) >= {"participant evil", "<!--", "{{DATA}}", "{{TITLE}}"}
    assert 'h"<img src=x onerror=alert(1)>.jsonl' in data["title"]
    assert data["partitions"][0]["stuck"]


def test_hostile_transaction_keys_and_values_stay_data(tmp_path):
    value = "</script><script>alert(1)</script>"
    lines = [{"process": 0, "type": "invoke", "f": "txn", "value": [["append", value, 1],
                                                                    ["r", "y", None]]},
             {"process": 1, "type": "invoke", "f": "txn", "value": [["append", "y", 1],
                                                                    ["r", value, None]]},
             {"process": 0, "type": "ok", "f": "txn", "value": [["append", value, 1],
                                                                ["r", "y", [1]]]},
             {"process": 1, "type": "ok", "f": "txn", "value": [["append", "y", 1],
                                                                ["r", value, [1]]]}]
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    _, data, html = check_html(tmp_path, path, "--consistency", "serializable")
    assert value not in html
    assert any(value in edge["key"] for a in data["anomalies"] for edge in a["edges"])


# -- hunts --------------------------------------------------------------------------------------

def test_a_hunt_writes_the_timeline_of_a_non_linearizable_run_and_links_it(tmp_path):
    result = CliRunner().invoke(cli, ["--system-module", "tests.toys_register", "hunt",
                                      "toy-register:stale", "--runs", "50", "--report-dir",
                                      str(tmp_path), "--html", "--quiet"])
    assert result.exit_code == 0, result.output
    [report] = tmp_path.glob("*.md")
    page = report.with_suffix(".timeline.html")
    assert f"]({page.name})" in report.read_text()
    data = page_data(page.read_text(encoding="utf-8"))
    [part] = data["partitions"]
    assert part["stuck"] and data["verdict"]["status"] == "violated"
    assert data["states"] and part["states"][-1] == 0  # the state after the prefix, only


def test_a_run_of_any_other_verdict_has_no_timeline():
    outcome = hunt(toys.COUNTER, "forgetful", toys.COUNTER.configs["default"],
                   budget=Budget(runs=300), shrink_found=False)
    assert outcome.violation is not None and timeline.run_page(outcome.violation) is None


def test_the_witness_read_back_matches_the_search():
    ops = [op(0, "write", 1, None, 0, 1), op(1, "read", None, 0, 2, 3)]
    verdict = check_linearizable(ops, Register(0))
    failure = timeline.linearizability_failure(verdict)
    assert failure is not None and failure["stuck"] == [1]
    assert timeline.linearizability_failure(attrs.evolve(verdict, invariant="other")) is None
