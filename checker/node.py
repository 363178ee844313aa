"""What a simulated process sees of the world: the `Node` base class and its `Context`.

A node never reads the wall clock, `random`, threads, the OS or the network; everything comes
through its context, which the simulation owns. Volatile state is the node object itself: a
crash throws it away, and a restart builds a fresh node that recovers from `ctx.storage`.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from checker.sim import Simulation


class Node:
    """A simulated process. Subclasses override the handlers they need."""

    def __init__(self, node_id: str) -> None:
        self.id = node_id

    def on_start(self, ctx: Context) -> None:
        """First boot."""

    def on_recover(self, ctx: Context) -> None:
        """Boot after a crash: rebuild volatile state from `ctx.storage`."""
        self.on_start(ctx)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        """A message from `src` arrived."""

    def on_timer(self, ctx: Context, name: str) -> None:
        """The timer `name` set with `ctx.set_timer` is due."""

    def on_reset(self, ctx: Context, peer: str) -> None:
        """FIFO systems only: the connection with `peer` broke (a `reset` fault), and what was
        in flight on it either way is lost. Called on each end that is up."""

    def leads(self) -> bool:
        """Whether this node believes it is the leader (master, primary). The random walk cuts
        leaders off more often than other nodes, as Jepsen's nemeses do: that is where
        fail-over bugs live."""
        return False

    def state(self) -> dict[str, Any]:
        """What reports and fingerprints show of this node: its public attributes."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


class Storage:
    """Durable key-value storage of one node: survives crashes.

    `put(..., synced=False)` models a write still in the page cache: it is visible at once but
    lost if the node crashes before `sync()`.
    """

    def __init__(self) -> None:
        self._durable: dict[str, Any] = {}
        self._unsynced: dict[str, Any] = {}
        self._writes = 0  # see `writes`

    @property
    def writes(self) -> int:
        """How many times what it holds may have changed (a put, a sync, a crash's loss): a
        check that reads only disks judges again only once one was written
        (`checker.system.judged_on_change`)."""
        return self._writes

    def contents(self) -> dict[str, dict[str, Any]]:
        """What it holds, synced and not, as fingerprints read it (not how often it was
        written)."""
        return {"_durable": self._durable, "_unsynced": self._unsynced}

    def get(self, key: str, default: Any = None) -> Any:
        if self._unsynced and key in self._unsynced:
            return self._unsynced[key]
        return self._durable.get(key, default)

    def put(self, key: str, value: Any, synced: bool = True) -> None:
        self._writes += 1
        if synced:
            self._unsynced.pop(key, None)
            self._durable[key] = value
        else:
            self._unsynced[key] = value

    def durable(self, key: str, default: Any = None) -> Any:
        """What a crash now would leave of `key`: its last synced value. For invariants."""
        return self._durable.get(key, default)

    def sync(self) -> None:
        self._writes += 1
        self._durable.update(self._unsynced)
        self._unsynced.clear()

    def lose_unsynced(self) -> int:
        self._writes += 1
        lost = len(self._unsynced)
        self._unsynced.clear()
        return lost

    def items(self) -> dict[str, Any]:
        return {**self._durable, **self._unsynced}

    def durable_items(self) -> dict[str, Any]:
        """What a crash now would leave of every key: the synced values. For invariants."""
        return dict(self._durable)


class Context:
    """The world as one node sees it. One context per node, kept across its restarts.

    The node's clock is true time plus an offset within +-epsilon. A `skew` fault sets the
    offset; a `drift` fault sets a rate (parts per thousand) at which the offset then grows
    or shrinks with true time, until it reaches a bound of +-epsilon and stays there: a clock
    that runs fast or slow, as far as the uncertainty bound allows. Timers are measured on
    this clock: a node's `set_timer(name, d)` fires when its own clock has advanced by d, so
    a fast clock's timeouts come early in true time and a slow one's late."""

    def __init__(self, sim: Simulation, node_id: str, seed: int) -> None:
        self.id = node_id
        self.storage = Storage()
        self.random = random.Random(seed)
        self._sim = sim
        self.rate = 0  # the clock's drift, parts per thousand of true time
        self._anchor_offset, self._anchor_time = 0, 0  # the offset at a true time

    @property
    def epsilon(self) -> int:
        return self._sim.epsilon

    @property
    def offset(self) -> int:
        """This node's clock minus true time; |offset| <= epsilon."""
        return self._offset_at(self._sim.time)

    @offset.setter
    def offset(self, value: int) -> None:
        self._anchor_offset, self._anchor_time = value, self._sim.time

    def drift(self, rate: int) -> None:
        """From now on the clock gains `rate` ticks per thousand (loses, if negative)."""
        self.offset = self.offset
        self.rate = rate

    def _offset_at(self, time: int) -> int:
        if not self.rate:
            return self._anchor_offset
        drifted = self._anchor_offset + self.rate * (time - self._anchor_time) // 1000
        return max(-self._sim.epsilon, min(self._sim.epsilon, drifted))

    def _when_clock_reads(self, reading: int) -> int:
        """The first true time after now at which this clock reads `reading` or more."""
        low = self._sim.time + 1
        if not self.rate:
            return max(low, reading - self._anchor_offset)
        high = max(low, reading + self._sim.epsilon)  # the clock is never epsilon behind
        while low < high:  # the clock never runs backwards (|rate| < 1000): bisect
            middle = (low + high) // 2
            if middle + self._offset_at(middle) >= reading:
                high = middle
            else:
                low = middle + 1
        return low

    def now(self) -> int:
        """This node's own clock: true time plus its offset."""
        time = self._sim.time
        if not self.rate:  # handlers read their clocks often: the common case, inline
            return time + self._anchor_offset
        return time + self._offset_at(time)

    def truetime(self) -> tuple[int, int]:
        """An interval (earliest, latest) guaranteed to contain true time."""
        now = self.now()
        return now - self._sim.epsilon, now + self._sim.epsilon

    def send(self, dst: str, msg: Any) -> None:
        self._sim.send(self.id, dst, msg)

    def broadcast(self, dsts: list[str], msg: Any) -> None:
        for dst in dsts:
            if dst != self.id:
                self.send(dst, msg)

    def set_timer(self, name: str, delay: int) -> None:
        """Fire `on_timer(name)` after `delay` ticks of this node's clock; replaces a pending
        timer of that name."""
        sim = self._sim
        if self.rate:
            due = self._when_clock_reads(self.now() + max(1, delay))
        else:  # a clock that does not drift keeps pace with true time
            due = sim.time + max(1, delay)
        sim.timers.set(self.id, name, due)

    def cancel_timer(self, name: str) -> None:
        self._sim.timers.cancel(self.id, name)

    def note(self, kind: str, **data: Any) -> None:
        """Record a fact for the invariants (a ghost variable): never read by the protocol."""
        self._sim.ghost.append((kind, self._sim.time, self.id, data))

    def record(self, type_: str, f: str, value: Any) -> None:
        """Append a client history event (used by `checker.client.Client`)."""
        self._sim.record(self.id, type_, f, value)
