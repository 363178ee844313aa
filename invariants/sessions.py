"""Eventual-consistency guarantees: convergence, and the session guarantees of Bayou.

Convergence looks at replica states after quiescence (everything delivered, no more writes):
they must all be equal. The session guarantees look at what one client saw:

- read-your-writes: a read returns the session's own earlier writes to that key, or newer;
- monotonic reads: a read never returns something older than an earlier read of that key.

What the input must carry. Each `SessionOp` is one *successful* read or write, listed in the
order its session issued them (sessions may interleave in the list; only the order within a
session matters). Its `value` is what the write installed or what the read returned (None:
the key had never been written). "Newer" is decided by `newer_or_equal(a, b)`, which must be
a partial order, so values must say what is newer:

- versions: integers, Lamport `(counter, node)` tuples, vector clocks ... — the default
  `at_least` compares with `>=` (for frozensets, `>=` is "contains": grow-only sets work too);
- append-only lists: pass `newer_or_equal=extends` (a is b plus more entries).

Plain register values (x=3) cannot tell old from new; record versions alongside them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import attrs

from invariants.verdict import Verdict, passed, violated

READ, WRITE = "read", "write"
_SHOWN = 5  # violations spelled out in the explanation; the witness has them all
_MISSING = object()  # a replica lacks the key

Order = Callable[[Any, Any], bool]


@attrs.frozen
class SessionOp:
    session: str
    f: str  # read | write
    key: Hashable
    value: Any
    time: int | None = None


def at_least(a: Any, b: Any) -> bool:
    """`a` is as new as `b` by `>=`; None (never written) is older than everything."""
    return b is None or (a is not None and a >= b)


def extends(a: Sequence | None, b: Sequence | None) -> bool:
    """`a` is `b` with zero or more entries appended (None is the empty list)."""
    a, b = list(a or ()), list(b or ())
    return a[:len(b)] == b


def check_read_your_writes(ops: list[SessionOp], newer_or_equal: Order = at_least) -> Verdict:
    """Every read is as new as each write its own session made to that key before it."""
    return _check_floor("read-your-writes", ops, WRITE, newer_or_equal,
                        "wrote", "did not see its own write")


def check_monotonic_reads(ops: list[SessionOp], newer_or_equal: Order = at_least) -> Verdict:
    """Every read is as new as each read its own session made of that key before it."""
    return _check_floor("monotonic-reads", ops, READ, newer_or_equal,
                        "read", "went back in time")


def check_convergence(replicas: Mapping[str, Mapping[Hashable, Any]]) -> Verdict:
    """All replicas hold the same keys with equal values (call after quiescence).

    The witness is the first differing key (in sorted order) and which replicas hold what.
    """
    invariant = "convergence"
    if len(replicas) < 2:
        return passed(invariant, f"vacuously: {len(replicas)} replica(s), nothing to compare")
    keys = _ordered({key for state in replicas.values() for key in state})
    differing = [key for key in keys if len(_holders(replicas, key)) > 1]
    if not differing:
        return passed(invariant, f"{len(replicas)} replicas agree on all {len(keys)} key(s)")
    first = differing[0]
    groups = _holders(replicas, first)
    words = "; ".join(f"{{{', '.join(names)}}} {_holding(first, value)}"
                      for value, names in groups)
    holders = [{"replicas": names, **({"missing": True} if value is _MISSING
                                      else {"value": value})} for value, names in groups]
    return violated(invariant, f"replicas disagree on {len(differing)} key(s) after quiescence; "
                               f"first {first!r}: {words}",
                    {"key": first, "holders": holders, "differing_keys": differing})


def _check_floor(invariant: str, ops: list[SessionOp], floor_kind: str, newer_or_equal: Order,
                 verb: str, failure: str) -> Verdict:
    """Reads must be as new as every earlier `floor_kind` op of their session and key.

    Only the floor ops not dominated by a later one are kept (by transitivity a read as new as
    the later one is as new as the earlier), so a total order keeps one per session and key.
    """
    floors: dict[tuple[str, Hashable], list[tuple[int, SessionOp]]] = {}
    found = []
    for index, op in enumerate(ops):
        floor = floors.setdefault((op.session, op.key), [])
        if op.f == READ:
            behind = _not_covered(op.value, floor, newer_or_equal)
            if behind:
                found.append(((index, op), behind[0]))
        if op.f == floor_kind:
            floor[:] = [*_not_covered(op.value, floor, newer_or_equal), (index, op)]
    if not found:
        reads = sum(op.f == READ for op in ops)
        sessions = len({op.session for op in ops})
        return passed(invariant, f"all {reads} read(s) in {sessions} session(s) satisfy "
                                 f"{invariant}")
    lines = [f"{len(found)} read(s) {failure}:"]
    lines += [f"- {_violation_text(read, earlier, verb)}" for read, earlier in found[:_SHOWN]]
    if len(found) > _SHOWN:
        lines.append(f"- ... and {len(found) - _SHOWN} more")
    return violated(invariant, "\n".join(lines),
                    [{"earlier": _op_json(*earlier), "read": _op_json(*read)}
                     for read, earlier in found])


def _not_covered(value: Any, floor: list[tuple[int, SessionOp]],
                 newer_or_equal: Order) -> list[tuple[int, SessionOp]]:
    """The floor ops that `value` is not as new as."""
    return [earlier for earlier in floor if not newer_or_equal(value, earlier[1].value)]


def _violation_text(read: tuple[int, SessionOp], earlier: tuple[int, SessionOp],
                    verb: str) -> str:
    (i, r), (j, e) = read, earlier
    return f"session {r.session} {verb} {e.key!r}={e.value!r} (op #{j}{_at(e)}), then read " \
           f"{r.value!r} (op #{i}{_at(r)})"


def _at(op: SessionOp) -> str:
    return "" if op.time is None else f" at t={op.time}"


def _op_json(index: int, op: SessionOp) -> dict:
    return {"index": index, "session": op.session, "f": op.f, "key": op.key,
            "value": op.value, "time": op.time}


def _ordered(keys: set) -> list:
    """Keys sorted naturally when they are comparable, else by their repr."""
    try:
        return sorted(keys)
    except TypeError:
        return sorted(keys, key=repr)


def _holders(replicas: Mapping[str, Mapping], key: Hashable) -> list[tuple[Any, list[str]]]:
    """The distinct values of `key` (by ==) across replicas, each with the replicas holding it."""
    groups: list[tuple[Any, list[str]]] = []
    for name, state in replicas.items():
        value = state.get(key, _MISSING)
        same = next((names for held, names in groups if _same(held, value)), None)
        if same is None:
            groups.append((value, [name]))
        else:
            same.append(name)
    return groups


def _same(a: Any, b: Any) -> bool:
    return a is b or (a is not _MISSING and b is not _MISSING and a == b)


def _holding(key: Hashable, value: Any) -> str:
    return f"lack {key!r}" if value is _MISSING else f"hold {value!r}"
