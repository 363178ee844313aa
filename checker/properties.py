"""Property systems: code without messages (a data format, a codec), checked input by input.

A property system registers like any other (`SYSTEM` in `implementations/`) and goes through
the same commands, but nothing in it is scheduled: its variants are implementations (the
correct one and seeded bugs), and its invariants are *properties*, each a check of one input
that Hypothesis draws.

- A hunt of a variant is one Hypothesis search, seeded by the hunt's seed, for an input that
  violates a property (the first one, in the order the system lists them); its budget in runs
  counts examples. What it finds, Hypothesis shrinks, keeping only inputs whose first violated
  property is the same one, within a budget of checks (as replays budget the engine's
  shrinking). No example database, and no constants picked up from the modules the process
  happens to have loaded: the same seed finds the same input in any process.
- A run checks one input, named by the run's one choice `("input", JSON)`: a `Replay` of that
  choice re-checks exactly that input, which is what replay files, `deepdives replay` and the
  shared hunt tests do. A run driven by any other strategy checks the first input of its
  seed's search (Hypothesis begins with the simplest input).
- The counterexample file names the property and holds the input as JSON
  (`checker.replayfile.PropertyCounterexample`); `deepdives shrink` shrinks it further by
  structure (`shrink_input`), or says it is minimal. Reports and lessons show the input and
  the property where a simulated run shows its trace.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import attrs
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.strategies import SearchStrategy

from checker import watchdog
from checker.historyio import printable
from checker.report import _code, _md  # the reports' escaping, for the same media
from checker.run import RunResult
from checker.shrink import NoLongerViolates
from checker.sim import HandlerOverrun
from checker.strategies import Replay, Strategy
from checker.system import Config, Invariant, System
from invariants.verdict import Verdict, passed, violated

INPUT = "input"  # the one kind of choice a property run makes
# what Hypothesis is told a search may draw, whatever the hunt's budget (which ends the search
# itself): Hypothesis paces its first draws by this number (small inputs first)
HYPOTHESIS_EXAMPLES = 10**9


def property_invariant(name: str, description: str = "") -> Callable:
    """A property: `check(impl, value)` returns a sentence saying how the implementation
    `impl` (a variant's) broke it on the input `value`, or None. Its description (by default
    its docstring) is shown in reports as one paragraph."""
    def wrap(fn: Callable[[Any, Any], str | None]) -> Invariant:
        return Invariant(name, "property", fn, " ".join((description or fn.__doc__ or "").split()))
    return wrap


def _builds_nothing(config: Config, impl: Any, rng: Any) -> Any:
    raise TypeError("a property system builds no cluster: its runs check inputs")


@attrs.frozen(kw_only=True)
class PropertySystem(System):
    """A system checked input by input. `inputs(config)` is the Hypothesis strategy of its
    inputs; `to_json` and `from_json` carry an input in a replay file (`from_json` raises
    ValueError, saying why, for anything that is not an input: files may be forged, and
    `shrink_input` tries any smaller JSON); `size` measures an input as reports count it;
    `show`, if given, describes one in the system's own words (lines of plain text)."""

    kind: ClassVar[str] = "property"
    build: Callable = attrs.field(default=_builds_nothing)
    inputs: Callable[[Config], SearchStrategy]
    to_json: Callable[[Any], Any]
    from_json: Callable[[Any, Config], Any]
    size: Callable[[Any], int]
    show: Callable[[Any], list[str]] | None = None

    def describe(self, name: str) -> str:
        return next((p.description for p in self.invariants if p.name == name), "")


@attrs.frozen
class InputCheck:
    """What a property run did, where a simulated run keeps its simulation: the input it
    checked (as JSON) and the verdict. It has no events, so no trace."""

    input: Any
    verdict: Verdict
    trace: tuple = ()

    def choices(self) -> list[tuple]:
        return [(INPUT, self.input)]

    def fingerprint(self) -> str:
        verdict = self.verdict
        text = json.dumps([self.input, verdict.invariant, verdict.status, verdict.explanation])
        return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def check_input(system: PropertySystem, variant: str, value: Any) -> Verdict:
    """The first property, in the system's order, that the variant breaks on `value`. An
    exception raised while checking is the implementation failing on the input: a finding."""
    impl = system.variant(variant).impl
    with watchdog.guard():
        for prop in system.invariants:
            try:
                sentence = watchdog.watched(f"property {prop.name}", prop.check, impl, value)
            except HandlerOverrun as overrun:
                sentence = f"the implementation {overrun.sentence} on this input"
            except Exception as exc:  # whatever the implementation raises
                sentence = f"the implementation raised {type(exc).__name__}: {exc}"
            if sentence:
                return violated(prop.name, sentence)
    return passed("all", f"{len(system.invariants)} properties hold")


def checked(system: PropertySystem, variant: str, config: Config, seed: int,
            encoded: Any) -> RunResult:
    """The run that checks the input `encoded` (its JSON form), decoded as a file's would be."""
    value = system.from_json(encoded, config)
    verdict = check_input(system, variant, value)
    return RunResult(system.name, variant, config, seed, verdict, InputCheck(encoded, verdict))


def execute(system: PropertySystem, variant: str, config: Config, seed: int,
            strategy: Strategy) -> RunResult:
    """`checker.run.execute` for a property system: a `Replay` re-checks the input its one
    choice names; any other strategy checks the first input of the seed's search."""
    if isinstance(strategy, Replay):
        return checked(system, variant, config, seed, replayed_input(strategy.choices))
    drawn: list[Any] = []

    def first(value: Any) -> None:
        drawn.append(value)
        raise _Stop

    with contextlib.suppress(_Stop):
        _search(system, config, seed, first, shrink=False)
    return checked(system, variant, config, seed, _as_filed(system, drawn[0]))


def replayed_input(choices: list[tuple]) -> Any:
    if len(choices) != 1 or len(choices[0]) != 2 or choices[0][0] != INPUT:
        raise ValueError(f"a property run replays one choice ({INPUT!r}, JSON), not "
                         f"{len(choices)} choices")
    return choices[0][1]


def _as_filed(system: PropertySystem, value: Any) -> Any:
    """An input's JSON form exactly as a replay file gives it back."""
    return json.loads(json.dumps(system.to_json(value)))


# --- the hunt: one Hypothesis search --------------------------------------------------------


class _Violation(Exception):
    """Tells Hypothesis that the input it drew fails."""


class _Stop(BaseException):
    """Ends a search whose budget is spent. Hypothesis lets it through (it catches only
    Exception), so it is not taken for a failure to shrink."""


@attrs.frozen
class Found:
    result: RunResult  # the violation, shrunk unless shrinking was turned off
    first_size: int  # the size of the first violating input Hypothesis drew
    size: int
    time_to_first: float


@attrs.frozen
class Searched:
    runs: int  # examples checked before the first violation, or all of them
    elapsed: float  # until the first violation, or the end of the search
    found: Found | None


class _Examiner:
    """The test function of one search. Before the first violation, every input is checked
    against every property; after it, only an input whose first violated property is the
    same one fails (what a replay of it would say), within `max_checks` checks: past the
    budget, an input not checked yet passes, so Hypothesis's shrinker stops improving. Each
    input's verdict is kept by its JSON, so Hypothesis's closing replay of its smallest input
    fails again, checked or not."""

    def __init__(self, system: PropertySystem, variant: str, examples: int | None,
                 seconds: float | None, max_checks: int,
                 progress: Callable[[int], None]) -> None:
        self.system, self.variant, self.examples, self.seconds = system, variant, examples, seconds
        self.max_checks, self.progress = max_checks, progress
        self.started = time.perf_counter()
        self.runs = self.checks = 0
        self.verdicts: dict[str, Verdict] = {}
        self.first: Any = None
        self.time_to_first: float | None = None
        self.target: str | None = None  # the property the first violation broke
        self.last: Any = None  # the latest input that failed: in the end, Hypothesis's

    def __call__(self, value: Any) -> None:
        if self.target is None:
            self._search(value)
        else:
            self._shrink(value)

    def _search(self, value: Any) -> None:
        if (self.examples is not None and self.runs >= self.examples) or \
                (self.seconds is not None and time.perf_counter() - self.started >= self.seconds):
            raise _Stop
        self.runs += 1
        self.progress(self.runs)
        verdict = self._verdict(value)
        if verdict.violated:
            self.first, self.target = value, verdict.invariant
            self.time_to_first = time.perf_counter() - self.started
            self._fail(value)

    def _shrink(self, value: Any) -> None:
        if self._key(value) not in self.verdicts:
            if self.checks >= self.max_checks:
                return
            self.checks += 1
        verdict = self._verdict(value)
        if verdict.violated and verdict.invariant == self.target:
            self._fail(value)

    def _key(self, value: Any) -> str:
        return json.dumps(self.system.to_json(value))

    def _verdict(self, value: Any) -> Verdict:
        key = self._key(value)
        if key not in self.verdicts:
            self.verdicts[key] = check_input(self.system, self.variant, value)
        return self.verdicts[key]

    def _fail(self, value: Any) -> None:
        self.last = value
        raise _Violation


def search(system: PropertySystem, variant: str, config: Config, seed: int, *,
           examples: int | None, seconds: float | None = None, shrink: bool = True,
           max_checks: int = 1000,
           progress: Callable[[int], None] = lambda runs: None) -> Searched:
    """One hunt of a property system's variant: Hypothesis, seeded by `seed`, draws up to
    `examples` inputs (and for at most `seconds`), stops at the first that violates a
    property, and shrinks it within `max_checks` checks. The budget only cuts the search
    short: Hypothesis is given the same (large) budget whatever it is, since it paces its
    draws by it, so a bug is found at the same example whatever the budget."""
    examine = _Examiner(system, variant, examples, seconds, max_checks, progress)
    with contextlib.suppress(_Violation, _Stop):
        _search(system, config, seed, examine, shrink=shrink)
    elapsed = time.perf_counter() - examine.started
    if examine.last is None:
        return Searched(examine.runs, elapsed, None)
    result = checked(system, variant, config, seed, _as_filed(system, examine.last))
    if result.verdict.invariant != examine.target:
        raise RuntimeError(f"{system.name}: an input read back from its JSON form no longer "
                           f"violates {examine.target} ({result.verdict.invariant}: "
                           f"{result.verdict.status}): to_json loses something")
    found = Found(result, system.size(examine.first), system.size(examine.last),
                  examine.time_to_first)
    return Searched(examine.runs, examine.time_to_first, found)


def _search(system: PropertySystem, config: Config, seed: int,
            examine: Callable[[Any], None], *, shrink: bool) -> None:
    """Run Hypothesis over the system's inputs with settings of its own (whatever profile
    is loaded): randomness from `seed` alone, no database, no deadline, no health checks,
    silent, stopping at the first failure; `examine` raises _Stop to end it sooner."""
    phases = (Phase.generate, Phase.shrink) if shrink else (Phase.generate,)

    @settings(max_examples=HYPOTHESIS_EXAMPLES, derandomize=False, database=None, deadline=None,
              phases=phases, suppress_health_check=list(HealthCheck),
              report_multiple_bugs=False, verbosity=Verbosity.quiet, print_blob=False,
              backend="hypothesis")
    @hypothesis_seed(seed)
    @given(system.inputs(config))
    def hunt(value: Any) -> None:
        examine(value)

    with _draws_from_the_seed_alone():
        hunt()


@contextlib.contextmanager
def _draws_from_the_seed_alone() -> Iterator[None]:
    """Hypothesis (since 6.131) mixes into its draws constants it collects from the source
    of every local module the process has loaded, so the same seed would draw differently
    in a pytest session and in the CLI. During a search that pool is empty; Hypothesis's
    own constants stay. (Internal API: without it, as in older versions, nothing to do.)"""
    from hypothesis.internal.conjecture import providers

    original = getattr(providers, "_get_local_constants", None)
    if original is None:
        yield
        return
    providers._get_local_constants = _no_local_constants
    providers.CONSTANTS_CACHE.cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = original
        providers.CONSTANTS_CACHE.cache.clear()


def _no_local_constants() -> Any:
    from hypothesis.internal.constants_ast import Constants

    return Constants()


# --- shrinking a counterexample file further ------------------------------------------------


def shrink_input(system: PropertySystem, variant: str, config: Config, seed: int,
                 encoded: Any, invariant: str, max_checks: int) -> tuple[RunResult, int]:
    """Greedy structural shrinking of an input's JSON: remove a list item or a character,
    move a number toward zero, turn true to false; keep the first smaller input whose first
    violated property is still `invariant`, until none is (or `max_checks` checks are
    spent). Candidates that are not inputs (`from_json` refuses them) cost no check. Each
    step makes the JSON strictly smaller, so it ends. Returns the smallest run and the
    checks spent; its input is `encoded` itself when nothing smaller violates.

    Raises NoLongerViolates when `encoded` itself does not violate `invariant` first."""
    current = checked(system, variant, config, seed, encoded)
    if not (current.violated and current.verdict.invariant == invariant):
        verdict = current.verdict
        raise NoLongerViolates(f"the input no longer violates {invariant} (checked: "
                               f"{verdict.invariant}: {verdict.status})")
    checks = 0
    improved = True
    while improved and checks < max_checks:
        improved = False
        for candidate in smaller(current.sim.input):
            try:
                run = checked(system, variant, config, seed, candidate)
            except ValueError:
                continue
            checks += 1
            if run.violated and run.verdict.invariant == invariant:
                current, improved = run, True
                break
            if checks >= max_checks:
                break
    return current, checks


def smaller(value: Any) -> Iterator[Any]:
    """JSON values each strictly smaller than `value`: fewer items or characters, or numbers
    nearer zero, or fewer trues (removals first, then changes inside)."""
    if isinstance(value, list):
        for i in range(len(value)):
            yield value[:i] + value[i + 1:]
        for i, item in enumerate(value):
            for less in smaller(item):
                yield value[:i] + [less] + value[i + 1:]
    elif isinstance(value, dict):
        for key, item in value.items():
            for less in smaller(item):
                yield {**value, key: less}
    elif isinstance(value, bool):
        if value:
            yield False
    elif isinstance(value, int):
        yield from dict.fromkeys(v for v in (0, _halved(value), value - _sign(value))
                                 if abs(v) < abs(value))
    elif isinstance(value, float):
        yield from dict.fromkeys(v for v in (0.0, float(math.trunc(value)))
                                 if abs(v) < abs(value))
    elif isinstance(value, str):
        yield from dict.fromkeys(value[:i] + value[i + 1:] for i in range(len(value)))


def _halved(n: int) -> int:
    return n // 2 if n >= 0 else -(-n // 2)


def _sign(n: int) -> int:
    return (n > 0) - (n < 0)


# --- how a property run is shown -----------------------------------------------------------


def pretty_json(value: Any, width: int = 92) -> list[str]:
    """JSON lines: a value on one line when it fits, its items one per line otherwise. ASCII
    only, and no backtick (written \\u0060), so the lines sit safely in a Markdown code block
    and on a terminal."""
    def lines(item: Any, indent: str, prefix: str, suffix: str) -> list[str]:
        flat = indent + prefix + _compact(item) + suffix
        if len(flat) <= width or not isinstance(item, (list, dict)) or not item:
            return [flat]
        opening, closing = ("{", "}") if isinstance(item, dict) else ("[", "]")
        pairs = list(item.items()) if isinstance(item, dict) else [(None, x) for x in item]
        out = [indent + prefix + opening]
        for i, (key, inner) in enumerate(pairs):
            label = "" if key is None else _compact(key) + ": "
            out += lines(inner, indent + "  ", label, "," if i < len(pairs) - 1 else "")
        return out + [indent + closing + suffix]
    return lines(value, "", "", "")


def _compact(value: Any) -> str:
    """One line of JSON. json.dumps escapes every character but DEL that is not printable
    ASCII, and the backtick would end a Markdown code span: both as JSON escapes."""
    text = json.dumps(value, separators=(", ", ": "))
    return text.replace("`", "\\u0060").replace("\x7f", "\\u007f")


def shown(system: PropertySystem, result: RunResult) -> list[str]:
    """The system's own description of the run's input, printable, without backticks."""
    if system.show is None:
        return []
    value = system.from_json(result.sim.input, result.config)
    return [printable(line).replace("`", "'") for line in system.show(value)]


def replay_lines(system: PropertySystem, result: RunResult) -> list[str]:
    """What `deepdives replay` prints before the verdict: the input and what it checks."""
    lines = ["input:", *pretty_json(result.sim.input)]
    if description := shown(system, result):
        lines += ["", *description]
    prop = result.verdict.invariant
    if system.describe(prop):
        lines += ["", printable(f"property {prop}: {system.describe(prop)}")]
    return lines


def markdown(result: RunResult, system: PropertySystem, replay_path: str,
             shrunk_from: int | None = None) -> str:
    """A report: what broke, the input, the system's description of it, the property."""
    variant = system.variant(result.variant)
    verdict = result.verdict
    size = system.size(system.from_json(result.sim.input, result.config))
    lines = [f"# {_md(system.name)}:{_md(result.variant)} — `{_code(verdict.invariant)}` "
             f"{_md(verdict.status)}", "",
             f"**What broke.** {_md(variant.breaks or f'the {variant.name} variant')}: "
             f"{_md(verdict.explanation)}", ""]
    if variant.teaches:
        lines += [f"**Teaches.** {_md(variant.teaches)}", ""]
    lines += [f"Seed {result.seed}, config `{_code(result.config.name)}`; an input of size "
              f"{size}" + (f" (shrunk from {shrunk_from})"
                           if shrunk_from not in (None, size) else "") + ".", ""]
    lines += ["## The input", "", "```json", *pretty_json(result.sim.input), "```", ""]
    if description := shown(system, result):
        lines += ["```text", *description, "```", ""]
    lines += ["## The property", "",
              f"`{_code(verdict.invariant)}`: {_md(system.describe(verdict.invariant))}", "",
              "## Replay", "", "```", printable(f"deepdives replay {replay_path}"), "```", ""]
    return "\n".join(lines)


def lesson_block(result: RunResult, system: PropertySystem, target: str,
                 replay_name: str) -> str:
    """A lesson's generated block for a property system: the input instead of a trace."""
    verdict = result.verdict
    size = system.size(system.from_json(result.sim.input, result.config))
    description = shown(system, result)
    return "\n".join([
        f"Found by `deepdives hunt {target}` (seed {result.seed}): Hypothesis's search and "
        f"its shrinking end at an input of size {size}.",
        "",
        f"**Violated:** `{verdict.invariant}` — {_md(verdict.explanation)}",
        "",
        "```json", *pretty_json(result.sim.input), "```", "",
        *(["```text", *description, "```", ""] if description else []),
        f"**The property.** {_md(system.describe(verdict.invariant))}",
        "",
        f"Replay it: `deepdives replay {replay_name}`", ""])
