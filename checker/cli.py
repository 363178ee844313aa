"""`deepdives`: list systems, hunt for bugs, replay and shrink counterexamples, run z3 proofs."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import attrs
import click

from checker import cluster, lesson, properties, registry, report, timeline, viewer
from checker.badinput import BadInput, GuardedGroup
from checker.check_cmd import EXIT_UNKNOWN, check_command
from checker.explore_cmd import explore_command
from checker.hunt import (
    ALL_CONFIGS,
    HERE,
    STRATEGIES,
    Budget,
    HuntOutcome,
    Runner,
    Shard,
    hunt,
    hunt_config,
    write_counterexample,
)
from checker.memory import DEFAULT_DIRECTORY, ReplayMemory
from checker.new_cmd import new_command
from checker.replayfile import (
    MAX_SEED,
    Counterexample,
    PropertyCounterexample,
    ReplayFileError,
    check_fits,
    load,
)
from checker.run import RunResult, execute
from checker.shrink import HUNT_REPLAYS, NoLongerViolates, shrink
from checker.strategies import Replay
from checker.system import System


@click.group(cls=GuardedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--system-module", "modules", multiple=True, metavar="MODULE",
              help="Also load the system a module of yours defines (its SYSTEM); repeatable. "
                   "Systems registered under the entry point group 'deepdives.systems' load "
                   "without it.")
def cli(modules: tuple[str, ...]) -> None:
    """Executable deep dives into classic distributed systems.

    Every run is deterministic: (system, variant, config, seed, choices) replays exactly.
    """
    for name in modules:
        try:
            registry.add_module(name)
        except LookupError as exc:
            raise BadInput(exc.args[0]) from None


@cli.command("list")
def list_systems() -> None:
    """Systems, their variants (correct and seeded bugs), invariants and configs."""
    for system in registry.systems().values():
        click.echo(f"{system.name} — {system.summary}")
        click.echo(f"  paper: {system.paper}")
        click.echo(f"  configs: {', '.join(system.configs)}")
        checks = "properties (of inputs Hypothesis draws)" if system.kind == "property" \
            else "invariants"
        click.echo(f"  {checks}: " + ", ".join(inv.name for inv in system.invariants))
        for variant in system.variants.values():
            what = f": breaks {variant.breaks} (caught by {variant.caught_by})" \
                if variant.seeded else ""
            click.echo(f"  - {variant.name}{what}")


@cli.command("hunt")
@click.argument("targets", nargs=-1)
@click.option("--runs", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Most runs per variant.")
@click.option("--time", "seconds", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Most seconds per variant (with --runs, whichever ends first).")
@click.option("--seed", type=click.IntRange(min=0, max=MAX_SEED), default=0,
              show_default=True,
              help="First seed; runs use seed, seed+n, seed+2n, ... for shard i/n.")
@click.option("--shard", default="0/1", show_default=True,
              help="Run only shard i of n (seeds congruent to seed+i mod n).")
@click.option("--config", "config_name", default=ALL_CONFIGS, show_default=True,
              help="A configuration's name, or 'all': two runs in three on `default`, the "
                   "rest spread over the system's other configurations.")
@click.option("--strategy", type=click.Choice(STRATEGIES), default="random", show_default=True)
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports"), show_default=True)
@click.option("--no-shrink", is_flag=True, help="Report the first violation as found.")
@click.option("--database", default=None,
              help="Replay memory: remember the failures found in this directory (a "
                   "Hypothesis example database) and replay them first next time. Default: "
                   f"{DEFAULT_DIRECTORY} with --strategy hypothesis, none otherwise; "
                   "'none' turns it off.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Variants hunted at once, one process each (default: one per core). "
                   "Results do not depend on it.")
@click.option("--dask", "dask_address", default=None, metavar="ADDRESS",
              help="Run the seeds on the Dask cluster whose scheduler is at ADDRESS "
                   "(tcp://HOST:8786; docs/cluster.md): variants one after another, each "
                   "one's seeds and shrinking spread over the workers, reports written here. "
                   "Results are the same as a local hunt's. Needs pip install -e '.[cluster]'.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--html", "html", is_flag=True,
              help="Also write each counterexample's trace viewer (a self-contained HTML "
                   "page) beside its report, and link it from the report.")
def hunt_command(targets: tuple[str, ...], runs: int, seconds: float | None, seed: int,
                 shard: str, config_name: str, strategy: str, report_dir: Path,
                 no_shrink: bool, database: str | None, jobs: int | None,
                 dask_address: str | None, quiet: bool, html: bool) -> None:
    """Explore SYSTEM[:VARIANT] targets (default: everything) within a budget.

    Exits 0 only when every correct variant stays clean and every seeded bug is found; 1 when
    a correct variant is violated or a seeded bug missed; 3 when the only failures are correct
    variants some of whose runs ended unknown (a check's budget ran out), 2 on bad input.
    """
    plan = _plan(targets, config_name)
    try:
        shard_ = Shard.parse(shard)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    if database is None and strategy == "hypothesis":
        database = str(DEFAULT_DIRECTORY)
    settings = HuntSettings(config_name, Budget(runs=runs, seconds=seconds), seed, shard_,
                            strategy, report_dir, not no_shrink,
                            None if database in (None, "none") else database)
    jobs = min(jobs or _cores(), len(plan))
    if dask_address is not None:
        outcomes = _hunt_on_cluster(dask_address, plan, settings, quiet)
    elif jobs > 1:
        outcomes = _hunt_in_parallel(plan, jobs, settings, quiet)
    else:
        outcomes = [_hunt_one(system, variant, settings, quiet) for system, variant in plan]
    if html:
        for outcome in outcomes:
            _add_viewer(outcome)
    click.echo(_table(outcomes))
    failed = [o for o in outcomes if not o.passed]
    if failed:
        names = ", ".join(f"{o.system}:{o.variant} ({o.verdict})" for o in failed)
        click.echo(f"FAILED: {names}", err=True)
        sys.exit(EXIT_UNKNOWN if all(o.undecided for o in failed) else 1)


@attrs.frozen
class HuntSettings:
    """What every variant's hunt of one `deepdives hunt` shares; picklable, so that another
    process can run a hunt from it."""

    config_name: str
    budget: Budget
    seed: int
    shard: Shard
    strategy: str
    report_dir: Path
    shrink_found: bool
    database: str | None


def _plan(targets: tuple[str, ...], config_name: str) -> list[tuple[System, str]]:
    try:
        parsed = [registry.parse_target(t) for t in targets] or [
            (s, list(s.variants)) for s in registry.systems().values()]
        for system, _ in parsed:
            hunt_config(system, config_name)
    except LookupError as exc:
        raise BadInput(exc.args[0]) from None
    return [(system, variant) for system, variants in parsed for variant in variants]


def _hunt_one(system: System, variant: str, settings: HuntSettings, quiet: bool,
              runner: Runner = HERE) -> HuntOutcome:
    label = f"{system.name}:{variant}"
    with click.progressbar(length=settings.budget.runs, label=f"{label:<32}", file=sys.stderr,
                           hidden=quiet, show_pos=True) as bar:
        done = [0]

        def progress(runs: int) -> None:
            bar.update(runs - done[0])
            done[0] = runs

        return _hunt_by_name(system.name, variant, settings, progress, runner)


def _hunt_on_cluster(address: str, plan: list[tuple[System, str]], settings: HuntSettings,
                     quiet: bool) -> list[HuntOutcome]:
    """Each variant in turn over the whole cluster, with the progress bar of a local hunt;
    the workers load the same --system-module modules as this process."""
    modules = click.get_current_context().find_root().params["modules"]
    try:
        runner = cluster.connect(address, modules)
    except cluster.ClusterUnavailable as exc:
        raise BadInput(report.printable(str(exc))) from None
    with runner:
        return [_hunt_one(system, variant, settings, quiet, runner) for system, variant in plan]


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _hunt_in_parallel(plan: list[tuple[System, str]], jobs: int, settings: HuntSettings,
                      quiet: bool) -> list[HuntOutcome]:
    """One process per variant, `jobs` at a time; outcomes in the plan's order. Each hunt is
    a function of its seeds alone, so its result is the same as in one process (only the
    wall-clock figures differ: shrinking is budgeted in replays, not seconds).
    Processes are forked, so they see the same registry as this one."""
    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    with ProcessPoolExecutor(jobs, mp_context=context) as pool:
        futures = {pool.submit(_hunt_by_name, system.name, variant, settings):
                   f"{system.name}:{variant}" for system, variant in plan}
        label = f"{len(plan)} variants, {jobs} at once"
        with click.progressbar(length=len(futures), label=label, file=sys.stderr,
                               hidden=quiet, show_pos=True,
                               item_show_func=lambda item: item) as bar:
            for future in as_completed(futures):
                bar.update(1, f"{futures[future]} {future.result().verdict}")
        return [future.result() for future in futures]


def _hunt_by_name(system_name: str, variant: str, settings: HuntSettings,
                  progress: Callable[[int], None] = lambda runs: None,
                  runner: Runner = HERE) -> HuntOutcome:
    """One variant's hunt, named so that another process can run it too."""
    system = registry.lookup(system_name)
    memory = ReplayMemory.at(settings.database) if settings.database else None
    return hunt(system, variant, hunt_config(system, settings.config_name),
                budget=settings.budget, seed=settings.seed, shard=settings.shard,
                strategy=settings.strategy, report_dir=settings.report_dir,
                shrink_found=settings.shrink_found, memory=memory, progress=progress,
                runner=runner)


def _add_viewer(outcome: HuntOutcome) -> None:
    """Write a found counterexample's viewer beside its report, and the report again, linking
    it. A property system's counterexample is an input, with no trace to view."""
    if outcome.replay_path is None or outcome.report_path is None:
        return
    example, system = _load(outcome.replay_path)
    if system.kind == "property":
        return
    result = _replay(example, system)
    report_path = Path(outcome.report_path)
    viewer_path = report_path.with_suffix(".html")
    viewer.write(viewer_path, viewer.page(system, result))
    timeline_name = timeline.write_beside(report_path, result)
    shrunk_from = outcome.before if outcome.before != len(result.choices) else None
    report.write_markdown(report_path, report.markdown(
        result, system, outcome.replay_path, shrunk_from, viewer=viewer_path.name,
        timeline=timeline_name))


def _table(outcomes: list[HuntOutcome]) -> str:
    header = ("system", "variant", "verdict", "runs", "unknown", "ops ok", "first violation",
              "trace", "report")
    rows = [header] + [
        (o.system, o.variant, o.verdict, str(o.runs), str(o.unknowns), o.ok_share,
         "-" if o.time_to_first is None else f"{o.time_to_first:.2f}s",
         "-" if o.before is None else f"{o.before} -> {o.after}",
         o.report_path or "-")
        for o in outcomes]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                     for row in rows)


def _load(path: str) -> tuple[Counterexample | PropertyCounterexample, System]:
    """A replay file checked all the way: the file itself, then against its system (the
    invariant, the configuration's build, the nodes its choices name). Anything wrong is bad
    input, said in one printable line."""
    try:
        example = load(path)
    except ReplayFileError as exc:
        raise BadInput(report.printable(str(exc))) from None
    try:
        system = registry.lookup(example.system)
        system.variant(example.variant)
        check_fits(example, system)
    except (LookupError, ReplayFileError) as exc:
        raise BadInput(report.printable(f"{path}: {exc.args[0]}")) from None
    return example, system


def _replay(example: Counterexample | PropertyCounterexample, system: System) -> RunResult:
    return execute(system, example.variant, example.config, example.seed,
                   Replay(example.choices))


@cli.command("replay")
@click.argument("file")  # any path: load() says in one line what is wrong with it
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Also write the trace viewer, a self-contained HTML page "
                                 "to step through the run, to this file.")
def replay_command(file: str, html_out: Path | None) -> None:
    """Replay a counterexample deterministically and print its trace.

    Exits 0 when the replay gives the verdict the file records, 1 when it does not.
    """
    example, system = _load(file)
    if html_out is not None and system.kind == "property":
        raise BadInput(report.printable(f"{file}: a {system.name} counterexample is an input, "
                                        "with no trace to view (--html)"))
    result = _replay(example, system)
    if html_out is not None:
        try:
            viewer.write(html_out, viewer.page(system, result))
        except OSError as exc:
            raise BadInput(report.printable(f"{html_out}: cannot write: {exc.strerror}")) \
                from None
    lines = properties.replay_lines(system, result) if system.kind == "property" \
        else report.trace_lines(result.sim.trace)
    for line in lines:
        click.echo(line)
    verdict = result.verdict
    click.echo(f"\n{verdict.invariant}: {verdict.status}")
    for line in verdict.explanation.split("\n") if verdict.explanation else []:
        click.echo(report.printable(line))
    recorded = f"{example.invariant}: {example.verdict}"
    if (verdict.invariant, verdict.status) != (example.invariant, example.verdict):
        click.echo(f"NOT REPRODUCED: the file records {recorded}", err=True)
        sys.exit(1)
    if example.verdict == "violated":
        click.echo("reproduced")
    else:
        click.echo(f"replayed as recorded ({recorded}): the file records no violation")


@cli.command("shrink")
@click.argument("file")  # any path: load() says in one line what is wrong with it
@click.option("-o", "--output-dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Where to write the shrunk replay and report "
                                 "(default: beside FILE).")
@click.option("--replays", type=click.IntRange(min=1), default=HUNT_REPLAYS, show_default=True,
              help="Most replays to spend (a count, not a time: the result is the same on "
                   "any machine). Above the hunt's 1,000, a second, slower strategy also "
                   "runs with the replays left (docs/engine.md, 'Shrinking').")
def shrink_command(file: str, output_dir: Path | None, replays: int) -> None:
    """Minimize a counterexample; writes a new replay file and report, never overwriting.

    Exits 1, writing nothing, when the run no longer violates what the file records.
    """
    example, system = _load(file)
    if example.verdict != "violated":
        raise BadInput(report.printable(f"{file}: records no violation ({example.verdict}), "
                                        "nothing to shrink"))
    if system.kind == "property":
        _shrink_input(file, example, system, output_dir, replays)
        return
    try:
        shrunk = shrink(system, example.variant, example.config, example.seed,
                        example.choices, example.invariant, max_replays=replays)
    except NoLongerViolates as exc:
        click.echo(report.printable(f"deepdives: {file}: {exc}; nothing written"), err=True)
        sys.exit(1)
    target = output_dir or Path(file).parent / "shrunk"
    try:
        replay_path, report_path = write_counterexample(system, shrunk.result, target,
                                                        shrunk.before)
    except OSError as exc:
        raise BadInput(report.printable(f"{target}: cannot write: {exc.strerror}")) from None
    click.echo(f"{shrunk.before} -> {shrunk.after} events in {shrunk.replays} replays")
    click.echo(report.printable(f"replay: {replay_path}"))
    click.echo(report.printable(f"report: {report_path}"))


def _shrink_input(file: str, example: PropertyCounterexample, system: System,
                  output_dir: Path | None, replays: int) -> None:
    """`deepdives shrink` of a property system's file: smaller inputs, by structure; when
    none violates the property, it says the input is minimal and writes nothing."""
    try:
        result, checks = properties.shrink_input(system, example.variant, example.config,
                                                 example.seed, example.input,
                                                 example.invariant, replays)
    except NoLongerViolates as exc:
        click.echo(report.printable(f"deepdives: {file}: {exc}; nothing written"), err=True)
        sys.exit(1)
    before = system.size(system.from_json(example.input, example.config))
    if result.sim.input == example.input:
        click.echo(report.printable(f"{file}: minimal: no smaller input violates "
                                    f"{example.invariant} ({checks} checked); nothing written"))
        return
    target = output_dir or Path(file).parent / "shrunk"
    try:
        replay_path, report_path = write_counterexample(system, result, target, before)
    except OSError as exc:
        raise BadInput(report.printable(f"{target}: cannot write: {exc.strerror}")) from None
    after = system.size(system.from_json(result.sim.input, result.config))
    click.echo(f"input of size {before} -> {after} in {checks} checks")
    click.echo(report.printable(f"replay: {replay_path}"))
    click.echo(report.printable(f"report: {report_path}"))


@cli.command("prove")
@click.argument("system_name", required=False)
@click.option("--config", "config_name", default="default", show_default=True)
def prove_command(system_name: str | None, config_name: str) -> None:
    """Run the static z3 proofs of each system's variants (quorum intersection, ...).

    Exits 1 when a correct variant's proof fails.
    """
    try:
        systems = [registry.lookup(system_name)] if system_name else \
            list(registry.systems().values())
        configs = [s.config(config_name) for s in systems]
    except LookupError as exc:
        raise BadInput(exc.args[0]) from None
    failed = False
    for system, config in zip(systems, configs):
        if system.proofs is None:
            click.echo(f"{system.name}: no static proofs")
            continue
        for variant in system.variants.values():
            for verdict in system.proofs(config, variant.impl):
                click.echo(f"{system.name}:{variant.name}  {verdict.invariant}: "
                           f"{verdict.status} — {verdict.explanation}")
                failed |= not variant.seeded and not verdict.ok
    sys.exit(1 if failed else 0)


@cli.command("lesson")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--check", is_flag=True, help="Only check that the lessons are up to date.")
def lesson_command(files: tuple[Path, ...], check: bool) -> None:
    """Regenerate the traces in lesson files (blocks marked <!-- trace SYSTEM:VARIANT -->)."""
    stale = []
    for path in files:
        try:
            fresh = lesson.update(path, check)
        except LookupError as exc:
            raise BadInput(f"{path}: {exc.args[0]}") from None
        if not fresh:
            stale.append(str(path))
    if stale:
        click.echo(f"out of date (run deepdives lesson {' '.join(stale)}): "
                   f"{', '.join(stale)}", err=True)
        sys.exit(1)


cli.add_command(check_command)
cli.add_command(explore_command)
cli.add_command(new_command)


def main() -> None:
    cli(prog_name="deepdives")


if __name__ == "__main__":
    main()
