"""Counterexample replay files: JSON only (never pickle), validated on load.

A replay file names a run completely — system, variant, config, seed, choices — plus what it
violated, so `deepdives replay` can reproduce and `deepdives shrink` can minimize it.

A file may be hostile: everything in it is checked before anything runs. `load` checks what
the file alone can tell (bytes, JSON, field types, bounds); `check_fits` what only its system
can (the invariant is one the system checks, every node a choice names is one the
configuration builds). Replay skips a choice that cannot happen, so a choice naming a node
that does not exist would otherwise be silently ignored, or reach the engine unchecked.

A property system's file (`PropertyCounterexample`, `checker.properties`) holds, instead of
choices and an invariant, the input as JSON and the property it violates; its system checks
the input (`from_json`) as the simulated systems check their choices' nodes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import attrs

from checker.files import UnreadableFile, read_regular_file
from checker.run import RunResult, new_simulation
from checker.sim import KINDS, NodeFailure
from checker.system import MOST_NODES, Config, System, json_type, params_problem
from invariants.verdict import OK, UNKNOWN, VIOLATED

FORMAT = "deepdives-replay"
VERSION = 1

MAX_BYTES = 16 * 2**20  # far above the longest run's file (max_steps choices of ~60 bytes)
MAX_DEPTH = 16  # a replay file nests 5 deep (config, params, symmetric, a group, a name)
MAX_DIGITS = 100  # no number in a replay file is longer; JSON's own limit is 4,300
MAX_SEED = 2**64 - 1  # seeds (and message sequence numbers) are unsigned 64-bit integers
VERDICTS = (VIOLATED, OK, UNKNOWN)

# what each argument of an event kind names, after the kind
_ARGS: dict[str, tuple[str, ...]] = {
    "deliver": ("node", "node", "seq"), "drop": ("node", "node", "seq"),
    "duplicate": ("node", "node", "seq"), "fire": ("node", "timer"), "invoke": ("client",),
    "crash": ("server",), "restart": ("server",), "partition": ("island",), "heal": (),
    "pause": ("server", "ticks"), "skew": ("server", "offset"), "reset": ("node", "node"),
    "drift": ("server", "rate"),
}
_TYPES = {"node": str, "server": str, "client": str, "timer": str, "seq": int, "ticks": int,
          "offset": int, "rate": int, "island": list}


# the verdicts a run may end in besides the system's invariants: a node's handler failed, or
# (with status ok) all the history invariants hold
_ENGINE_VERDICTS = {failure.invariant for failure in NodeFailure.__subclasses__()} | {"all"}


class ReplayFileError(ValueError):
    """A replay file that cannot be used; the message says what is wrong and where."""


@attrs.frozen
class Counterexample:
    system: str
    variant: str
    config: Config
    seed: int
    choices: list[tuple]
    invariant: str
    verdict: str
    explanation: str = ""

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "system": self.system,
                "variant": self.variant, "config": self.config.to_json(), "seed": self.seed,
                "choices": [_event_to_json(e) for e in self.choices],
                "invariant": self.invariant, "verdict": self.verdict,
                "explanation": self.explanation}

    def save(self, path: Path) -> None:
        _save(self.to_json(), path)


@attrs.frozen
class PropertyCounterexample:
    """A property system's replay file: the input (as JSON) that violates the property
    `invariant` (written as the field "property"). As a run's choices it is one choice,
    ("input", JSON), which is what `Replay` re-checks."""

    system: str
    variant: str
    config: Config
    seed: int
    invariant: str
    input: Any
    verdict: str
    explanation: str = ""

    @property
    def choices(self) -> list[tuple]:
        return [("input", self.input)]

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "system": self.system,
                "variant": self.variant, "config": self.config.to_json(), "seed": self.seed,
                "property": self.invariant, "input": self.input, "verdict": self.verdict,
                "explanation": self.explanation}

    def save(self, path: Path) -> None:
        _save(self.to_json(), path)


def _save(data: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)  # never leave a half-written file behind


def counterexample(system: System, result: RunResult) -> Counterexample | PropertyCounterexample:
    """The replay file of a run: its choices, or for a property system its input."""
    verdict = result.verdict
    if system.kind == "property":
        [(_, value)] = result.choices
        return PropertyCounterexample(result.system, result.variant, result.config, result.seed,
                                      verdict.invariant, value, verdict.status,
                                      verdict.explanation)
    return Counterexample(result.system, result.variant, result.config, result.seed,
                          result.choices, verdict.invariant, verdict.status,
                          verdict.explanation)


def load(path: str | Path) -> Counterexample | PropertyCounterexample:
    try:
        return parse(_decode(_read(path)))
    except ReplayFileError as exc:
        raise ReplayFileError(f"{path}: {exc}") from None


def _read(path: str | Path) -> bytes:
    """The file's bytes, if it is a regular file of at most MAX_BYTES (`checker.files`)."""
    try:
        return read_regular_file(path, MAX_BYTES)
    except UnreadableFile as exc:
        raise ReplayFileError(str(exc)) from None


def _decode(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReplayFileError(f"not UTF-8 text (byte {exc.start} is {raw[exc.start]:#04x})") \
            from None
    try:
        data = json.loads(text, parse_int=_integer, parse_float=_finite,
                          parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ReplayFileError(f"not valid JSON at line {exc.lineno} column {exc.colno}: "
                              f"{exc.msg} (truncated or hand-edited?)") from None
    except RecursionError:
        raise ReplayFileError(f"nested more than {MAX_DEPTH} deep: not a replay file") from None
    _check_shape(data)
    return data


def _integer(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_DIGITS:
        raise ReplayFileError(f"a number has {len(digits.lstrip('-'))} digits: no replay file "
                              f"holds one longer than {MAX_DIGITS}")
    return int(digits)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ReplayFileError(f"the number {text[:20]} is out of range")
    return value


def _no_constant(name: str) -> None:
    raise ReplayFileError(f"{name} is not JSON (JSON has no NaN or Infinity)")


def _check_shape(data: Any) -> None:
    """What JSON allows but no replay file holds: nesting deeper than MAX_DEPTH, and strings
    with lone surrogates (escapes such as \\ud800 that are not Unicode and cannot be printed)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ReplayFileError(f"nested more than {MAX_DEPTH} deep: not a replay file")
        if isinstance(value, dict):
            stack += [(key, depth) for key in value]
            stack += [(item, depth + 1) for item in value.values()]
        elif isinstance(value, list):
            stack += [(item, depth + 1) for item in value]
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ReplayFileError(f"a string holds a lone surrogate "
                                      f"({ascii(value[exc.start])[1:-1]}): not Unicode text") \
                    from None


def parse(data: Any) -> Counterexample | PropertyCounterexample:
    if not isinstance(data, dict):
        raise ReplayFileError("expected a JSON object at the top level")
    if data.get("format") != FORMAT:
        raise ReplayFileError(f"not a deepdives replay file (format is "
                              f"{_shown(data.get('format'))})")
    if type(data.get("version")) is not int or data["version"] != VERSION:
        raise ReplayFileError(f"replay format version {_shown(data.get('version'))} is not "
                              f"supported (this deepdives reads version {VERSION})")
    if "choices" not in data and "input" in data:
        return _parse_property_file(data)
    config = _common_fields(data, {"choices": list, "invariant": str})
    if len(data["choices"]) > config.max_steps:
        raise ReplayFileError(f"{len(data['choices'])} choices, more than a run of its config "
                              f"takes (max_steps {config.max_steps})")
    choices = [_event_from_json(i, e, config) for i, e in enumerate(data["choices"])]
    return Counterexample(data["system"], data["variant"], config, data["seed"], choices,
                          data["invariant"], data["verdict"], data.get("explanation", ""))


def _common_fields(data: dict, own: dict[str, type]) -> Config:
    """Check the fields every replay file has, and `own` (those of its kind), in the order
    they are written; return its configuration."""
    fields = {"system": str, "variant": str, "config": dict, "seed": int, **own,
              "verdict": str, "explanation": str}
    for name, kind in fields.items():
        value = data.get(name, "" if name == "explanation" else None)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ReplayFileError(f"field {name!r} must be a {kind.__name__}, not "
                                  + (json_type(value) if name in data else "missing"))
    if not 0 <= data["seed"] <= MAX_SEED:
        raise ReplayFileError(f"field 'seed' must be within 0..2**64-1 (seeds are unsigned "
                              f"64-bit integers), not {_shown(data['seed'])}")
    if data["verdict"] not in VERDICTS:
        raise ReplayFileError(f"field 'verdict' must be one of {', '.join(VERDICTS)}, not "
                              f"{_shown(data['verdict'])}")
    try:
        return Config.from_json(data["config"])
    except ValueError as exc:
        raise ReplayFileError(f"field 'config' is invalid: {exc}") from None


def _parse_property_file(data: dict) -> PropertyCounterexample:
    """A property system's file: the input is any JSON here (the bytes' checks bound it);
    its system says whether it is an input (`check_fits`)."""
    config = _common_fields(data, {"property": str})
    return PropertyCounterexample(data["system"], data["variant"], config, data["seed"],
                                  data["property"], data["input"], data["verdict"],
                                  data.get("explanation", ""))


def _shown(value: Any) -> str:
    """A value from the file, in an error message: one line of ASCII, cut short."""
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _event_to_json(event: tuple) -> list:
    return [list(x) if isinstance(x, tuple) else x for x in event]


def _event_from_json(index: int, raw: Any, config: Config) -> tuple:
    where = f"choice {index}"
    if not isinstance(raw, list) or not raw or raw[0] not in KINDS:
        raise ReplayFileError(f"{where}: expected [kind, ...] with kind one of "
                              f"{', '.join(KINDS)}, got {_shown(raw)}")
    kind, args = raw[0], raw[1:]
    roles = _ARGS[kind]
    if len(args) != len(roles) or not all(
            isinstance(a, _TYPES[r]) and not isinstance(a, bool) for a, r in zip(args, roles)):
        names = ", ".join(_TYPES[r].__name__ for r in roles)
        raise ReplayFileError(f"{where}: {kind} takes ({names}), got {_shown(args)}")
    for role, arg in zip(roles, args):
        problem = _out_of_range(role, arg, config)
        if problem:
            raise ReplayFileError(f"{where}: {kind} {problem}")
    if kind == "partition":
        return (kind, tuple(args[0]))
    return (kind, *args)


def _out_of_range(role: str, arg: Any, config: Config) -> str | None:
    """What is wrong with one argument as the engine would draw it, given the config."""
    bounds = {"seq": (0, MAX_SEED), "ticks": (1, max(1, config.max_pause)),
              "offset": (-config.epsilon, config.epsilon),
              "rate": (-config.max_drift, config.max_drift)}
    if role == "island" and not all(isinstance(n, str) for n in arg):
        return "takes a list of node names"
    if role in bounds and not bounds[role][0] <= arg <= bounds[role][1]:
        low, high = bounds[role]
        return f"{role} must be within {low}..{high}, not {_shown(arg)}"
    return None


def check_fits(example: Counterexample | PropertyCounterexample, system: System) -> None:
    """Check what only the system can tell: the invariant is one it checks, the configuration
    builds, and every node a choice names is one of the built nodes, in its role (for a
    property system: the property is one of its own, and the input is one of its inputs)."""
    if system.kind == "property" or isinstance(example, PropertyCounterexample):
        _check_input_fits(example, system)
        return
    names = {inv.name for inv in system.invariants} | _ENGINE_VERDICTS
    if example.invariant not in names:
        raise ReplayFileError(f"{system.name} checks no invariant {example.invariant!r} "
                              f"(known: {', '.join(sorted(names))})")
    problem = params_problem(example.config.params, system)
    if problem:
        raise ReplayFileError(f"config field 'params' {problem}")
    servers, clients = _built_nodes(example, system)
    if len(servers) + len(clients) > MOST_NODES:
        raise ReplayFileError(f"config {example.config.name!r} builds "
                              f"{len(servers) + len(clients)} nodes; at most {MOST_NODES}")
    known = {"node": servers + clients, "island": servers + clients, "server": servers,
             "client": clients}
    for index, event in enumerate(example.choices):
        for role, arg in zip(_ARGS[event[0]], event[1:]):
            for name in arg if role == "island" else [arg]:
                if role in known and name not in known[role]:
                    raise ReplayFileError(
                        f"choice {index}: {event[0]} names {name!r}, not a "
                        f"{'node' if role == 'island' else role} of config "
                        f"{example.config.name!r} ({_listing(known[role])})")


def _check_input_fits(example: Counterexample | PropertyCounterexample,
                      system: System) -> None:
    if not isinstance(example, PropertyCounterexample):
        raise ReplayFileError(f"{system.name} is a property system: its replay files hold an "
                              f"input, not choices")
    if system.kind != "property":
        raise ReplayFileError(f"{system.name} replays choices of events: the file holds an "
                              f"input")
    names = {prop.name for prop in system.invariants} | {"all"}
    if example.invariant not in names:
        raise ReplayFileError(f"{system.name} checks no property {example.invariant!r} "
                              f"(known: {', '.join(sorted(names))})")
    problem = params_problem(example.config.params, system)
    if problem:
        raise ReplayFileError(f"config field 'params' {problem}")
    try:
        system.from_json(example.input, example.config)
    except ValueError as exc:
        raise ReplayFileError(f"field 'input' is not an input of {system.name}: {exc}") \
            from None


def _built_nodes(example: Counterexample, system: System) -> tuple[list[str], list[str]]:
    """The servers and clients the file's configuration builds. Every registered
    configuration builds, so a build that fails on the file's one is the file's fault."""
    try:
        sim = new_simulation(system, example.variant, example.config, example.seed)
    except Exception as exc:  # whatever the system's build raises on this configuration
        raise ReplayFileError(f"config {example.config.name!r} does not build "
                              f"{system.name}: {exc!r}") from None
    return sim.servers, sim.clients


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:8])
    return shown + (f", ... ({len(names)} in all)" if len(names) > 8 else "")
