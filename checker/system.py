"""How a system registers with the engine: configurations, variants, invariants, proofs."""

from __future__ import annotations

import functools
import itertools
import random
import re
from collections.abc import Callable, Hashable, Iterable
from typing import Any, ClassVar

import attrs

from checker.node import Storage
from checker.sim import BUDGETED, NEMESES, Cluster, Simulation
from invariants.verdict import Verdict


@attrs.frozen
class Config:
    """One named configuration. JSON-able, so a replay file carries it whole."""

    name: str
    servers: int = 3
    clients: int = 2
    ops_per_client: int = 4
    max_steps: int = 400
    epsilon: int = 0  # bound on every node's clock offset
    max_drift: int = 0  # fastest a `drift` fault may make a clock run, in parts per thousand
    max_pause: int = 0  # longest process stall a `pause` fault may inject
    faults: dict[str, int] = attrs.field(factory=dict)  # most faults of each kind per run
    quiesce_horizon: int = 400  # virtual time the ending may take to settle
    quiesce_steps: int = 20_000
    # virtual time the ending lets pass at rest after the final operations: no faults, no
    # operations, only the nodes' own deliveries and timers (`Simulation.quiesce`)
    rest: int = 0
    params: dict[str, Any] = attrs.field(factory=dict)  # the system's own knobs

    def to_json(self) -> dict:
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Config:
        """A configuration read from a file, every field checked for its type and its bounds
        (`LIMITS`; the system's own knobs are checked against the system by `params_problem`):
        a forged one must be refused before it builds or runs anything. Fields left out take
        their defaults, except the name."""
        unknown = sorted(set(data) - set(_FIELD_CHECKS))
        if unknown:
            raise ValueError(f"unknown config field {unknown[0]!r}")
        if "name" not in data:
            raise ValueError("config field 'name' is missing")
        for field, value in data.items():
            problem = _FIELD_CHECKS[field](value)
            if problem:
                raise ValueError(f"config field {field!r} {problem}")
        return cls(**data)


# What a configuration read from a file may hold. Every bound is far above every registered
# configuration (the largest today: 5 servers, 3 clients, 12 operations per client, 1,500
# steps, an ending of 20,000 steps within 4,000 ticks, epsilon 200, pauses of 6,000 ticks, 40
# faults of one kind) and low enough that one run of any system ends within about a minute:
# a run takes at most max_steps + quiesce_steps steps, each costing more as nodes are added.
LIMITS: dict[str, tuple[int, int]] = {
    "servers": (1, 16), "clients": (1, 16), "ops_per_client": (0, 200),
    "max_steps": (0, 10_000), "quiesce_steps": (0, 100_000), "quiesce_horizon": (0, 100_000),
    "rest": (0, 100_000),
    "epsilon": (0, 10_000), "max_pause": (0, 100_000), "max_drift": (0, 500),
}
MOST_FAULTS = 1_000  # of one kind in one run
MOST_NODES = 64  # a configuration may build, whichever knobs add them
MOST_NAMES = 64  # in one list of names (keys, rows, files)
MOST_KNOB = 10_000  # a count among a system's own knobs
_NAME = re.compile(r"[A-Za-z0-9_.:/-]{1,64}")

Check = Callable[[Any], str | None]  # a field's value -> what is wrong with it, or None


def _integer(low: int, high: int) -> Check:
    def check(value: Any) -> str | None:
        if type(value) is not int:  # bool is an int, and not a count
            return f"must be an integer, not {json_type(value)}"
        return None if low <= value <= high else f"must be within {low}..{high}, not {value}"
    return check


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, not {json_type(value)}"


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, not {json_type(value)}"
    return None if 0 < len(value) <= 100 else "must be 1 to 100 characters long"


def _name(value: Any) -> str | None:
    if isinstance(value, str) and _NAME.fullmatch(value):
        return None
    return "must be a name: 1 to 64 letters, digits or _.:/-"


def _optional(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def _list_of(check: Check, most: int = MOST_NAMES) -> Check:
    def each(value: Any) -> str | None:
        if not isinstance(value, list):
            return f"must be a list, not {json_type(value)}"
        if len(value) > most:
            return f"must hold at most {most} items, not {len(value)}"
        problems = ((i, problem) for i, item in enumerate(value) if (problem := check(item)))
        first = next(problems, None)
        return None if first is None else f"item {first[0]} {first[1]}"
    return each


def _faults(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"must be an object of fault kinds, not {json_type(value)}"
    count = _integer(0, MOST_FAULTS)
    for kind, most in value.items():
        if kind not in BUDGETED + NEMESES:
            return f"names {kind!r}, not a fault kind ({', '.join(BUDGETED + NEMESES)})"
        if problem := count(most):
            return f"{kind!r} {problem}"
    return None


def _params(value: Any) -> str | None:
    """Knobs are the system's own (`params_problem` checks them against it): here, only that
    they are small JSON values, so nothing forged can be large before that check."""
    if not isinstance(value, dict):
        return f"must be an object, not {json_type(value)}"
    for key, item in value.items():
        if problem := _knob(item):
            return f"{key!r} {problem}"
    return None


def _knob(value: Any, depth: int = 0) -> str | None:
    if isinstance(value, list):
        if depth >= 2 or len(value) > MOST_NAMES:
            return f"must be a list of at most {MOST_NAMES} items, nested at most twice"
        return next((problem for item in value if (problem := _knob(item, depth + 1))), None)
    if type(value) is int:
        return None if 0 <= value <= MOST_KNOB else f"must be within 0..{MOST_KNOB}, not {value}"
    if isinstance(value, str):
        return _name(value)
    return None if value is None or isinstance(value, bool) else \
        f"must be a name, a count, a flag or a list of them, not {json_type(value)}"


def params_problem(params: dict[str, Any], system: System) -> str | None:
    """What is wrong with a configuration's knobs for `system`, or None: every knob must be
    one that some registered configuration of the system sets, with a value of the same
    shape (a count, a flag, a name, a list of names) — the checker knows no system's knobs."""
    registered: dict[str, list[Any]] = {}
    for config in system.configs.values():
        for key, value in config.params.items():
            registered.setdefault(key, []).append(value)
    for key, value in params.items():
        if key not in registered:
            return f"names {key!r}, which {system.name} does not read " \
                   f"(known: {', '.join(sorted(registered)) or 'none'})"
        if not _same_shape(value, registered[key]):
            return f"{key!r} is {json_type(value)} of another shape than {system.name}'s " \
                   f"configurations give it"
    return None


def _same_shape(value: Any, examples: list[Any]) -> bool:
    """Whether `value` has the shape of one of the registered `examples` (a name may stand
    where a registered value is None, and the other way round: an optional name)."""
    if isinstance(value, list):
        lists = [example for example in examples if isinstance(example, (list, tuple))]
        items = [item for example in lists for item in example]
        return bool(lists) and (not items or all(_same_shape(item, items) for item in value))
    names = (str, type(None))
    return any(type(value) is type(example)
               or (isinstance(value, names) and isinstance(example, names))
               for example in examples)


def json_type(value: Any) -> str:
    """What a value read from JSON is, in words."""
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


_FIELD_CHECKS: dict[str, Check] = {
    "name": _text, "faults": _faults, "params": _params,
    **{field: _integer(low, high) for field, (low, high) in LIMITS.items()},
}


@attrs.frozen
class Invariant:
    """A property. State invariants run after every step and return a sentence or None;
    history invariants run at the end and return a Verdict."""

    name: str
    kind: str  # "state" | "history"
    check: Callable[[Simulation], Any]
    description: str = ""


def state_invariant(name: str, description: str = "") -> Callable:
    def wrap(fn: Callable[[Simulation], str | None]) -> Invariant:
        return Invariant(name, "state", fn, description or (fn.__doc__ or "").strip())
    return wrap


def judged_on_change(disks: Callable[[Simulation], Iterable[str]],
                     reads: Callable[[Simulation], Hashable] = lambda sim: None) -> Callable:
    """For a state check that reads nothing but the disks of the nodes `disks(sim)` names
    (asked once per run) and what `reads(sim)` sums up (how far a record it derives from the
    ghost facts has got, say): judged again only once a disk was written (`Storage.writes`)
    or `reads` changed since it last held, and holding until then, as it did. Put it under
    `state_invariant`; a check that uses it says why that is all it reads (and so why time
    passing alone cannot break it), and its disks' nodes must not change a value in place
    after putting it (a tuple, or a copy made on each read and write). It runs after every
    step still, and a judgement it keeps is one that would come out the same: no step goes
    unjudged."""
    def wrap(check: Callable[[Simulation], str | None]) -> Callable[[Simulation], str | None]:
        # one slot per decorated check, even for checks a factory makes under one name
        slot = f"{check.__module__}.{check.__qualname__}/held/{next(_JUDGED)}"

        @functools.wraps(check)
        def judged(sim: Simulation) -> str | None:
            held = sim.invariant_state(slot, lambda: _Held(tuple(
                sim.contexts[node].storage for node in disks(sim))))
            now = (reads(sim), [storage.writes for storage in held.disks])
            if now == held.when:
                return None
            sentence = check(sim)
            if sentence is None:
                held.when = now
            return sentence
        return judged
    return wrap


_JUDGED = itertools.count()


class _Held:
    """Per simulation and check (`judged_on_change`): the disks it reads, and what they and
    the rest it reads were when it last held."""

    __slots__ = ("disks", "when")

    def __init__(self, disks: tuple[Storage, ...]) -> None:
        self.disks, self.when = disks, None


def history_invariant(name: str, description: str = "") -> Callable:
    def wrap(fn: Callable[[Simulation], Verdict]) -> Invariant:
        return Invariant(name, "history", fn, description or (fn.__doc__ or "").strip())
    return wrap


@attrs.frozen
class Variant:
    """`correct`, or a seeded bug: a small mutation with what it breaks and what it teaches."""

    name: str
    impl: Any  # handed to the system's build: usually the node class to run
    breaks: str = ""
    caught_by: str = ""  # the invariant expected to catch it
    teaches: str = ""

    @property
    def seeded(self) -> bool:
        return self.name != "correct"


@attrs.frozen
class System:
    # what the commands run: "simulation" (a cluster driven by a scheduling strategy) or
    # "property" (inputs drawn by Hypothesis: `checker.properties.PropertySystem`)
    kind: ClassVar[str] = "simulation"

    name: str
    paper: str
    summary: str
    build: Callable[[Config, Any, random.Random], Cluster]
    invariants: tuple[Invariant, ...]
    configs: dict[str, Config]
    variants: dict[str, Variant]
    proofs: Callable[[Config, Any], list[Verdict]] | None = None
    # channels are FIFO, as TCP connections are: each (sender, receiver) channel delivers in
    # send order; `duplicate` is then no fault, and `reset` (a broken connection) is one
    fifo: bool = False

    def config(self, name: str) -> Config:
        if name not in self.configs:
            raise LookupError(f"system {self.name!r} has no config {name!r} "
                              f"(known: {', '.join(self.configs)})")
        return self.configs[name]

    def variant(self, name: str) -> Variant:
        if name not in self.variants:
            raise LookupError(f"system {self.name!r} has no variant {name!r} "
                              f"(known: {', '.join(self.variants)})")
        return self.variants[name]
