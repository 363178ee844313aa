"""Lessons whose traces are generated: `deepdives lesson docs/lessons/sso.md`.

A lesson is prose around blocks the tool fills in:

    <!-- trace sso:lease-ignores-drift -->
    (generated: the shrunk trace, its diagram, the violated invariant, the replay command)
    <!-- /trace -->

Each block is produced by hunting that variant from seed 0 and shrinking what is found (on the
default config, or the one a block names: `<!-- trace sso:minority-quorum config=five -->`); the
replay file is saved under `traces/` beside the lesson. `--check` replays those files and
fails when the rendering differs, so the lesson shows what the code does today. A property
system's block shows the shrunk input and the property instead of a trace
(`checker.properties.lesson_block`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from checker import properties, registry, report
from checker.hunt import Budget, hunt
from checker.replayfile import counterexample, load
from checker.run import RunResult, execute
from checker.strategies import Replay

BLOCK = re.compile(r"(<!-- trace (?P<target>[\w.-]+:[\w.-]+)(?: config=(?P<config>[\w.-]+))? -->\n)"
                   r"(?P<body>.*?)(<!-- /trace -->)", re.DOTALL)
HUNT_RUNS = 5000
SHRINK_REPLAYS = 3000  # far more than any lesson's bug needs: lessons show the shortest found


def render(path: Path, check: bool = False) -> str:
    text = path.read_text()
    return BLOCK.sub(lambda m: m.group(1) + _block(path, m.group("target"),
                                                   m.group("config") or "default", check)
                     + m.group(5), text)


def _block(lesson: Path, target: str, config: str, check: bool) -> str:
    """Hunt and save the replay file; with `check`, replay the saved file instead (fast, and
    still fails when the code no longer behaves as the lesson shows)."""
    system, variants = registry.parse_target(target)
    variant = variants[0]
    replay = lesson.parent / "traces" / f"{system.name}.{variant}.json"
    if check:
        if not replay.exists():
            return f"*{replay} is missing.*\n"
        example = load(replay)
        result = execute(system, variant, example.config, example.seed,
                         Replay(example.choices))
    else:
        outcome = hunt(system, variant, system.config(config),
                       budget=Budget(runs=HUNT_RUNS), shrink_replays=SHRINK_REPLAYS)
        if outcome.violation is None:
            return f"*No violation found in {outcome.runs} runs.*\n"
        result = outcome.violation
        counterexample(system, result).save(replay)
    command = f"{target} --config {config}"  # one configuration, not the default hunt's mix
    replay_name = Path(os.path.relpath(replay)).as_posix()
    if system.kind == "property":  # the input and the property instead of a trace
        return properties.lesson_block(result, system, command, replay_name)
    return _describe(result, command, replay_name)


def _describe(result: RunResult, target: str, replay_name: str) -> str:
    steps = report.trace_lines(report.key_steps(result))
    ops = [f"- `{report._code(op.describe())}`" for op in report.violating_ops(result)]
    return "\n".join([
        f"Found by `deepdives hunt {target}` (seed {result.seed}) and shrunk to "
        f"{len(result.choices)} chosen events.",
        "",
        f"**Violated:** `{result.verdict.invariant}` — {report._md(result.verdict.explanation)}",
        "",
        "```text", *steps, "```", "",
        "```mermaid", *report.mermaid(result), "```", "",
        "The operations involved (`[t=call..return]`):", "", *ops, "",
        f"Replay it: `deepdives replay {replay_name}`", ""])


def update(path: Path, check: bool) -> bool:
    """Regenerate the lesson; with `check`, only say whether it is up to date."""
    fresh = render(path, check)
    if check:
        return fresh == path.read_text()
    path.write_text(fresh)
    return True
