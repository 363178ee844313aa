"""`deepdives explore SYSTEM[:VARIANT] ...`: exhaustive search of a small configuration.

Breadth-first by default, so a counterexample is a shortest one; it is written as a replay
file and a report, like a hunt's. Like `hunt`, exits 0 only when every correct variant is free
of violations and every seeded bug is found: an incomplete search that found nothing has not
found the bug.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from checker import registry
from checker.badinput import BadInput
from checker.explore import ENDS, ExploreResult, Progress, explore
from checker.hunt import write_counterexample
from checker.run import execute
from checker.strategies import Replay
from checker.system import Config, System


@click.command("explore")
@click.argument("targets", nargs=-1, required=True)
@click.option("--config", "config_name", default="small", show_default=True)
@click.option("--order", type=click.Choice(("bfs", "dfs")), default="bfs", show_default=True,
              help="bfs finds a shortest counterexample; dfs reaches deep states sooner.")
@click.option("--depth", type=click.IntRange(min=0), default=12, show_default=True,
              help="Most events on a path (0: no bound).")
@click.option("--faults", default="", metavar="KIND=N,...",
              help="Most faults of each kind on a path, e.g. crash=1,partition=1 "
                   "(default: none).")
@click.option("--max-states", type=click.IntRange(min=1), default=200_000, show_default=True)
@click.option("--time", "seconds", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Most seconds per variant.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="The seed of the nodes' own random draws and of the workload.")
@click.option("--ends", type=click.Choice(ENDS), default="every", show_default=True,
              help="Which states are run to their end (quiescence, then the history "
                   "invariants): every state, so that counterexamples to history invariants "
                   "are shortest too; the leaves, where the workload is done or the depth "
                   "bound is reached, several times faster, with the same state invariants; "
                   "or only those where the workload is done, which reaches deepest (the "
                   "states at the bound are checked, not run on).")
@click.option("--no-sleep-sets", is_flag=True, help="Explore every order of commuting events.")
@click.option("--no-symmetry", is_flag=True, help="Do not merge interchangeable nodes.")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports"), show_default=True)
@click.option("--quiet", is_flag=True, help="No progress lines.")
def explore_command(targets: tuple[str, ...], config_name: str, order: str, depth: int,
                    faults: str, max_states: int, seconds: float | None, seed: int,
                    ends: str, no_sleep_sets: bool, no_symmetry: bool, report_dir: Path,
                    quiet: bool) -> None:
    """Explore every schedule of SYSTEM[:VARIANT] targets on a small configuration."""
    try:
        plan = [(system, variant) for target in targets
                for system, variants in [registry.parse_target(target)] for variant in variants]
        configs = {system.name: system.config(config_name) for system, _ in plan}
    except LookupError as exc:
        raise BadInput(exc.args[0]) from None
    for system, _ in plan:
        if system.kind == "property":
            raise BadInput(f"{system.name} is a property system: it has inputs, not schedules, "
                           f"to explore (deepdives hunt {system.name} searches them)")
    failed = []
    for system, variant in plan:
        config = configs[system.name]
        bounds = parse_faults(faults, config)
        label = f"{system.name}:{variant}"
        result = explore(system, variant, config, seed, order=order, max_depth=depth or None,
                         faults=bounds, max_states=max_states, seconds=seconds,
                         sleep_sets=not no_sleep_sets, symmetry=not no_symmetry,
                         ends=ends,
                         progress=None if quiet else _progress_line(label))
        click.echo(f"{label}: {result.describe()}")
        if result.violated:
            _write(system, variant, config, seed, result, report_dir)
        if result.violated != system.variant(variant).seeded:
            failed.append(label)
    if failed:
        click.echo(f"FAILED: {', '.join(failed)}", err=True)
        sys.exit(1)


def parse_faults(text: str, config: Config) -> dict[str, int]:
    """`crash=1,partition=2` -> bounds per fault kind the configuration allows."""
    bounds: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, _, count = part.partition("=")
        if kind not in config.faults:
            raise BadInput(f"--faults: {kind!r} is not a fault of config {config.name!r} "
                           f"(known: {', '.join(sorted(config.faults))})")
        if not count.isdigit():
            raise BadInput(f"--faults: {part!r} must look like {kind}=N with N >= 0")
        bounds[kind] = int(count)
    return bounds


def _progress_line(label: str) -> Callable[[Progress], None]:
    def show(progress: Progress) -> None:
        click.echo(f"{label}: {progress.describe()}", err=True)
    return show


def _write(system: System, variant: str, config: Config, seed: int, result: ExploreResult,
           report_dir: Path) -> None:
    replayed = execute(system, variant, config, seed, Replay(result.choices))
    replay_path, report_path = write_counterexample(system, replayed, report_dir)
    click.echo(f"  {len(result.choices)} events; replay: {replay_path}  report: {report_path}")
