"""Chubby's database as one copy: small files, and advisory locks with generation numbers.

This is the sequential specification a Chubby cell replicates (each replica applies its log
through it) and the one its clients' file operations must linearize against. Operations:

- `read((name,))` -> the file's contents (None if never written);
- `write((name, contents))` -> None; each write also bumps the file's version (Chubby's
  content generation number), which caches use to tell contents apart;
- `acquire((name, session, at))` -> the lock's new generation, or None: the lock is held by
  another session, the caller's session has expired, or it is still in lock-delay at time `at`.
  Acquiring a lock the session already holds returns its current generation;
- `release((name, session))` -> None; frees the lock at once if `session` holds it;
- `expire((session, at))` -> None; the session's locks are freed, but none may be granted
  again before `at + lock_delay`, and the session can never acquire again.

A lock's generation counts its grants: (name, generation) is the *sequencer* a holder shows a
protected resource, and a larger generation is a later holder. States are hashable tuples kept
sorted by name, so iterating them never depends on string hashing.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import attrs

from models.sequential import SequentialModel

if TYPE_CHECKING:
    from invariants.history import Operation


@attrs.frozen
class Lock:
    holder: Hashable | None = None
    generation: int = 0  # grants so far; the current holder's sequencer
    free_at: int = 0  # lock-delay: not granted again before this time


@attrs.frozen
class State:
    files: tuple[tuple[str, int, Any], ...] = ()  # (name, version, contents), sorted by name
    locks: tuple[tuple[str, Lock], ...] = ()  # (name, lock), sorted by name
    expired: tuple[Hashable, ...] = ()  # sessions that ended, sorted


class LockService(SequentialModel):
    name = "lockservice"

    def __init__(self, lock_delay: int = 0) -> None:
        self.lock_delay = lock_delay

    def initial(self) -> Hashable:
        return State()

    def apply(self, state: Hashable, f: str, args: Any) -> list[tuple[Any, Hashable]]:
        match f:
            case "read":
                return [(self.file(state, args[0])[1], state)]
            case "write":
                name, contents = args
                version = self.file(state, name)[0] + 1
                files = _put(state.files, (name, version, contents))
                return [(None, attrs.evolve(state, files=files))]
            case "acquire":
                return [self.acquire(state, *args)]
            case "release":
                name, session = args
                lock = self.lock(state, name)
                if lock.holder != session:
                    return [(None, state)]
                return [(None, self.set_lock(state, name, attrs.evolve(lock, holder=None)))]
            case "expire":
                return [(None, self.expire(state, *args))]
        return []

    def acquire(self, state: State, name: str, session: Hashable, at: int) -> tuple[Any, State]:
        lock = self.lock(state, name)
        if lock.holder == session:
            return lock.generation, state
        if lock.holder is not None or at < lock.free_at or session in state.expired:
            return None, state
        granted = Lock(session, lock.generation + 1, lock.free_at)
        return granted.generation, self.set_lock(state, name, granted)

    def expire(self, state: State, session: Hashable, at: int) -> State:
        """The session ends: its locks are freed, each under lock-delay."""
        for name, lock in state.locks:
            if lock.holder == session:
                delayed = attrs.evolve(lock, holder=None, free_at=at + self.lock_delay)
                state = self.set_lock(state, name, delayed)
        return attrs.evolve(state, expired=tuple(sorted({*state.expired, session})))

    # --- queries the replicas use ----------------------------------------------------------

    @staticmethod
    def file(state: State, name: str) -> tuple[int, Any]:
        """(version, contents); version 0 is a file never written."""
        return next(((v, c) for n, v, c in state.files if n == name), (0, None))

    @staticmethod
    def lock(state: State, name: str) -> Lock:
        return next((lock for n, lock in state.locks if n == name), Lock())

    @staticmethod
    def holders(state: State) -> list[Hashable]:
        """The sessions holding a lock, in lock-name order."""
        return [lock.holder for _, lock in state.locks if lock.holder is not None]

    @staticmethod
    def set_lock(state: State, name: str, lock: Lock) -> State:
        return attrs.evolve(state, locks=_put(state.locks, (name, lock)))

    # --- for the linearizability checker ----------------------------------------------------

    def partition(self, ops: list[Operation]) -> list[list[Operation]]:
        """One sub-history per file (or lock): distinct names never interact."""
        by_name: dict[Hashable, list[Operation]] = {}
        for op in ops:
            by_name.setdefault(op.args[0], []).append(op)
        return list(by_name.values())

    def describe_state(self, state: Hashable) -> str:
        files = ", ".join(f"{n!r}: {c!r} (v{v})" for n, v, c in state.files)
        locks = ", ".join(f"{n!r}: held by {lock.holder!r} (generation {lock.generation})"
                          for n, lock in state.locks if lock.holder is not None)
        return "{" + files + "}" + (f" locks {{{locks}}}" if locks else "")


def _put(items: tuple, item: tuple) -> tuple:
    """`items` (sorted by their first field) with `item` replacing the one of its name."""
    return tuple(sorted([i for i in items if i[0] != item[0]] + [item], key=lambda i: i[0]))
