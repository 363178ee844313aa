"""A replay that watches: who sent each message, what each step wrote to the history, and
(for the viewer) every node's state, the messages in flight, the timers, partitions and faults
after each step.

The run is replayed from its choices with `Replay`, wrapped in a strategy that, at its first
decision (after every node has started), attaches observers to that one simulation: its
network's `send` and its own `execute`. Nothing the nodes see changes, so the replay is the
run itself (its fingerprint is checked).

What changes over a run is kept as intervals of steps: a value shown "after step k" for every
`start <= k < end`, with step -1 the moment before the first step (after the nodes started).
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import re
import sys
from typing import Any

import attrs

from checker.run import RunResult, execute
from checker.sim import FAULT_KINDS, MESSAGE_KINDS, Simulation
from checker.strategies import Replay
from checker.system import System

BEFORE_FIRST = -1  # the step index of the state the nodes start in
VALUE_CHARS = 1200  # a state value or message shown longer than this is cut
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


@attrs.define
class Interval:
    """`value` of `what` holds after each step from `start` (inclusive) to `end` (exclusive;
    None: to the end of the run)."""

    what: tuple
    value: Any
    start: int
    end: int | None = None


@attrs.define
class Recording:
    """What an observed replay saw. `sender[key]` is the step that sent the message `key`
    (absent: sent while the nodes started); `history_after[i]` the history's length after
    step i; `places[i]` the nodes step i happened at (`places`), `changed[i]` those of them
    it changed (their state, storage, whether they are up), `timers_set[i]` the timers it
    set or moved."""

    sender: dict[tuple, int] = attrs.Factory(dict)
    history_before: int = 0
    history_after: list[int] = attrs.Factory(list)
    places: list[tuple[str, ...]] = attrs.Factory(list)
    changed: list[frozenset[str]] = attrs.Factory(list)
    timers_set: list[list[tuple[str, str]]] = attrs.Factory(list)
    snapshots: bool = False
    intervals: list[Interval] = attrs.Factory(list)  # only with snapshots
    _open: dict[str, dict[tuple, Interval]] = attrs.Factory(dict)  # by kind, then key

    def step_of_history_event(self, position: int) -> int | None:
        """The step during which history event `position` was recorded (None: before any)."""
        if position < self.history_before:
            return None
        return bisect.bisect_right(self.history_after, position)

    def observe_all(self, kind: str, values: dict[tuple, Any], step: int) -> None:
        """From after `step` on, each `(kind, *key)` holds `values[key]`, and the others of
        this kind hold nothing."""
        open_ = self._open.setdefault(kind, {})
        for key in [k for k in open_ if k not in values]:
            open_.pop(key).end = step
        for key, value in values.items():
            current = open_.get(key)
            if current is not None and current.value == value:
                continue
            if current is not None:
                current.end = step
            open_[key] = interval = Interval((kind, *key), value, step)
            self.intervals.append(interval)


@attrs.frozen
class ObservedRun:
    result: RunResult
    recording: Recording


class _Observing:
    """A strategy: `inner`'s decisions, with the recording attached at the first one."""

    def __init__(self, inner: Replay, recording: Recording) -> None:
        self.inner = inner
        self.recording = recording
        self.attached = False

    def next(self, sim: Simulation) -> tuple | None:
        if not self.attached:
            self.attached = True
            _attach(sim, self.recording)
        return self.inner.next(sim)


def observe(system: System, result: RunResult, snapshots: bool = False) -> ObservedRun:
    """Replay `result` from its choices, recording as it goes; the replay must be the run."""
    recording = Recording(snapshots=snapshots)
    replayed = execute(system, result.variant, result.config, result.seed,
                       _Observing(Replay(result.choices), recording))
    if replayed.sim.fingerprint() != result.sim.fingerprint():
        raise RuntimeError(f"{result.system}:{result.variant} seed {result.seed}: the replay "
                           f"of the run's choices is not the run")
    return ObservedRun(replayed, recording)


def _attach(sim: Simulation, recording: Recording) -> None:
    recording.history_before = len(sim.history)
    if recording.snapshots:
        _snapshot(sim, recording, BEFORE_FIRST)
    network_send, sim_execute = sim.network.send, sim.execute

    def send(src: str, dst: str, msg: Any) -> Any:
        envelope = network_send(src, dst, msg)
        recording.sender[envelope.key] = len(sim.trace)  # the step now running
        return envelope

    def execute_observed(event: tuple) -> None:
        nodes = places(event, sim.network.island())
        before = {node: _node_digest(sim, node) for node in nodes}
        timers = dict(sim.timers.due)
        try:
            sim_execute(event)
        finally:
            recording.places.append(nodes)
            recording.changed.append(frozenset(
                node for node in nodes
                if event[0] in FAULT_KINDS or _node_digest(sim, node) != before[node]))
            recording.timers_set.append([key for key, due in sim.timers.due.items()
                                         if timers.get(key) != due])
            recording.history_after.append(len(sim.history))
            if recording.snapshots:
                _snapshot(sim, recording, len(sim.trace) - 1)

    sim.network.send = send
    sim.execute = execute_observed


def places(event: tuple, island: list[str]) -> tuple[str, ...]:
    """The nodes at which an event happens: a delivery, drop or duplicate at the message's
    receiver (a lost message is something that did not happen to the receiver), a timer, an
    invocation or a node fault at its node, a connection reset at both ends, a partition at
    the nodes it cuts off and a heal at the nodes (`island`) that were cut off."""
    kind, *args = event
    if kind in MESSAGE_KINDS:
        return (args[1],)
    if kind == "reset":
        return (args[0], args[1])
    if kind == "partition":
        return tuple(args[0])
    if kind == "heal":
        return tuple(island)
    return (args[0],) if args else ()


def _node_digest(sim: Simulation, node: str) -> str:
    """What a later step of `node` can read of it: its state, its storage, its being up."""
    live = sim.nodes[node]
    state = None if live is None else live.state()
    return repr((state, sim.contexts[node].storage.items()))


def _snapshot(sim: Simulation, recording: Recording, step: int) -> None:
    """What the viewer shows after `step`."""
    recording.observe_all("message", {
        envelope.key: shown(envelope.msg) for envelope in sim.network}, step)
    recording.observe_all("timer", {key: due for key, due in sim.timers.due.items()}, step)
    recording.observe_all("status", {(node,): status for node in sim.nodes
                                     if (status := _status(sim, node))}, step)
    island = sim.network.island()
    recording.observe_all("island", {(): island} if island else {}, step)
    for node_id, node in sim.nodes.items():
        state = {} if node is None else node.state()
        recording.observe_all(f"state:{node_id}", {(key,): shown(value)
                                                   for key, value in state.items()}, step)


def _status(sim: Simulation, node: str) -> str:
    """down, paused (until when), a clock off true time; "" for a node up and on time."""
    if not sim.up(node):
        return "down"
    words = []
    if sim.paused(node):
        words.append(f"paused until t={sim.paused_until[node]}")
    offset = sim.contexts[node].offset
    if offset:
        words.append(f"clock {offset:+d}")
    if sim.contexts[node].rate:
        words.append(f"drifting {sim.contexts[node].rate:+d}‰")
    return ", ".join(words)


def shown(value: Any) -> str:
    """A value as the viewer shows it (`stable_repr`), cut at VALUE_CHARS."""
    text = stable_repr(value)
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS] + "…"


def stable_repr(value: Any) -> str:
    """repr, the same in every process: a set's items sorted (their order follows string
    hashing, which differs between processes), an object without a repr of its own shown by
    its attributes, no memory address."""
    if isinstance(value, (set, frozenset)):
        items = sorted(stable_repr(item) for item in value)
        if not items:
            return f"{type(value).__name__}()"
        inside = "{" + ", ".join(items) + "}"
        return inside if type(value) is set else f"{type(value).__name__}({inside})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{stable_repr(k)}: {stable_repr(v)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(stable_repr(item) for item in value) + "]"
    if type(value) is tuple:
        items = [stable_repr(item) for item in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if _own_repr(type(value)):
        return _ADDRESS.sub("", repr(value))
    if attrs.has(type(value)):
        return _with_fields(value, [f.name for f in attrs.fields(type(value)) if f.repr])
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _with_fields(value, [f.name for f in dataclasses.fields(value) if f.repr])
    if type(value).__repr__ is object.__repr__ and hasattr(value, "__dict__"):
        return _with_fields(value, [k for k in vars(value) if not k.startswith("_")])
    return _ADDRESS.sub("", repr(value))


@functools.cache
def _own_repr(cls: type) -> bool:
    """Whether the class's repr is written in its own module (not generated, not inherited
    from a library)."""
    code = getattr(cls.__repr__, "__code__", None)
    module = sys.modules.get(cls.__module__)
    return code is not None and code.co_filename == getattr(module, "__file__", None)


def _with_fields(value: Any, names: list[str]) -> str:
    fields = ", ".join(f"{name}={stable_repr(getattr(value, name, None))}" for name in names)
    return f"{type(value).__name__}({fields})"
