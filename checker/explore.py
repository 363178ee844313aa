"""Exhaustive search over the real implementations, for small configurations.

Breadth-first order (`order="bfs"`) finds a shortest counterexample; depth-first (`"dfs"`)
reaches deep states sooner. The search runs the simulation's own events -- deliveries, timers,
client invocations -- and faults within bounds, as `Replay` runs choices: any pending timer may
be chosen, the timers due before it firing first as implied steps, so that depth counts
decisions rather than ticks. A fault that takes a parameter takes a few
values: a pause of `max_pause`, a skew to -epsilon or +epsilon, a partition that cuts off any
set of at most half of the nodes (or one of the `islands` given).

A state is named by a canonical fingerprint, the same in every process: node states
(`Node.state()`, or a node's `canonical_state()` if it has one), storage, random generators,
clock offsets and drift rates, messages in flight as a multiset (sequence numbers left out;
on FIFO channels, with each message's place in its channel's queue), timers and pauses
relative to now, the partition, the fault budget left, the clients' history and the ghost
record. The state's copies are made by pickling (see `_Snapshot`), with what no event
changes -- code, strings, frozen values, the trace so far -- shared rather than copied (see
`_aside` and `_Shared`); a copy done with is emptied, so that reference counting frees it
(see `_discard`). A node's text is encoded once per distinct state and storage, found again
by their pickle (see `_NodeTexts`), and only for the nodes an event touched. A state's events
are listed when it is expanded, and a state reached breadth-first is not copied until then
(see `_Item`). State invariants are checked in every state.
Every state (or only the leaves: where the workload is done and at the depth bound; or only
where it is done) is also run to its end on a copy -- quiescence, then the history
invariants -- exactly as a replayed run would end there.

Reductions, each optional:
- sleep sets (Godefroid, 1996): two events commute when they touch disjoint parts of the state
  (see `_footprint`): deliveries to different nodes, a timer on one node and a drop of a
  message to another, a partition and a delivery it does not cut, ...; a timer that advances
  time depends on everything. On FIFO channels a message event writes its whole channel (the
  next message becomes deliverable), so events on one channel never commute with each other,
  while deliveries on different channels to different nodes do; a send appended at a channel's
  tail commutes with taking its head. A `reset` writes both its channels and both its nodes.
  Having explored `a` then `b`, the search does not explore `b` then `a`. Every state is
  still reached -- sleep sets save transitions, not states -- so the verdict is that of the
  full search.
- symmetry: nodes a configuration declares interchangeable (`params["symmetric"]`: groups of
  node ids) are renamed to the smallest equivalent state. The nodes of a group must behave the
  same under renaming: same code and workload, no draws from `ctx.random` (their seeds differ),
  and their ids must appear in the state only as whole words.
A system whose nodes keep no absolute times declares `params["time_invariant"]`: the
fingerprint then leaves out absolute time, so that a periodic timer does not make every state
new.

Each state the search keeps is the one it reached first, and every path it records runs from
such a state: a counterexample is a choice list that `checker.strategies.Replay` replays with
the same seed to the same violation.
"""

from __future__ import annotations

import contextlib
import copyreg
import enum
import functools
import gc
import hashlib
import io
import itertools
import operator
import pickle
import random
import re
import struct
import time
import types
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs

from checker import watchdog
from checker.run import check_history, new_simulation, node_failure
from checker.sim import KINDS, MESSAGE_KINDS, NodeFailure, Simulation
from checker.strategies import Replay
from checker.system import Config, System
from invariants.verdict import UNKNOWN, Verdict, passed, unknown, violated

Key = tuple  # an event named without sequence numbers: the same in every copy of a state
Rename = Callable[[str], str] | None  # node ids to interchangeable ones; None: as they are

_KIND_ORDER = {kind: i for i, kind in enumerate(KINDS)}

# --- copies of a simulation -------------------------------------------------------------------


class _ForkedRandom(random.Random):
    """A node's generator restored from a snapshot. It shares the snapshot's state and loads
    it only when the node draws: restoring 625 words on every fork costs more than the rest of
    the copy, and most events draw nothing. Until then it also keeps the snapshot's token
    (see `_generator_token`), which names that state; every draw forgets the token, and the
    next one asked for is kept until the draw after."""

    def __init__(self, state: tuple, token: str | None = None) -> None:  # seeded on first draw
        self._state: tuple | None = state
        self._loaded = False
        self.token: str | None = token
        self.gauss_next = state[2]

    def _load(self) -> None:
        if not self._loaded:
            super().setstate(self._state)
            self._loaded = True
        self._state = self.token = None

    def random(self) -> float:
        self._load()
        return super().random()

    def getrandbits(self, k: int) -> int:
        self._load()
        return super().getrandbits(k)

    def gauss(self, *args: float) -> float:
        self._load()
        return super().gauss(*args)

    def seed(self, *args: Any, **kwargs: Any) -> None:
        super().seed(*args, **kwargs)
        self._loaded, self._state, self.token = True, None, None

    def getstate(self) -> tuple:
        if self._state is None:
            self._state = super().getstate()
        return self._state

    def setstate(self, state: tuple) -> None:
        super().setstate(state)
        self._loaded, self._state, self.token = True, None, None


def _generator_aside(index: int) -> None:
    """Stands in a pickle for a generator kept aside (see _Unpickler.find_class)."""


def _reference_aside(index: int) -> None:
    """Stands in a pickle for an object kept aside (see _Unpickler.find_class)."""


def _simulation_aside(index: int) -> None:
    """Stands in a pickle for a simulation whose trace is kept aside (see
    _Unpickler.find_class)."""


# by identity: `in` would call the __eq__ of every frozen value pickled
_STAND_INS = frozenset(map(id, (_generator_aside, _reference_aside, _simulation_aside)))


@functools.cache
def _aside(cls: type) -> Callable | None:
    """How a snapshot keeps objects of `cls` out of its pickle, if it does: generators by
    their state (see _ForkedRandom); code (a lambda cannot be pickled) and immutable values --
    messages, events: frozen, hence hashable, attrs classes -- by reference, shared by every
    copy, which also saves rebuilding them on every fork; a simulation's trace, a list of such
    values only ever appended to, as one tuple rather than step by step. Named tuples
    (envelopes, ballots) are kept by reference too when what they hold is (see
    `_frozen_tuple`): their class alone does not say so."""
    if issubclass(cls, random.Random):
        return _generator_aside
    if issubclass(cls, Simulation):
        return _simulation_aside
    if issubclass(cls, types.FunctionType | functools.partial | type) or \
            (attrs.has(cls) and cls.__hash__ not in (None, object.__hash__)):
        return _reference_aside
    if issubclass(cls, tuple) and not cls.__dictoffset__:  # no attributes beside the items
        return _frozen_tuple  # (a tuple itself never gets here: the pickler does it in C)
    return None


_ATOMS = frozenset((int, str, float, bool, bytes, type(None)))


def _frozen_tuple(value: tuple) -> bool:
    """Whether a tuple holds only immutable values, all the way down: atoms, tuples of them
    and what `_aside` keeps by reference. An envelope holding a dict, say, is not, and is
    copied with every snapshot like any mutable value."""
    for item in value:
        cls = type(item)
        if cls in _ATOMS:
            continue
        kept = _aside(cls)
        if kept is _frozen_tuple:
            if not _frozen_tuple(item):
                return False
        elif kept is not _reference_aside or id(item) in _STAND_INS:
            return False
    return True


_BY_DEFAULT = operator.methodcaller("__reduce_ex__", pickle.HIGHEST_PROTOCOL)


class _Reducers(dict):
    """How a snapshot pickles the objects of each class, worked out on meeting the class: as
    pickle does by default, or kept aside (`_aside`): appended to `aside`, the pickle being
    made's list, and named in the pickle by index. As a pickler's `dispatch_table` it makes
    the pickler call into Python only for what is kept aside (`reducer_override` is called
    for every object, two thirds of them pickled by default). It also remembers which named
    tuples are frozen, by identity: an envelope stays in flight over many states, and is
    pickled with each. Each tuple is kept with its verdict, so that its id names no other
    object while the search runs; what it holds cannot change, and so neither can the
    verdict."""

    def __init__(self) -> None:
        super().__init__()
        self.aside: list = []
        self._frozen: dict[int, tuple[tuple, bool]] = {}

    def __missing__(self, cls: type) -> Callable:
        kept = _aside(cls)
        if kept is None:
            reducer = copyreg.dispatch_table.get(cls, _BY_DEFAULT)
        else:
            reducer = {_generator_aside: self._generator, _simulation_aside: self._simulation,
                       _reference_aside: self._reference, _frozen_tuple: self._tuple}[kept]
        self[cls] = reducer
        return reducer

    def _reference(self, obj: Any) -> tuple:
        self.aside.append(obj)
        return _reference_aside, (len(self.aside) - 1,)

    def _tuple(self, value: tuple) -> tuple:
        known = self._frozen.get(id(value))
        if known is None or known[0] is not value:
            known = self._frozen[id(value)] = (value, _frozen_tuple(value))
        return self._reference(value) if known[1] else _BY_DEFAULT(value)

    def _generator(self, generator: random.Random) -> tuple:
        self.aside.append((generator.getstate(), _generator_token(generator)))
        return _generator_aside, (len(self.aside) - 1,)

    def _simulation(self, sim: Simulation) -> tuple:
        self.aside.append((type(sim), tuple(sim.trace)))
        state = {name: value for name, value in vars(sim).items() if name != "trace"}
        return _simulation_aside, (len(self.aside) - 1,), state


class _Pickler(pickle.Pickler):
    """Pickles as `reducers` says, functions and classes too: a pickler with a dispatch table
    pickles them by name before looking in it, which fails for a lambda or a class made in a
    function."""

    def __init__(self, file: io.BytesIO, reducers: _Reducers) -> None:
        super().__init__(file, pickle.HIGHEST_PROTOCOL)
        self.reducers = reducers

    def reducer_override(self, obj: Any) -> Any:
        reducer = self.reducers[type(obj)]
        if reducer is _BY_DEFAULT or id(obj) in _STAND_INS:
            return NotImplemented
        return reducer(obj)


class _Unpickler(pickle.Unpickler):
    """Restores what `_Pickler` kept aside. Its stand-ins hold the aside values, not the
    unpickler: a copy must not be tied to it in a cycle that only the cyclic garbage collector
    would break (see `_discard`)."""

    def __init__(self, file: io.BytesIO, aside: tuple) -> None:
        super().__init__(file)
        self.aside = aside

    def find_class(self, module: str, name: str) -> Any:
        if module == __name__ and name == _generator_aside.__name__:
            return functools.partial(_restored_generator, self.aside)
        if module == __name__ and name == _reference_aside.__name__:
            return self.aside.__getitem__
        if module == __name__ and name == _simulation_aside.__name__:
            return functools.partial(_restored_simulation, self.aside)
        return super().find_class(module, name)


def _restored_generator(aside: tuple, index: int) -> _ForkedRandom:
    return _ForkedRandom(*aside[index])


def _restored_simulation(aside: tuple, index: int) -> Simulation:
    """A simulation with its trace; the pickle's state fills in the rest."""
    cls, trace = aside[index]
    sim = cls.__new__(cls)
    sim.trace = list(trace)
    return sim


class _Shared:
    """Immutable objects every copy of one search's simulation holds -- strings (node ids,
    field and timer names) and what `_aside` keeps by reference (code, classes, frozen
    values) -- numbered in every snapshot's memo before its pickle starts, so that the pickle
    names each by its number rather than writing it out (strings) or calling back into Python
    for it (the rest); the copies share them, as they share what is kept aside.

    The unpickler's memo gets the same numbers in two moves. Protocol 4's MEMOIZE numbers by
    count, and an unpickler counts only what it memoized itself (assigning its memo leaves
    the count as it was), so each unpickler first reads a prelude that memoizes `None` once
    per shared object -- a few opcodes each, all in C -- and then has its memo replaced by a
    copy (in C) of one that holds the objects: that of an unpickler made once, which read
    them as persistent ids. (Reading them so in every copy, through `persistent_load`, took
    a fifth of the copy's time.)"""

    def __init__(self, objects: tuple) -> None:
        self.reducers = _Reducers()
        self._numbered = pickle.Pickler(io.BytesIO(), pickle.HIGHEST_PROTOCOL)
        self._numbered.memo = {id(obj): (i, obj) for i, obj in enumerate(objects)}
        numbering = pickle.Unpickler(io.BytesIO(_prelude(
            pickle.BININT + struct.pack("<i", i) + pickle.BINPERSID for i in range(len(objects)))))
        numbering.persistent_load = objects.__getitem__
        numbering.load()
        self._memo = numbering.memo  # objects[i] at i
        self.prelude = _prelude(pickle.NONE for _ in objects)

    @classmethod
    def of(cls, sim: Simulation) -> _Shared:
        """The immutable objects of `sim` (the search's first state), in the order its
        pickle meets them."""
        pickler = _Pickler(io.BytesIO(), _Reducers())
        pickler.dump(sim)
        numbered = sorted(pickler.memo.copy().values(), key=lambda entry: entry[0])
        return cls(tuple(obj for _, obj in numbered if _immutable(obj)))

    def pickled(self, sim: Simulation) -> tuple[bytes, tuple]:
        """A pickle of `sim`, and what it kept aside."""
        try:
            return self._pickled(sim, by_name=True)
        except (pickle.PicklingError, AttributeError):  # a lambda, say, made since the start
            return self._pickled(sim, by_name=False)

    def _pickled(self, sim: Simulation, by_name: bool) -> tuple[bytes, tuple]:
        """`by_name`: functions and classes (those not numbered in advance) pickled by name,
        which is cheaper (see `_Reducers`) but fails for some."""
        buffer = io.BytesIO()
        if by_name:
            pickler = pickle.Pickler(buffer, pickle.HIGHEST_PROTOCOL)
            pickler.dispatch_table = self.reducers
        else:
            pickler = _Pickler(buffer, self.reducers)
        pickler.memo = self._numbered.memo  # copied (in C)
        self.reducers.aside = []
        pickler.dump(sim)
        return buffer.getvalue(), tuple(self.reducers.aside)

    def unpickler(self, data: bytes, aside: tuple) -> _Unpickler:
        unpickler = _Unpickler(io.BytesIO(self.prelude + data), aside)
        unpickler.load()  # the prelude: counts the shared objects
        unpickler.memo = self._memo  # and so numbers them
        return unpickler


def _prelude(pushes: Iterable[bytes]) -> bytes:
    """A pickle that memoizes what each of `pushes` puts on the stack, in order."""
    body = b"".join(push + pickle.MEMOIZE + pickle.POP for push in pushes)
    body += pickle.NONE + pickle.STOP
    return pickle.PROTO + bytes([pickle.HIGHEST_PROTOCOL]) + pickle.FRAME \
        + struct.pack("<Q", len(body)) + body


def _immutable(obj: Any) -> bool:
    """Whether `obj` may be shared by every copy: strings, and what is kept by reference
    (the stand-ins excepted: an unpickler replaces them)."""
    if type(obj) in (str, bytes):
        return True
    kept = _aside(type(obj))
    if kept is _frozen_tuple:
        return _frozen_tuple(obj)
    return kept is _reference_aside and id(obj) not in _STAND_INS


@attrs.frozen
class _Snapshot:
    """A frozen copy of a simulation: `fork()` makes as many live ones as needed. The copies
    keep their trace (a few steps at the depths searched): state invariants may read what
    happened (the messages delivered so far), and must read the same in a search as in a
    run."""

    data: bytes
    aside: tuple
    shared: _Shared

    @classmethod
    def of(cls, sim: Simulation, shared: _Shared | None = None) -> _Snapshot:
        """`shared`: the objects numbered in advance (the search's, made from its first
        state); None: those of `sim` itself."""
        shared = shared if shared is not None else _Shared.of(sim)
        return cls(*shared.pickled(sim), shared)

    def fork(self) -> Simulation:
        return self.shared.unpickler(self.data, self.aside).load()


def _discard(sim: Simulation) -> None:
    """Done with a copy: emptying it breaks the cycles through it (every node's context
    points back to it), so that reference counting frees it at once. Left to the cyclic
    collector, the copies made at every step keep it busy: a fifth of the search's time."""
    vars(sim).clear()


# --- canonical text of a state ----------------------------------------------------------------


def canonical(value: Any) -> str:
    """Text naming `value` whatever order its dicts and sets were filled in, the same in every
    process: containers sorted, objects by their fields, atoms by repr."""
    encode = _ENCODERS.get(type(value))
    return encode(value) if encode is not None else _encode_other(value)


def _encode_items(items: Iterable[tuple[Any, Any]]) -> str:
    return "{" + ",".join(sorted(canonical(k) + ":" + canonical(v) for k, v in items)) + "}"


def _encode_sequence(open_: str, values: Iterable, close: str) -> str:
    return open_ + ",".join(map(canonical, values)) + close


def _encode_set(values: Iterable) -> str:
    return "{{" + ",".join(sorted(map(canonical, values))) + "}}"


_ENCODERS: dict[type, Callable[[Any], str]] = {
    **dict.fromkeys((int, str, float, bool, bytes, type(None)), repr),
    tuple: lambda v: _encode_sequence("(", v, ")"),
    list: lambda v: _encode_sequence("[", v, "]"),
    dict: lambda v: _encode_items(v.items()),
    set: _encode_set,
    frozenset: _encode_set,
}


def _encode_other(value: Any) -> str:
    cls = type(value)
    fields = getattr(cls, "__attrs_attrs__", None)
    if fields is not None:
        return cls.__qualname__ + _encode_sequence(
            "(", (getattr(value, f.name) for f in fields), ")")
    if isinstance(value, enum.Enum | int | str | float):
        return repr(value)
    if isinstance(value, tuple | list):
        return cls.__qualname__ + _encode_sequence("(", value, ")")
    if isinstance(value, dict):
        return cls.__qualname__ + _encode_items(value.items())
    if isinstance(value, set | frozenset):
        return cls.__qualname__ + _encode_set(value)
    if isinstance(value, type | types.FunctionType | functools.partial):
        return getattr(value, "__qualname__", repr(value))
    if hasattr(value, "__dict__"):
        return cls.__qualname__ + _encode_items(vars(value).items())
    slots = [s for c in cls.__mro__ for s in getattr(c, "__slots__", ())]
    return cls.__qualname__ + _encode_items((s, getattr(value, s, None)) for s in slots)


@attrs.frozen
class _Canon:
    """The canonical texts of one state's parts, carried from a state to its successors:
    an event acts on one node, so only that node's text (and new messages) are made anew."""

    nodes: dict[str, str]  # node -> its state, storage, generator and clock
    messages: dict[tuple[str, str, int], str]  # in flight: (src, dst, seq) -> message text
    history: tuple[tuple[int, str], ...]  # (time, event text)
    ghost: tuple[tuple[int, str], ...]

    @classmethod
    def of(cls, sim: Simulation, texts: _NodeTexts) -> _Canon:
        return cls({n: texts.of(sim, n) for n in sim.nodes},
                   {key: canonical(e.msg) for key, e in sim.network.in_flight.items()},
                   _history_texts(sim, 0), _ghost_texts(sim, 0))

    def after(self, sim: Simulation, actors: Iterable[str], texts: _NodeTexts) -> _Canon:
        """The texts of `sim`, which is this state after events on `actors` only."""
        nodes = self.nodes
        if actors:  # each once: the timers implied before an event may fire on one node often
            nodes = {**nodes, **{a: texts.of(sim, a) for a in dict.fromkeys(actors)}}
        known = self.messages
        messages = {key: known.get(key) or canonical(e.msg)
                    for key, e in sim.network.in_flight.items()}
        return _Canon(nodes, messages, self.history + _history_texts(sim, len(self.history)),
                      self.ghost + _ghost_texts(sim, len(self.ghost)))


class _NodeTexts:
    """Each node's canonical text: its state, storage, generator and clock.

    A node's state and storage are encoded once per distinct value, found again by their
    pickle: the same local states recur in many global states, and pickling (in C) costs a
    fraction of encoding canonically. Equal pickles are equal values, so a hit gives the text
    the encoding would; a value that pickles differently but encodes the same (a dict filled
    in another order) only misses. The memo lives as long as one search: it is a cache,
    never part of a fingerprint."""

    def __init__(self, sim: Simulation) -> None:
        self.fresh = {n: _generator_token(ctx.random) for n, ctx in sim.contexts.items()}
        self.known: dict[bytes, str] = {}

    def of(self, sim: Simulation, node_id: str) -> str:
        ctx, node = sim.contexts[node_id], sim.nodes[node_id]
        state = None if node is None else getattr(node, "canonical_state", node.state)()
        return f"{self._encoded(state, ctx.storage.contents())}|" \
               f"{self._generator_text(ctx.random, node_id)}|{ctx.offset}|{ctx.rate}"

    def _encoded(self, state: Any, storage: dict) -> str:
        try:
            key = pickle.dumps((state, storage), pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError):  # code in the state
            return _state_storage_text(state, storage)
        text = self.known.get(key)
        if text is None:
            text = self.known[key] = _state_storage_text(state, storage)
        return text

    def _generator_text(self, generator: random.Random, node_id: str) -> str:
        """"-" for a generator nothing was drawn from yet, so that unused generators (seeded
        differently on every node) do not tell interchangeable nodes apart."""
        token = _generator_token(generator)
        return "-" if token == self.fresh[node_id] else token


def _state_storage_text(state: Any, storage: dict) -> str:
    return f"{'down' if state is None else canonical(state)}|{canonical(storage)}"


def _generator_token(generator: random.Random) -> str:
    """Names a generator's state: a hash of its words (ints hash the same in every process;
    `None`, which a state may hold, does not before Python 3.12, so it is kept out). A
    forked generator keeps its token until it draws again (see _ForkedRandom), so that the
    words are hashed once per draw rather than once per pickling and per text."""
    token = getattr(generator, "token", None)
    if token is None:
        _, words, gauss_next = generator.getstate()
        token = f"{hash(words) & 0xFFFF_FFFF_FFFF_FFFF:x}/{gauss_next!r}"
        if isinstance(generator, _ForkedRandom):
            generator.token = token
    return token


def _history_texts(sim: Simulation, start: int) -> tuple[tuple[int, str], ...]:
    return tuple((e.time, canonical((e.process, e.type, e.f, e.value)))
                 for e in sim.history[start:])


def _ghost_texts(sim: Simulation, start: int) -> tuple[tuple[int, str], ...]:
    return tuple((t, canonical((kind, node, data))) for kind, t, node, data in sim.ghost[start:])


class _Namer:
    """Fingerprints states, up to the renamings of interchangeable nodes."""

    def __init__(self, groups: list[list[str]], time_invariant: bool) -> None:
        self.time_invariant = time_invariant
        self.renames: list[Rename] = [None]
        ids = [node for group in groups for node in group]
        if ids:
            pattern = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, ids)) + r")(?!\w)")
            self.renames = [_renaming(pattern, dict(zip(ids, perm)))
                            for perm in _group_permutations(groups)]

    def fingerprint(self, canon: _Canon, sim: Simulation) -> tuple[bytes, tuple[Rename, ...]]:
        """The state's fingerprint and the renamings that give its smallest text."""
        texts = [(_state_text(canon, sim, rename, self.time_invariant), rename)
                 for rename in self.renames]
        smallest = min(text for text, _ in texts)
        # SHA-1 for speed (CPUs hash it in hardware, twice as fast as BLAKE2 here), not
        # for security: a fingerprint names a state within one search
        digest = hashlib.sha1(smallest.encode(), usedforsecurity=False).digest()[:16]
        return digest, tuple(rename for text, rename in texts if text == smallest)


def _group_permutations(groups: list[list[str]]) -> Iterable[tuple[str, ...]]:
    for parts in itertools.product(*(itertools.permutations(g) for g in groups)):
        yield tuple(node for part in parts for node in part)


def _renaming(pattern: re.Pattern, mapping: dict[str, str]) -> Rename:
    if all(k == v for k, v in mapping.items()):
        return None
    return functools.partial(pattern.sub, lambda match: mapping[match.group(0)])


def _state_text(canon: _Canon, sim: Simulation, rename: Rename, time_invariant: bool) -> str:
    now = sim.time
    base = now if time_invariant else 0
    unordered = (
        [f"{n}={text}" for n, text in canon.nodes.items()],
        _fifo_message_texts(canon) if sim.fifo else
        [f"{s}>{d}:{text}" for (s, d, _), text in canon.messages.items()],
        [f"{n}.{name}@{due - now}" for (n, name), due in sim.timers.due.items()],
        [f"{n}@{until - now}" for n, until in sim.paused_until.items() if until > now],
        [f"{t - base}:{text}" for t, text in canon.ghost],
    )
    history = [f"{t - base}:{text}" for t, text in canon.history]
    if rename is not None:
        unordered = tuple([rename(entry) for entry in part] for part in unordered)
        history = [rename(entry) for entry in history]
    cut = _cut_text(sim.network.island(), list(sim.nodes), rename)
    budget = ",".join(f"{kind}:{left}" for kind, left in sim.budget.items())
    clock = "" if time_invariant else str(now)
    return "\n".join(["\x1f".join(sorted(part)) for part in unordered]
                     + ["\x1f".join(history), cut, budget, clock])


def _fifo_message_texts(canon: _Canon) -> list[str]:
    """Messages in flight on FIFO channels: each with its place in its channel's queue, which
    decides when it may be delivered (sequence numbers themselves left out)."""
    places: dict[tuple[str, str], int] = {}
    texts = []
    for (src, dst, _), text in sorted(canon.messages.items(), key=lambda item: item[0][2]):
        place = places.get((src, dst), 0)
        places[(src, dst)] = place + 1
        texts.append(f"{src}>{dst}#{place}:{text}")
    return texts


def _cut_text(island: list[str], nodes: list[str], rename: Rename) -> str:
    """A partition as its two sides, in a canonical order: cutting off a set of nodes is
    cutting off the others."""
    if not island:
        return ""
    named = rename or (lambda node: node)
    sides = (sorted(map(named, island)), sorted(named(n) for n in nodes if n not in island))
    return "|".join(sorted(",".join(side) for side in sides))


def _rename_key(key: Key, rename: Rename) -> Key:
    if rename is None:
        return key
    if key[0] == "partition":
        sides = [side.split(",") for side in key[1].split("|")]
        return ("partition", _cut_text(sides[0], sides[0] + sides[1], rename))
    if key[0] == "reset":  # a connection: its two ends in order, as the simulation names it
        return ("reset", *sorted((rename(key[1]), rename(key[2]))))
    return tuple(rename(x) if isinstance(x, str) else x for x in key)


def _to_canonical(keys: Iterable[Key], renames: tuple[Rename, ...]) -> frozenset:
    """A set of a state's events in the names of its canonical form. A state with several
    smallest renamings (a symmetric one) keeps only what all agree on: a smaller sleep set
    only makes the search explore more."""
    keys = list(keys)
    named = [frozenset(_rename_key(k, r) for k in keys) for r in renames]
    return frozenset.intersection(*named)


def _in_canonical(key: Key, keys: frozenset, renames: tuple[Rename, ...], every: bool) -> bool:
    hits = (_rename_key(key, r) in keys for r in renames)
    return all(hits) if every else any(hits)


# --- results ------------------------------------------------------------------------------------


@attrs.frozen
class Progress:
    states: int
    transitions: int
    depth: int
    frontier: int
    elapsed: float

    @property
    def states_per_second(self) -> float:
        return self.states / self.elapsed if self.elapsed > 0 else 0.0

    def describe(self) -> str:
        return (f"{self.states} states ({self.states_per_second:,.0f}/s), "
                f"{self.transitions} transitions, depth {self.depth}, frontier {self.frontier}")


@attrs.frozen
class ExploreResult:
    """`complete` is True only when every reachable state was explored and checked: a bound,
    `max_states` or `seconds` cut the search short otherwise (`stopped_by` says which), and the
    verdict is then `unknown` unless a violation was found. `choices` replays the violation
    with `Replay` and the same seed."""

    verdict: Verdict
    states: int
    transitions: int
    complete: bool
    choices: list[tuple]
    depth: int  # the deepest level reached
    frontier: int  # states waiting to be expanded when the search stopped
    elapsed: float
    ended: int  # states run to their end (quiescence, history invariants)
    slept: int  # transitions the sleep sets saved
    stopped_by: str | None = None  # "depth", "max_states" or "seconds"

    @property
    def violated(self) -> bool:
        return self.verdict.violated

    def describe(self) -> str:
        extent = "complete" if self.complete else \
            "stopped at the first violation" if self.violated else \
            f"incomplete ({self.stopped_by})"
        return (f"{self.verdict.status} {self.verdict.invariant}: {self.states} states, "
                f"{self.transitions} transitions ({self.slept} left asleep), {self.ended} run "
                f"to their end, depth {self.depth}, frontier {self.frontier}, {extent}, "
                f"{self.elapsed:.2f}s")


# --- the search ---------------------------------------------------------------------------------


@attrs.define
class _Seen:
    parent: bytes | None
    event: tuple | None  # the concrete event from the parent's kept state
    depth: int  # the shortest depth known
    sleep: frozenset  # canonical keys asleep on every path explored so far
    ends: bool  # the workload is done, or nothing can happen
    expanded: bool = False


@attrs.frozen
class _Item:
    """A state waiting to be expanded: all its events awake (`todo` None), or only those of
    `todo`, for a path that reached it with fewer events asleep (`sleep`). Its events are
    listed when it is expanded: a search cut short by a bound leaves much of its frontier
    unexpanded. For the same reason, and for memory, a state reached breadth-first is not
    copied (see `_Search._copied_when_reached`): its item holds the snapshot of the state it
    was reached from, and the `event` that led to it, which the search runs again when it
    gets there."""

    fp: bytes
    snapshot: _Snapshot  # of this state, or of the one `event` leads from
    canon: _Canon
    renames: tuple[Rename, ...]
    todo: frozenset | None = None
    sleep: frozenset = frozenset()
    event: tuple | None = None


ENDS = ("every", "leaves", "done")  # which states `explore` runs to their end


class _Stop(Exception):
    """The search is over: a violation, or a limit."""


def explore(system: System, variant: str, config: Config, seed: int = 0, *,
            order: str = "bfs", max_depth: int | None = 12, faults: dict[str, int] | None = None,
            max_states: int | None = 200_000, seconds: float | None = None,
            sleep_sets: bool = True, symmetry: bool = True, ends: str = "every",
            islands: list[tuple[str, ...]] | None = None,
            progress: Callable[[Progress], None] | None = None,
            progress_every: float = 1.0,
            on_transition: Callable[[bytes | None, bytes], None] | None = None) -> ExploreResult:
    """Explore every state of (system, variant, config, seed) reachable within `max_depth`
    events (None: no bound) and `faults` (most of each kind, never more than the config's
    budget; None: the config's budget), checking every invariant; stop at the first violation.

    `ends` says which states are also run to their end (quiescence, then the history
    invariants): "every" one, so that breadth-first order finds a shortest counterexample to
    those too; only the "leaves", where the workload is done or nothing can happen and at the
    depth bound; or only those "done" (not those at the bound, whose state invariants are still
    checked: what reaches deepest when the endings would take most of the time).
    `progress` is called every `progress_every` seconds, and once at the end;
    `on_transition(parent, child)` with the fingerprints of every transition taken (parent None
    for the start), for measuring the state graph."""
    if order not in ("bfs", "dfs"):
        raise ValueError(f"order must be 'bfs' or 'dfs', not {order!r}")
    if ends not in ENDS:
        raise ValueError(f"ends must be one of {', '.join(map(repr, ENDS))}, not {ends!r}")
    search = _Search(system, variant, config, seed, depth_first=order == "dfs",
                     max_depth=max_depth, max_states=max_states, seconds=seconds,
                     sleep_sets=sleep_sets, ends=ends,
                     islands=islands, progress=progress,
                     progress_every=progress_every, on_transition=on_transition,
                     namer=_Namer(config.params.get("symmetric", []) if symmetry else [],
                                  bool(config.params.get("time_invariant", False))))
    with watchdog.guard(), _older_objects_frozen(), _fewer_young_collections():
        return search.run(faults)


@contextlib.contextmanager
def _older_objects_frozen() -> Iterator[None]:
    """Keep the objects made before the search (modules, the caller's) out of the cyclic
    collector's full passes while it runs: what the search keeps grows by a few objects per
    state, and each full pass would scan the whole older heap again. Nothing is left frozen
    that was not; if the caller froze objects itself, this leaves them alone."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def _fewer_young_collections() -> Iterator[None]:
    """Collect the youngest generation every 100,000 net allocations rather than 700 while
    the search runs, and so the older ones less often too: its copies are freed by reference
    counting (see `_discard`), so that the passes find next to nothing to collect (77 objects
    in a search of 5,000 SSO states), while the older ones scan more of what the search keeps
    as it grows. They took a twentieth of the search's time."""
    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


@attrs.define
class _Search:
    system: System
    variant: str
    config: Config
    seed: int
    depth_first: bool
    max_depth: int | None
    max_states: int | None
    seconds: float | None
    sleep_sets: bool
    ends: str  # one of ENDS
    islands: list[tuple[str, ...]] | None
    progress: Callable[[Progress], None] | None
    progress_every: float
    on_transition: Callable[[bytes | None, bytes], None] | None
    namer: _Namer
    checks: list = attrs.field(init=False)  # the state invariants
    texts: _NodeTexts = attrs.field(init=False)
    root: _Snapshot = attrs.field(init=False)  # the state after start
    partitions: list[tuple[Key, tuple]] = attrs.field(init=False)  # the islands, by key
    seen: dict[bytes, _Seen] = attrs.Factory(dict)
    kept: dict = attrs.Factory(dict)  # see `_kept`
    frontier: deque[_Item] = attrs.Factory(deque)
    transitions: int = 0
    ended: int = 0  # states run to their end
    undecided: int = 0  # ... whose history invariants could not be decided
    slept: int = 0
    deepest: int = 0
    cut_by_depth: bool = False
    stopped_by: str | None = None
    found: tuple[Verdict, list[tuple]] | None = None
    started: float = attrs.Factory(time.perf_counter)
    reported: float = attrs.Factory(time.perf_counter)

    def run(self, faults: dict[str, int] | None) -> ExploreResult:
        try:
            self._start(faults)
            while self.frontier:
                item = self.frontier.pop() if self.depth_first else self.frontier.popleft()
                self._expand(item)
                self._tick()
        except _Stop:
            pass
        return self._result()

    def _start(self, faults: dict[str, int] | None) -> None:
        sim = new_simulation(self.system, self.variant, self.config, self.seed)
        if faults is not None:
            sim.budget = {kind: min(most, faults.get(kind, 0))
                          for kind, most in sim.budget.items()}
        self.checks = [inv for inv in self.system.invariants if inv.kind == "state"]
        self.texts = _NodeTexts(sim)
        self._raise_if(_started(sim) or _state_violation(self.checks, sim), [])
        self.root = _Snapshot.of(sim)
        canon = _Canon.of(sim, self.texts)
        cuts = [("partition", island) for island in self.islands or _islands(sim)]
        self.partitions = [(_key(canon, sim, cut), cut) for cut in cuts]
        self._admit(sim, canon, None, None, 0, [])

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.seconds is not None and now - self.started >= self.seconds:
            self.stopped_by = "seconds"
            raise _Stop
        if self.progress is not None and now - self.reported >= self.progress_every:
            self.reported = now
            self.progress(self._progress())

    def _progress(self) -> Progress:
        return Progress(len(self.seen), self.transitions, self.deepest, len(self.frontier),
                        time.perf_counter() - self.started)

    # --- one state and its successors ------------------------------------------------------

    def _expand(self, item: _Item) -> None:
        seen = self.seen[item.fp]
        seen.expanded = True
        parent, snapshot = self._live(item)
        choices = self._choices(parent, item.canon)
        if item.todo is None:  # all that is awake on every path so far
            asleep = self._asleep(item, choices, seen.sleep)
            chosen = [(k, e) for k, e in choices if k not in asleep]
            self.slept += len(choices) - len(chosen)
        else:  # what a new path has awake that the earlier ones had asleep
            asleep = self._asleep(item, choices, item.sleep)
            chosen = [(k, e) for k, e in choices
                      if _in_canonical(k, item.todo, item.renames, every=False)]
        if not chosen:
            _discard(parent)
            return
        done: list[Key] = []
        footprint = functools.cache(functools.partial(_footprint, parent))  # of this state
        for i, (key, event) in enumerate(chosen):
            sleep = _asleep_after(footprint, key, [*asleep, *done]) if self.sleep_sets else []
            if i < len(chosen) - 1 and snapshot is None:  # copies for its siblings, first
                snapshot = _Snapshot.of(parent, self.root.shared)
            child = parent if i == len(chosen) - 1 else snapshot.fork()
            reached = self._step(item, seen.depth, child, event, sleep, snapshot)
            _discard(child)
            if reached is not None and not reached.ends:
                # a run ends where the workload is done: an event that ends it disables all
                # others, so it commutes with none and must not sleep in its siblings
                done.append(key)

    def _live(self, item: _Item) -> tuple[Simulation, _Snapshot | None]:
        """A live copy of the item's state, and its snapshot if it has one."""
        sim = item.snapshot.fork()
        if item.event is None:
            return sim, item.snapshot
        _advance(sim, item.event, self.checks)  # as when it was reached: the same state
        return sim, None

    def _asleep(self, item: _Item, choices: list[tuple[Key, tuple]],
                sleep: frozenset) -> set[Key]:
        """The state's events (in its own names) that `sleep` (canonical names) holds."""
        if not sleep:
            return set()
        return {k for k, _ in choices if _in_canonical(k, sleep, item.renames, every=True)}

    def _step(self, item: _Item, depth: int, sim: Simulation, event: tuple,
              sleep: list[Key], origin: _Snapshot | None) -> _Seen | None:
        """The state `event` leads to (None: it waited for a timer that time passing
        cancelled). `origin`: a snapshot of the item's state, if one was made."""
        self.transitions += 1
        outcome = _advance(sim, event, self.checks)
        if outcome is None:
            return None
        self._raise_if(outcome if isinstance(outcome, Verdict) else None,
                       lambda: [*self._path(item.fp), event])
        canon = item.canon.after(sim, outcome, self.texts)
        return self._admit(sim, canon, item.fp, event, depth + 1, sleep, origin)

    def _admit(self, sim: Simulation, canon: _Canon, parent: bytes | None,
               event: tuple | None, depth: int, sleep: list[Key],
               origin: _Snapshot | None = None) -> _Seen:
        """A state reached by a path of `depth` events along which `sleep` is asleep, by
        `event` from the state `origin` (a snapshot, if there is one) holds."""
        fp, renames = self.namer.fingerprint(canon, sim)
        if self.on_transition is not None:
            self.on_transition(parent, fp)
        asleep = self._kept(_to_canonical(sleep, renames))
        self.deepest = max(self.deepest, depth)
        seen = self.seen.get(fp)
        if seen is None:
            seen = _Seen(parent, self._kept(event), depth, asleep, False)
            self._first_visit(sim, canon, fp, renames, seen,
                              None if origin is None else (origin, event))
        elif depth < seen.depth:
            self._shorter_path(seen, fp, depth, asleep)
        elif seen.expanded and not seen.sleep <= asleep:
            self._fewer_asleep(seen, fp, asleep)
        else:  # an expansion still to come sees what all paths agree on
            self._narrow_sleep(seen, asleep)
        return seen

    def _narrow_sleep(self, seen: _Seen, asleep: frozenset) -> None:
        """Keep asleep in the state only what is asleep on this path too."""
        seen.sleep = self._kept(seen.sleep & asleep)

    def _kept(self, value: Any) -> Any:
        """One object for all equal events and sleep sets that states keep: millions of states
        hold a few thousand distinct ones (SSO small to depth 6: 64,400 states, 84 events,
        5,977 sleep sets, each set some 330 bytes)."""
        return self.kept.setdefault(value, value)

    def _first_visit(self, sim: Simulation, canon: _Canon, fp: bytes,
                     renames: tuple[Rename, ...], seen: _Seen,
                     origin: tuple[_Snapshot, tuple] | None) -> None:
        self.seen[fp] = seen
        seen.ends = _workload_done(sim) or not any(sim.enabled(kind) for kind in KINDS)
        if self._expandable(seen):
            if origin is not None and not self._copied_when_reached():
                item = _Item(fp, origin[0], canon, renames, event=origin[1])
            else:
                item = _Item(fp, _Snapshot.of(sim, self.root.shared), canon, renames)
            self.frontier.append(item)
        else:
            self.cut_by_depth |= not seen.ends
        if self._runs_to_end(seen):
            self._run_to_end(sim, fp)  # the live copy: the frontier keeps a snapshot
        if self.max_states is not None and len(self.seen) >= self.max_states:
            self.stopped_by = "max_states"
            raise _Stop

    def _copied_when_reached(self) -> bool:
        """Whether a state reached from a kept snapshot is copied at once. Depth-first, it is
        next. Breadth-first, a level waits whole in the frontier: copies of SSO's states came
        to 11 kB each at depth 6 and 27 kB at depth 7 (a copy keeps its messages and trace),
        some 13 GB for depth 7's 490,000 states, while an item holding the snapshot its
        siblings share and the event costs the event's run once more when it is expanded (4%
        of a search to depth 7), and nothing at all for the states a bound leaves unexpanded,
        most of a level that a search stops in (copying those took over a fifth of its
        time)."""
        return self.depth_first

    def _runs_to_end(self, seen: _Seen) -> bool:
        if self.ends == "leaves":
            return not self._expandable(seen)
        return self.ends == "every" or seen.ends

    def _expandable(self, seen: _Seen) -> bool:
        return not seen.ends and (self.max_depth is None or seen.depth < self.max_depth)

    def _shorter_path(self, seen: _Seen, fp: bytes, depth: int, asleep: frozenset) -> None:
        """Depth-first search met a state again closer to the start: it may now go deeper.
        The state kept, and its path, stay the first ones, so that paths stay replayable."""
        waiting = self._expandable(seen) and not seen.expanded  # its expansion will see this
        seen.depth = depth
        self._narrow_sleep(seen, asleep)
        if self._expandable(seen) and not waiting:
            self.frontier.append(self._rebuilt(fp, None, frozenset()))

    def _fewer_asleep(self, seen: _Seen, fp: bytes, asleep: frozenset) -> None:
        """Another path reached an expanded state with fewer events asleep: explore those now
        awake (Godefroid's sleep sets with state matching)."""
        awake = seen.sleep - asleep
        self._narrow_sleep(seen, asleep)
        self.frontier.append(self._rebuilt(fp, awake, asleep))

    def _rebuilt(self, fp: bytes, todo: frozenset | None, sleep: frozenset) -> _Item:
        sim, canon = self._replay(self._path(fp))
        _, renames = self.namer.fingerprint(canon, sim)
        item = _Item(fp, _Snapshot.of(sim, self.root.shared), canon, renames, todo, sleep)
        _discard(sim)
        return item

    # --- events ----------------------------------------------------------------------------

    def _choices(self, sim: Simulation, canon: _Canon) -> list[tuple[Key, tuple]]:
        """(key, event) for every event that may happen now, one per key, in key order."""
        found: dict[Key, tuple] = {}
        for kind in KINDS:
            events = _pending_timers(sim) if kind == "fire" else sim.enabled(kind)
            if kind == "partition":
                found.update(self.partitions if events else ())
                continue
            for event in events:
                for concrete in self._instances(sim, event):
                    found.setdefault(_key(canon, sim, concrete), concrete)
        return sorted(found.items(), key=lambda pair: (_KIND_ORDER[pair[0][0]], pair[0]))

    def _instances(self, sim: Simulation, event: tuple) -> list[tuple]:
        """The parameter values explored for a fault that takes one."""
        kind = event[0]
        if kind == "pause":
            return [("pause", event[1], max(1, self.config.max_pause))]
        if kind == "skew":
            offset = sim.contexts[event[1]].offset
            return [("skew", event[1], e) for e in (-sim.epsilon, sim.epsilon) if e != offset]
        if kind == "drift":
            rate = sim.contexts[event[1]].rate
            return [("drift", event[1], r) for r in (-sim.max_drift, sim.max_drift) if r != rate]
        return [event]

    # --- ends and violations ---------------------------------------------------------------

    def _run_to_end(self, sim: Simulation, fp: bytes) -> None:
        """End a run in this state, as a replay of its path would end."""
        self.ended += 1
        verdict = _ending(self.system, self.config, self.checks, sim)
        self.undecided += verdict.status == UNKNOWN
        self._raise_if(verdict if verdict.violated else None, lambda: self._path(fp))

    def _raise_if(self, verdict: Verdict | None,
                  path: Callable[[], list[tuple]] | list[tuple]) -> None:
        if verdict is not None:
            self.found = (verdict, path() if callable(path) else path)
            raise _Stop

    def _path(self, fp: bytes) -> list[tuple]:
        events = []
        seen = self.seen[fp]
        while seen.parent is not None:
            events.append(seen.event)
            seen = self.seen[seen.parent]
        return events[::-1]

    def _replay(self, events: list[tuple]) -> tuple[Simulation, _Canon]:
        """The kept state at the end of a recorded path, rebuilt from the start."""
        sim = self.root.fork()
        canon = _Canon.of(sim, self.texts)
        for event in events:
            canon = canon.after(sim, _advance(sim, event, []), self.texts)
        return sim, canon

    def _result(self) -> ExploreResult:
        states = len(self.seen)
        stopped_by = self.stopped_by or ("depth" if self.cut_by_depth else None)
        complete = stopped_by is None and self.found is None
        choices: list[tuple] = []
        if self.found is not None:
            verdict, choices = self.found
        elif self.undecided:
            verdict = unknown("exploration", f"{self.undecided} of the {self.ended} states run "
                              "to their end could not be decided")
        elif not complete:
            verdict = unknown("exploration", f"no violation in {states} states, but the search "
                              f"was cut short by {stopped_by}")
        else:
            verdict = passed("all", f"all {states} reachable states hold")
        if self.progress is not None:
            self.progress(self._progress())
        return ExploreResult(verdict, states, self.transitions, complete, choices, self.deepest,
                             len(self.frontier), time.perf_counter() - self.started, self.ended,
                             self.slept, stopped_by)


def _key(canon: _Canon, sim: Simulation, event: tuple) -> Key:
    kind = event[0]
    if kind in MESSAGE_KINDS:
        return (kind, event[1], event[2], canon.messages[event[1:]])
    if kind == "partition":
        return ("partition", _cut_text(list(event[1]), list(sim.nodes), None))
    return event


def _pending_timers(sim: Simulation) -> list[tuple]:
    """Every timer of a live node: one due now fires; a later one lets time pass to it."""
    return [("fire", node, name) for node, name in sim.timers.due if sim.up(node)]


def _touched(event: tuple) -> tuple[str, ...]:
    """The nodes whose own state an event may change."""
    kind = event[0]
    if kind == "deliver":
        return (event[2],)
    if kind == "reset":
        return tuple(dict.fromkeys(event[1:3]))
    return (event[1],) if kind in ("fire", "invoke", "crash", "restart", "pause", "skew",
                                   "drift") else ()


_HISTORY = ("history",)
_PARTITION = ("partition",)  # whether a partition is in place: one at a time
Footprint = tuple[set[tuple], set[tuple]]  # what an event writes, and what it only reads


def _footprint(sim: Simulation, key: Key) -> Footprint | None:
    """What an event writes and reads of the state (see `_commute`); None: everything -- a
    timer that advances time.

    A node's handler touches only that node (its object, storage, generator, timers, clock
    offset), the messages it takes and sends (a multiset: sends commute), the ghost record (a
    multiset in the fingerprint) and, for a client, the history (a list: two clients' entries
    do not commute). A delivery also reads whether its link is cut, which a partition or a
    heal writes; a budgeted fault uses up its budget.

    On FIFO channels an event on a message writes its whole channel: taking a message makes
    the next one deliverable. Sends need no entry: a handler appends at its channels' tails,
    which commutes with taking a head, and a channel is non-empty wherever an event on it is
    enabled. A reset empties two channels, so it writes both and both nodes (the only ones
    whose handlers send on them, and whose `on_reset` it calls)."""
    kind, node = key[0], key[1] if len(key) > 1 else ""
    if kind == "reset":
        channels = {("channel", key[1], key[2]), ("channel", key[2], key[1])}
        return {*channels, ("budget", kind), *_on_node(sim, key[1]),
                *_on_node(sim, key[2])}, set()
    if kind in MESSAGE_KINDS:
        message = ("channel", *key[1:3]) if sim.fifo else ("message", *key[1:])
        if kind != "deliver":
            return {message, ("budget", kind)}, set()
        return {message, *_on_node(sim, key[2])}, {_link(key[1], key[2])}
    if kind == "invoke":
        return {("node", node), _HISTORY}, set()
    if kind == "fire":
        due = sim.timers.due[(node, key[2])]
        return (_on_node(sim, node), set()) if due <= sim.time else None
    if kind in ("crash", "pause", "skew", "drift"):
        return {("node", node), ("budget", kind)}, set()
    if kind == "restart":
        return {("node", node)}, set()
    if kind == "partition":
        island, rest = (side.split(",") for side in key[1].split("|"))
        return {_PARTITION, ("budget", kind), *(_link(a, b) for a in island for b in rest)}, set()
    island = sim.network.island()  # heal
    cut = (_link(a, b) for a in island for b in sim.nodes if b not in island)
    return {_PARTITION, *cut}, set()


def _asleep_after(footprint: Callable[[Key], Footprint | None], key: Key,
                  asleep: list[Key]) -> list[Key]:
    """What stays asleep after `key`: the events that commute with it."""
    its = footprint(key)
    if its is None:
        return []
    return [k for k in asleep if _commute(its, footprint(k))]


def _commute(a: Footprint | None, b: Footprint | None) -> bool:
    if a is None or b is None:
        return False
    (writes_a, reads_a), (writes_b, reads_b) = a, b
    return writes_a.isdisjoint(writes_b) and writes_a.isdisjoint(reads_b) \
        and writes_b.isdisjoint(reads_a)


def _link(a: str, b: str) -> tuple:
    return ("link", *sorted((a, b)))


def _on_node(sim: Simulation, node: str) -> set[tuple]:
    return {("node", node), _HISTORY} if node in sim.clients else {("node", node)}


def _islands(sim: Simulation) -> list[tuple[str, ...]]:
    """Every way to cut the nodes in two, each named by its smaller side."""
    nodes = [*sim.servers, *sim.clients]
    return [tuple(sorted(island)) for size in range(1, len(nodes) // 2 + 1)
            for island in itertools.combinations(nodes, size)
            if 2 * size < len(nodes) or nodes[0] in island]


def _workload_done(sim: Simulation) -> bool:
    return sim.clients_idle() and not sim.enabled("invoke")


def _started(sim: Simulation) -> Verdict | None:
    """Start the simulation; a handler that raises is a violation, as in
    `checker.run.execute`."""
    try:
        sim.start()
    except NodeFailure as failure:
        return node_failure(failure)
    return None


def _advance(sim: Simulation, event: tuple, checks: list) -> list[str] | Verdict | None:
    """Run one chosen event as `Replay` runs it: a timer not yet due lets time pass first,
    the timers due before it firing as implied steps. Returns the nodes whose state changed,
    or the first violation (a handler raised, or a state invariant broke, possibly in an
    implied step), or None when the awaited timer was cancelled as time passed: that choice
    leads nowhere (replay would skip it)."""
    touched: list[str] = []
    try:
        for _ in range(Replay.MAX_IMPLIED):
            first = sim.timer_before(event)
            if first is None:
                break
            sim.mark_implied()
            sim.execute(first)
            touched.append(first[1])
            broken = _state_violation(checks, sim)
            if broken is not None:
                return broken
        if touched and not sim.is_enabled(event):
            return None
        sim.execute(event)
    except NodeFailure as failure:
        return node_failure(failure)
    return _state_violation(checks, sim) or [*touched, *_touched(event)]


def _state_violation(checks: list, sim: Simulation) -> Verdict | None:
    """The first state invariant broken, without a witness: the search's copies keep no
    trace; replaying the counterexample gives the full run."""
    for inv in checks:
        sentence = inv.check(sim)
        if sentence:
            return violated(inv.name, sentence)
    return None


def _ending(system: System, config: Config, checks: list, sim: Simulation) -> Verdict:
    """How a run stopped in this state ends: quiescence (state invariants still checked at
    every step), then the history invariants."""
    broken: list[Verdict] = []

    def check_state() -> bool:
        verdict = _state_violation(checks, sim)
        if verdict is not None:
            broken.append(verdict)
        return verdict is not None

    try:
        sim.quiesce(config.quiesce_horizon, config.quiesce_steps, check_state, config.rest)
    except NodeFailure as failure:
        return node_failure(failure)
    return broken[0] if broken else check_history(system, sim)
