"""Lessons whose traces are generated: `deepdives lesson docs/lessons/sso.md`.

A lesson is prose around blocks the tool fills in:

    <!-- trace sso:lease-ignores-drift -->
    (generated: the shrunk trace, its diagram, the violated invariant, the replay command)
    <!-- /trace -->

Each block is produced by hunting that variant from seed 0 and shrinking what is found, so
the lesson shows what the code does today; `--check` fails when a lesson is out of date.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from checker import registry, report
from checker.hunt import Budget, hunt
from checker.replayfile import Counterexample

BLOCK = re.compile(r"(<!-- trace (?P<target>[\w.-]+:[\w.-]+) -->\n)(?P<body>.*?)"
                   r"(<!-- /trace -->)", re.DOTALL)
HUNT_RUNS = 5000


def render(path: Path, save_replays: bool = True) -> str:
    text = path.read_text()
    return BLOCK.sub(lambda m: m.group(1) + _block(path, m.group("target"), save_replays)
                     + m.group(4), text)


def _block(lesson: Path, target: str, save_replays: bool) -> str:
    system, variants = registry.parse_target(target)
    variant = variants[0]
    config = system.config("default")
    outcome = hunt(system, variant, config, budget=Budget(runs=HUNT_RUNS))
    if outcome.violation is None:
        return f"*No violation found in {outcome.runs} runs.*\n"
    result = outcome.violation
    replay = lesson.parent / "traces" / f"{system.name}.{variant}.json"
    if save_replays:
        Counterexample(system.name, variant, config, result.seed, result.choices,
                       result.verdict.invariant, result.verdict.status,
                       result.verdict.explanation).save(replay)
    replay_name = Path(os.path.relpath(replay)).as_posix()  # as typed from where you stand
    steps = report.trace_lines(report.key_steps(result))
    ops = [f"- `{report._code(op.describe())}`" for op in report.violating_ops(result)]
    return "\n".join([
        f"Found by `deepdives hunt {target}` in run {outcome.runs} (seed {result.seed}); "
        f"shrunk from {outcome.before} to {outcome.after} chosen events.",
        "",
        f"**Violated:** `{result.verdict.invariant}` — {report._md(result.verdict.explanation)}",
        "",
        "```text", *steps, "```", "",
        "```mermaid", *report.mermaid(result), "```", "",
        "The operations involved (`[t=call..return]`):", "", *ops, "",
        f"Replay it: `deepdives replay {replay_name}`", ""])


def update(path: Path, check: bool) -> bool:
    """Regenerate the lesson; with `check`, only say whether it is up to date."""
    fresh = render(path, save_replays=not check)
    if check:
        return fresh == path.read_text()
    path.write_text(fresh)
    return True
