"""A bound on one handler call: a handler that never returns is a finding, not a hung hunt.

A protocol bug can loop inside one handler (an index that is never advanced). Counting the
handler's work deterministically would mean tracing every line it runs, which would slow every
run several times over. Instead, while a run is driven, an interval timer looks every `TICK`
seconds at which handler call the simulation is in (`sim.HANDLERS`); when one call has lasted
`seconds`, it raises `HandlerOverrun` inside it, and the run ends with the violation
`handler-returns` and its trace. The finding is as deterministic as the loop: a handler that
never returns never returns in any process. Handlers here take microseconds, so the bound
(2 s) is never near a legitimate call.

Signals reach only the main thread: elsewhere the guard does nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from checker.sim import HANDLERS, HandlerOverrun

T = TypeVar("T")
SECONDS = 2.0  # the longest one handler call may run
TICK = 0.25


@contextmanager
def guard(seconds: float | None = None) -> Iterator[None]:
    """Bound every handler call made inside the block; nested guards defer to the outermost."""
    if not _can_watch() or HANDLERS.watched:
        yield
        return
    limit = SECONDS if seconds is None else seconds
    last = [-1, 0.0]  # the handler call seen at the last tick, and how long it has lasted

    def on_alarm(signum: int, frame: object) -> None:
        if HANDLERS.node is None or HANDLERS.calls != last[0]:
            last[0], last[1] = HANDLERS.calls, 0.0
            return
        last[1] += TICK
        if last[1] >= limit:
            raise HandlerOverrun(HANDLERS.node, HANDLERS.describe(), limit)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    HANDLERS.watched = True
    signal.setitimer(signal.ITIMER_REAL, TICK, TICK)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        HANDLERS.watched = False
        signal.signal(signal.SIGALRM, previous)


def watched(label: str, fn: Callable[..., T], *args: Any) -> T:
    """Call `fn` as one bounded call named `label` (code that is not a node's handler, such as
    a property system's check of one input): inside a guard, a call that never returns raises
    `HandlerOverrun` in it."""
    HANDLERS.calls += 1
    HANDLERS.node, HANDLERS.name, HANDLERS.args = label, fn.__name__, ()
    try:
        return fn(*args)
    finally:
        HANDLERS.node = None


def _can_watch() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
