"""Lessons whose traces are generated: `deepdives lesson docs/lessons/sso.md`.

A lesson is prose around blocks the tool fills in:

    <!-- trace sso:lease-ignores-drift -->
    (generated: the shrunk trace, its diagram, the violated invariant, the replay command)
    <!-- /trace -->

Each block is produced by hunting that variant from seed 0 and shrinking what is found (on the
default config, or the one a block names: `<!-- trace sso:minority-quorum config=five -->`,
shrinking within SHRINK_REPLAYS replays or the count a block names: `replays=12000`). A block
may ask for the shortest of the first few counterexamples (`candidates=3`): the hunt goes on
from the seed after each one found, and the trace with the fewest chosen events is kept (the
earliest among equals): shrinking gives a 1-minimal trace, not a shortest one, and where the
first run found shrinks to a long local minimum another run of the same bug often shrinks
further (`zookeeper:no-fencing-token`: 129 chosen events from the first, 25 from the third).
The replay file is saved under `traces/` beside the lesson, and its trace viewer (a
self-contained HTML page, `checker.viewer`) under `viewers/`, linked from the block. The
block shows the causal slice first (`checker.slice`). `--check` replays those files and fails
when the rendering or a viewer differs, so the lesson shows what the code does today;
`refresh` re-renders a lesson and its viewers from the saved files without hunting. A property
system's block shows the shrunk input and the property instead of a trace
(`checker.properties.lesson_block`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from checker import properties, registry, report, viewer
from checker import slice as causal
from checker.hunt import Budget, hunt
from checker.replayfile import counterexample, load
from checker.run import RunResult, execute
from checker.strategies import Replay
from checker.system import Config, System

BLOCK = re.compile(r"(<!-- trace (?P<target>[\w.-]+:[\w.-]+)(?: config=(?P<config>[\w.-]+))?"
                   r"(?: replays=(?P<replays>\d+))?(?: candidates=(?P<candidates>\d+))? -->\n)"
                   r"(?P<body>.*?)(<!-- /trace -->)",
                   re.DOTALL)
HUNT_RUNS = 5000
SHRINK_REPLAYS = 3000  # far more than any lesson's bug needs: lessons show the shortest found


def render(path: Path, check: bool = False, viewers: dict[Path, str] | None = None) -> str:
    """The lesson with its blocks filled in; each block's trace viewer page goes into
    `viewers` (by the path it belongs at), when given."""
    text = path.read_text()
    return BLOCK.sub(lambda m: m.group(1) + _block(
        path, m.group("target"), m.group("config") or "default",
        int(m.group("replays") or SHRINK_REPLAYS), int(m.group("candidates") or 1), check,
        viewers) + m.group(7), text)


def _block(lesson: Path, target: str, config: str, replays: int, candidates: int,
           check: bool, viewers: dict[Path, str] | None) -> str:
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
        found, runs = _shortest_found(system, variant, system.config(config), replays,
                                      candidates)
        if found is None:
            return f"*No violation found in {runs} runs.*\n"
        result = found
        counterexample(system, result).save(replay)
    command = f"{target} --config {config}"  # one configuration, not the default hunt's mix
    replay_name = Path(os.path.relpath(replay)).as_posix()
    if system.kind == "property":  # the input and the property instead of a trace
        return properties.lesson_block(result, system, command, replay_name)
    page = lesson.parent / "viewers" / f"{system.name}.{variant}.html"
    if viewers is not None:
        viewers[page] = viewer.page(system, result)
    return _describe(result, system, command, replay_name,
                     page.relative_to(lesson.parent).as_posix())


def _shortest_found(system: System, variant: str, config: Config, replays: int,
                    candidates: int) -> tuple[RunResult | None, int]:
    """The shortest of the first `candidates` counterexamples a hunt from seed 0 finds, each
    shrunk within `replays` (the earliest seed among equals), and the runs it took: HUNT_RUNS
    at most in all."""
    best: RunResult | None = None
    seed = runs = 0
    for _ in range(candidates):
        outcome = hunt(system, variant, config, budget=Budget(runs=HUNT_RUNS - runs),
                       seed=seed, shrink_replays=replays)
        runs += outcome.runs
        found = outcome.violation
        if found is None:
            break
        if best is None or len(found.choices) < len(best.choices):
            best = found
        seed = found.seed + 1
    return best, runs


def _describe(result: RunResult, system: System, target: str, replay_name: str,
              page: str) -> str:
    """The block of a simulated run: its key steps, the causal slice first."""
    result, cut = causal.of_run(system, result, report.violating_ops(result))
    keys = report.key_indices(result)
    in_slice = {k for k, i in enumerate(keys) if i in cut.steps}
    section = report.slice_section([result.sim.trace[i] for i in keys], in_slice,
                                   cut.chosen(result))
    ops = [f"- `{report._code(op.describe())}`" for op in report.violating_ops(result)]
    return "\n".join([
        f"Found by `deepdives hunt {target}` (seed {result.seed}) and shrunk to "
        f"{len(result.choices)} chosen events.",
        "",
        f"**Violated:** `{result.verdict.invariant}` — {report._md(result.verdict.explanation)}",
        "",
        *section, "",
        "```mermaid", *report.mermaid(result, cut.steps), "```", "",
        "The operations involved (`[t=call..return]`):", "", *ops, "",
        f"Replay it: `deepdives replay {replay_name}`; step through it, every node's state "
        f"at every step: [{page}]({page})", ""])


def update(path: Path, check: bool) -> bool:
    """Regenerate the lesson and its trace viewers; with `check`, only say whether they are
    up to date."""
    viewers: dict[Path, str] = {}
    fresh = render(path, check, viewers)
    if check:
        return fresh == path.read_text() and all(
            page.exists() and page.read_text(encoding="utf-8") == text
            for page, text in viewers.items())
    _write(path, fresh, viewers)
    return True


def refresh(path: Path) -> None:
    """Regenerate the lesson and its trace viewers from its saved replay files, without
    hunting again."""
    viewers: dict[Path, str] = {}
    _write(path, render(path, check=True, viewers=viewers), viewers)


def _write(path: Path, text: str, viewers: dict[Path, str]) -> None:
    path.write_text(text)
    for page, html in viewers.items():
        viewer.write(page, html)
