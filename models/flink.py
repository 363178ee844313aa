"""The reference run of Flink's windowed job: the same job evaluated once, in order, without
failures, and what a consistent snapshot of it holds at any cut of its inputs.

The job sums each key's values per tumbling event-time window of WINDOW ticks. Each of its
inputs is a fixed log of events (key, value, event time) in arrival order, out of order in
event time by at most OUT_OF_ORDERNESS:

- an input's **watermark** after its first `offset` events is the highest event time seen
  minus OUT_OF_ORDERNESS (no event still to come is older), START before any event and END
  once the log is exhausted;
- the job's watermark is the **minimum** over its inputs: only then is nothing still to come
  older than it, on any input;
- a window [start, start + WINDOW) **fires** (emits its sum) once the watermark reaches its
  end, and is kept ALLOWED_LATENESS longer for late events; an event whose window's end plus
  ALLOWED_LATENESS is at or behind the watermark is **late** and dropped.

Declared invariant of the inputs (`within_bound`): no event is behind its own input's
watermark. Since the job's watermark never exceeds an input's, no event is ever late and no
window gets an event after firing: each window fires once, complete, in every order of
arrival. That is what makes the reference a single value per key and window, and the state
at a cut (each input read up to an offset) the same whichever way the inputs interleaved.

Pure code: imports nothing of the implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

WINDOW = 10
OUT_OF_ORDERNESS = 3
ALLOWED_LATENESS = 2
START = -1  # the watermark before any event: no window has ended
END = 1_000_000  # the watermark of an exhausted input: every window has ended


class Event(NamedTuple):
    key: str
    value: int
    time: int


Log = Sequence[Event]
WindowId = tuple[str, int]  # (key, window start)


def window_start(time: int) -> int:
    return time - time % WINDOW


def window_end(start: int) -> int:
    return start + WINDOW


def is_late(time: int, watermark: int) -> bool:
    """Whether an event at `time` arrives too late: its window, lateness included, is over."""
    return window_end(window_start(time)) + ALLOWED_LATENESS <= watermark


def highest_time(log: Log, offset: int) -> int | None:
    """The highest event time among the first `offset` events, None before any."""
    return max((event.time for event in log[:offset]), default=None)


def source_watermark(log: Log, offset: int) -> int:
    """The watermark an input has announced once its first `offset` events are read."""
    if offset >= len(log):
        return END
    highest = highest_time(log, offset)
    return START if highest is None else highest - OUT_OF_ORDERNESS


def operator_watermark(logs: Sequence[Log], offsets: Sequence[int]) -> int:
    """The job's watermark at a cut: the minimum over its inputs."""
    return min(source_watermark(log, offset) for log, offset in zip(logs, offsets))


def within_bound(log: Log) -> bool:
    """The inputs' invariant: every event is at or after its input's watermark before it."""
    return all(event.time >= source_watermark(log, i) for i, event in enumerate(log))


class WindowedSum:
    """The job's operator as a sequential specification: per (key, window start) the sum so
    far and whether the window has fired; firings are returned as (key, start, sum)."""

    def __init__(self) -> None:
        self.windows: dict[WindowId, list] = {}  # (key, start) -> [sum, fired]
        self.watermark = START

    def add(self, event: Event) -> list[tuple[str, int, int]]:
        """Count an event; a window that already fired fires again (a late firing)."""
        if is_late(event.time, self.watermark):
            return []
        window = self.windows.setdefault((event.key, window_start(event.time)), [0, False])
        window[0] += event.value
        return [(event.key, window_start(event.time), window[0])] if window[1] else []

    def advance(self, watermark: int) -> list[tuple[str, int, int]]:
        """Move the watermark forward: fire the windows it passed, forget those whose
        lateness it passed."""
        if watermark <= self.watermark:
            return []
        self.watermark = watermark
        fired = []
        for (key, start), window in sorted(self.windows.items(), key=_by_end):
            if not window[1] and window_end(start) <= watermark:
                window[1] = True
                fired.append((key, start, window[0]))
        self.windows = {wid: w for wid, w in self.windows.items()
                        if window_end(wid[1]) + ALLOWED_LATENESS > watermark}
        return fired

    def state(self) -> tuple[tuple[str, int, int, bool], ...]:
        """What a snapshot holds: (key, start, sum, fired), sorted."""
        return tuple(sorted((key, start, s, fired)
                            for (key, start), (s, fired) in self.windows.items()))


def _by_end(item: tuple[WindowId, list]) -> tuple[int, str]:
    (key, start), _ = item
    return window_end(start), key


def run(logs: Sequence[Log], offsets: Sequence[int] | None = None) -> tuple[WindowedSum, list]:
    """Evaluate the job on each log up to its offset (all of it by default), one event of
    each input in turn, the watermark advanced after each: the operator and its firings."""
    offsets = [len(log) for log in logs] if offsets is None else list(offsets)
    operator, fired, read = WindowedSum(), [], [0] * len(logs)
    while read != offsets:
        for i, log in enumerate(logs):
            if read[i] < offsets[i]:
                fired += operator.add(log[read[i]])
                read[i] += 1
                fired += operator.advance(operator_watermark(logs, read))
    fired += operator.advance(operator_watermark(logs, read))
    return operator, fired


def reference(logs: Sequence[Log]) -> dict[WindowId, int]:
    """The job's output: the sum of each key's window, each window fired once."""
    return {(key, start): total for key, start, total in run(logs)[1]}


def state_at(logs: Sequence[Log], offsets: Sequence[int]) -> tuple:
    """The operator's state after exactly the events before `offsets`: what a consistent
    snapshot taken at barriers injected at those offsets must hold."""
    return run(logs, offsets)[0].state()
