"""The trace viewer and the causal slice, without a browser: what goes into the page, and
that no value from a run can break out of it (`tests/test_viewer_browser.py` drives it)."""

from __future__ import annotations

import json
import random
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from checker import registry, report, viewer
from checker import slice as causal
from checker.hunt import Budget, hunt
from checker.recording import observe, shown, stable_repr
from checker.replayfile import load
from checker.run import RunResult, execute
from checker.sim import Cluster
from checker.strategies import Replay
from checker.system import Config, System, Variant
from tests import toys

ROOT = Path(__file__).parent.parent

# values a run may carry that must stay text: HTML and script, JSON and JavaScript line
# breaks, Markdown, Mermaid, the template's own marks, terminal escapes
HOSTILE = [
    "</script><script>alert(1)</script>", "</SCRIPT >", "<!--", "-->", "<![CDATA[", "]]>",
    '"double"', "'single'", "`tick`", "```", "# heading", "[link](javascript:alert(1))",
    "<img src=x onerror=alert(1)>", "&amp;&lt;", "\u2028", "\u2029", "a\nb", "\x1b[31mred",
    "A->>B: injected", "Note over A: x", "%%{init: {}}%%", "participant evil", "#59;",
    "{{DATA}}", "{{TITLE}}", "\\u003c/script>", "${alert(1)}", "<b>bold</b>", "*emph* _u_",
    "| cell |", "\ud83d\ude00 emoji", "\u202eright-to-left",
]


class HostileClient(toys.PutClient):
    """Puts hostile strings; its name is hostile too."""


def _build(config: Config, impl: Any, rng: random.Random) -> Cluster:
    clients = ["c0", 'c"<b>1</b>']
    return Cluster(servers={"s": impl}, clients={c: HostileClient for c in clients},
                   workload={c: [("put", value) for value in HOSTILE[i::2]]
                             for i, c in enumerate(clients)})


HOSTILE_SYSTEM = System(
    name="hostile", paper="(toy)", summary="a durable set of hostile strings", build=_build,
    invariants=toys.COUNTER.invariants,
    configs={"default": Config("default", servers=1, clients=2, ops_per_client=16,
                               faults={"crash": 1, "drop": 1, "duplicate": 1})},
    variants={"forgetful": Variant("forgetful", toys.ForgetfulCounter,
                                   breaks="acknowledged puts", caught_by="acked-puts-durable")})


@pytest.fixture(scope="module")
def hostile_run() -> RunResult:
    outcome = hunt(HOSTILE_SYSTEM, "forgetful", HOSTILE_SYSTEM.configs["default"],
                   budget=Budget(runs=300), shrink_found=False)
    assert outcome.violation is not None
    return outcome.violation


class _Scripts(HTMLParser):
    """The page's script elements, as the browser splits them."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict, str]] = []
        self._inside: dict | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "script":
            self._inside = dict(attrs)
            self.scripts.append((self._inside, ""))

    def handle_data(self, data: str) -> None:
        if self._inside is not None:
            self.scripts[-1] = (self.scripts[-1][0], self.scripts[-1][1] + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._inside = None


def _scripts(page: str) -> list[tuple[dict, str]]:
    parser = _Scripts()
    parser.feed(page)
    return parser.scripts


@pytest.mark.parametrize("value", HOSTILE)
def test_script_json_keeps_every_value_inside_its_element(value: str) -> None:
    text = viewer.script_json({"v": value, value: [value]})
    assert not re.search("[<>&\u2028\u2029]", text)
    assert json.loads(text) == {"v": value, value: [value]}


def test_hostile_run_stays_data_in_the_page(hostile_run: RunResult) -> None:
    page = viewer.page(HOSTILE_SYSTEM, hostile_run)
    scripts = _scripts(page)
    assert [attrs.get("type") for attrs, _ in scripts] == ["application/json", None]
    data = json.loads(scripts[0][1])
    shown = json.dumps(data, ensure_ascii=False)
    invoked = {op.args for op in hostile_run.sim.operations()}
    assert len(invoked) >= 8
    for value in invoked:  # each as the page shows it, its repr, intact
        assert json.dumps(repr(value), ensure_ascii=False)[1:-1] in shown, value
    assert scripts[1][1] == viewer.TEMPLATE.split("<script>")[1].split("</script>")[0]
    assert 'c"<b>1</b>' in data["nodes"]
    title = re.search("<title>(.*)</title>", page, re.DOTALL)
    assert title is not None and "<" not in title.group(1)


def test_the_page_loads_nothing_from_the_network(hostile_run: RunResult) -> None:
    page = viewer.page(HOSTILE_SYSTEM, hostile_run)
    assert not re.search(r"https?://|//cdn|<link|src=|@import|url\(", viewer.TEMPLATE)
    assert "innerHTML" not in page and "insertAdjacentHTML" not in page
    assert "document.write" not in page


def test_hostile_report_has_no_markup_outside_code(hostile_run: RunResult) -> None:
    text = report.markdown(hostile_run, HOSTILE_SYSTEM, "x.json")
    fence = None
    for line in text.splitlines():
        opened = re.match(r"(`{3,})", line)
        if opened and fence is None:
            fence = opened.group(1)
        elif fence is not None and line.startswith(fence):
            fence = None
        elif fence is None:  # outside code spans too (`_code` leaves no backtick inside)
            prose = re.sub(r"`[^`]*`", "", line)
            assert not re.search(r"<(?!/?(details|summary)>)", prose), line


def test_the_viewer_shows_the_state_the_replay_has_at_each_step() -> None:
    example = load(ROOT / "docs/lessons/traces/mesa.compaction-overlap.json")
    system = registry.lookup(example.system)
    result = execute(system, example.variant, example.config, example.seed,
                     Replay(example.choices))
    data = _data(viewer.page(system, result))
    for k in (0, 5, 12, len(data["steps"]) - 2):
        expected = states_after(system, example, k)
        assert states_in_page(data, k) == expected, k


def states_after(system: System, example: Any, k: int) -> dict[str, dict[str, str]]:
    """Every node's state after step k of a replay, found without the recording: a strategy
    that looks when the (k+1)-th step has run. k must be in the run, not its ending."""
    seen: dict[str, dict[str, str]] = {}

    class Looking(Replay):
        def next(self, sim: Any) -> tuple | None:
            if len(sim.trace) == k + 1:
                seen.update({node_id: {key: shown(value)
                                       for key, value in node.state().items()}
                             for node_id, node in sim.nodes.items() if node is not None})
            return super().next(sim)

    execute(system, example.variant, example.config, example.seed, Looking(example.choices))
    assert seen, f"step {k} is not in the run"
    return seen


def states_in_page(data: dict, k: int) -> dict[str, dict[str, str]]:
    """What the page's intervals say each node holds after step k (as its script reads
    them)."""
    states: dict[str, dict[str, str]] = {}
    for kind, *rest in data["intervals"]:
        if kind.startswith("state:"):
            key, value, start, end = rest
            if start <= k and (end is None or k < end):
                states.setdefault(kind[len("state:"):], {})[key] = value
    return states


def _data(page: str) -> dict:
    return json.loads(_scripts(page)[0][1])


def test_the_violation_is_at_the_last_step_shown() -> None:
    example = load(ROOT / "docs/lessons/traces/mesa.serves-uncommitted.json")
    system = registry.lookup(example.system)
    result = execute(system, example.variant, example.config, example.seed,
                     Replay(example.choices))
    data = _data(viewer.page(system, result))
    assert data["violation"]["invariant"] == example.invariant
    assert data["violation"]["step"] == len(data["steps"]) - 1
    assert sum(step["slice"] for step in data["steps"]) == data["slice"]["steps"] < \
        len(data["steps"])


def test_stable_repr_sorts_sets_and_drops_addresses() -> None:
    class Plain:
        def __init__(self) -> None:
            self.items = {"b", "a"}
            self._hidden = 1

    assert stable_repr(frozenset({"b", "a"})) == "frozenset({'a', 'b'})"
    assert stable_repr([Plain()]) == "[Plain(items={'a', 'b'})]"
    assert stable_repr(object.__new__(type("X", (), {"__slots__": ()}))).startswith("<")
    assert " at 0x" not in stable_repr(object.__new__(type("X", (), {"__slots__": ()})))


def test_slice_drops_steps_the_violation_does_not_depend_on() -> None:
    """mesa:serves-uncommitted: the committer's loads of other datacenters and their
    acknowledgements do not reach c2's answer from dc1."""
    example = load(ROOT / "docs/lessons/traces/mesa.serves-uncommitted.json")
    system = registry.lookup(example.system)
    result = execute(system, example.variant, example.config, example.seed,
                     Replay(example.choices))
    result, cut = causal.of_run(system, result, report.violating_ops(result))
    kept = [report.describe_step(result.sim.trace[i]) for i in sorted(cut.steps)]
    dropped = [report.describe_step(step) for i, step in enumerate(result.sim.trace)
               if i not in cut.steps]
    assert any(text.startswith("dc1 → c2: QueryOk") for text in kept)
    assert any(text.startswith("committer → dc2: Load") for text in dropped)
    assert cut.chosen(result) == (len(result.choices), len(result.choices))


def test_slice_follows_messages_back_to_their_sender() -> None:
    example = load(ROOT / "docs/lessons/traces/chubby.no-sequencer.json")
    system = registry.lookup(example.system)
    result = execute(system, example.variant, example.config, example.seed,
                     Replay(example.choices))
    observed = observe(system, result)
    cut = causal.causal_slice(system, observed.result, observed.recording, [])
    trace = observed.result.sim.trace
    for i in cut.steps:
        event = trace[i].event
        if event[0] == "deliver" and tuple(event[1:]) in observed.recording.sender:
            assert observed.recording.sender[tuple(event[1:])] in cut.steps
    assert len(cut.steps) < cut.end


def test_the_diagram_folds_time_as_the_numbered_trace_does() -> None:
    """A "time passes" note of the sequence diagram is one of the trace's own folded lines,
    whole, even when the slice holds only some of the timers it folds."""
    example = load(ROOT / "docs/lessons/traces/sso.lease-ignores-drift.json")
    system = registry.lookup(example.system)
    result = execute(system, example.variant, example.config, example.seed,
                     Replay(example.choices))
    result, cut = causal.of_run(system, result, report.violating_ops(result))
    lines = report.trace_lines(result.sim.trace)
    notes = [line.split(": ", 1)[1] for line in report.mermaid(result, cut.steps)
             if "time passes" in line]
    assert notes
    for note in notes:
        assert any(line.endswith(note) for line in lines), note


def test_hunt_and_replay_write_the_viewer(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from checker.cli import cli

    monkeypatch.setattr(registry, "systems", lambda: {toys.COUNTER.name: toys.COUNTER})
    hunted = CliRunner().invoke(cli, ["hunt", "counter:forgetful", "--html", "--quiet",
                                      "--jobs", "1", "--report-dir", str(tmp_path)])
    assert hunted.exit_code == 0, hunted.output
    [page] = tmp_path.glob("*.html")
    assert f"]({page.name})" in page.with_suffix(".md").read_text()
    assert "trace viewer" in page.with_suffix(".md").read_text()
    out = tmp_path / "again.html"
    replayed = CliRunner().invoke(cli, ["replay", str(page.with_suffix(".json")),
                                        "--html", str(out)])
    assert replayed.exit_code == 0, replayed.output
    assert out.read_text() == page.read_text()
