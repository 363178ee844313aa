"""The trace viewer: one self-contained HTML file to step through a counterexample.

`deepdives replay FILE --html OUT` and `deepdives hunt --html` write it. The page shows the run
as a sequence diagram against virtual time, the causal slice first (the other steps one click
away), and, for the selected step, every node's state with what the step changed, the
messages in flight, the timers pending, the partition, the nodes down or paused or off the
clock, and the invariant that fired at the step where it fired.

Everything the page shows is data: the run goes into the page as JSON inside a
`<script type="application/json">` element, with `<`, `>`, `&` and U+2028/U+2029 written as
JSON escapes so that no value can close the element or start markup, and the script shows
every string with `textContent`, never as HTML. No network, no CDN: the styles and script are
inline (`checker.viewer_page`). Long traces render lazily: only the rows scrolled into
view exist in the page.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from checker import report
from checker import slice as causal
from checker.recording import BEFORE_FIRST, Interval, observe
from checker.run import RunResult
from checker.sim import Step
from checker.system import System
from checker.viewer_page import TEMPLATE

FAULTS = ("drop", "duplicate", "crash", "restart", "partition", "heal", "pause", "skew",
          "drift", "reset")


def page(system: System, result: RunResult) -> str:
    """The viewer of a simulated run, replayed to record what each step changed."""
    observed = observe(system, result, snapshots=True)
    run, recording = observed.result, observed.recording
    cut = causal.causal_slice(system, run, recording, report.violating_ops(run))
    return fill(TEMPLATE, _title(run), _data(run, cut, recording.intervals))


def fill(template: str, title: str, data: dict) -> str:
    """The template with its title (HTML-escaped) and its data (script-safe JSON), each put
    only where the template has its mark."""
    before, after = (part.replace("{{TITLE}}", html.escape(title))
                     for part in template.split("{{DATA}}"))
    return before + script_json(data) + after


def script_json(data: Any) -> str:
    """JSON that can sit inside a <script> element: nothing in it closes the element, opens a
    comment or markup, or ends a line of JavaScript."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _title(result: RunResult) -> str:
    return f"{result.system}:{result.variant} seed {result.seed}"


def _data(result: RunResult, cut: causal.CausalSlice, intervals: list[Interval]) -> dict:
    sim, verdict = result.sim, result.verdict
    steps = sim.trace[:cut.end]
    chosen, sliced = cut.chosen(result)
    return {
        "title": _title(result),
        "config": result.config.name,
        "nodes": sim.clients + sim.servers,
        "clients": sim.clients,
        "steps": [_step(step, i in cut.steps) for i, step in enumerate(steps)],
        "groups": report.folded_indices(steps),
        "intervals": [_interval(iv, len(steps)) for iv in intervals
                      if iv.start < len(steps)],
        "violation": {"invariant": verdict.invariant, "status": verdict.status,
                      "explanation": verdict.explanation, "step": len(steps) - 1},
        "slice": {"steps": len(cut.steps), "of": len(steps), "chosen": chosen,
                  "chosenInSlice": sliced, "means": report.CAUSAL_SLICE},
    }


def _step(step: Step, in_slice: bool) -> dict:
    kind, *args = step.event
    shown = {"t": step.time, "phase": step.phase, "kind": kind,
             "text": report.describe_step(step), "slice": in_slice,
             "fault": kind in FAULTS}
    if kind in ("deliver", "drop", "duplicate"):
        shown.update(src=args[0], dst=args[1], label=repr(step.detail))
    elif kind == "reset":
        shown.update(src=args[0], dst=args[1])
    elif kind == "partition":
        shown.update(island=list(args[0]))
    elif kind == "fire":
        shown.update(node=args[0], timer=args[1])
    elif kind != "heal":
        shown.update(node=args[0])
    return shown


def _interval(interval: Interval, steps: int) -> list:
    """[kind, key..., value, start, end]: held after steps start..end-1 (end None: to the last
    step; start -1: from before the first)."""
    end = None if interval.end is None or interval.end >= steps else interval.end
    start = max(interval.start, BEFORE_FIRST)
    return [*interval.what, interval.value, start, end]
