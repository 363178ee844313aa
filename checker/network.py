"""Messages in flight and partitions.

By default messages reorder freely: any deliverable one may be next. A FIFO network (a system
that declares `fifo`, as TCP connections are) also keeps each channel's messages in send
order (`channels`), so that only the oldest in flight on a channel is deliverable."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple


class Envelope(NamedTuple):
    """A message in flight (a named tuple: one is made at every send)."""

    src: str
    dst: str
    seq: int  # per (src, dst) channel: stable names for replay and shrinking
    msg: Any

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.src, self.dst, self.seq)


class Network:
    def __init__(self, fifo: bool = False) -> None:
        self.fifo = fifo
        self.in_flight: dict[tuple[str, str, int], Envelope] = {}
        # FIFO only: each channel's sequence numbers in flight, oldest first (no empty ones)
        self.channels: dict[tuple[str, str], dict[int, None]] = {}
        self._next_seq: dict[tuple[str, str], int] = {}
        self._side: dict[str, int] = {}  # empty: no partition
        self.sent = 0

    def send(self, src: str, dst: str, msg: Any) -> Envelope:
        channel = (src, dst)
        seq = self._next_seq.get(channel, 0)
        self._next_seq[channel] = seq + 1
        envelope = Envelope(src, dst, seq, msg)
        self.in_flight[(src, dst, seq)] = envelope
        if self.fifo:
            self.channels.setdefault(channel, {})[seq] = None
        self.sent += 1
        return envelope

    def take(self, key: tuple[str, str, int]) -> Envelope:
        envelope = self.in_flight.pop(key)
        if self.fifo:
            channel = key[:2]
            queue = self.channels[channel]
            del queue[key[2]]
            if not queue:
                del self.channels[channel]
        return envelope

    def head(self, src: str, dst: str) -> Envelope | None:
        """FIFO only: the oldest message in flight on channel src→dst, if any."""
        queue = self.channels.get((src, dst))
        return None if not queue else self.in_flight[(src, dst, next(iter(queue)))]

    def is_head(self, key: tuple[str, str, int]) -> bool:
        """Whether the message is in flight and, on a FIFO network, the oldest on its channel."""
        if key not in self.in_flight:
            return False
        return not self.fifo or next(iter(self.channels[key[:2]])) == key[2]

    def heads(self) -> Iterator[Envelope]:
        """FIFO only: the oldest message of each channel, channels in order of first use."""
        in_flight = self.in_flight
        return (in_flight[(src, dst, next(iter(queue)))]
                for (src, dst), queue in self.channels.items())

    def reset(self, a: str, b: str) -> list[Envelope]:
        """Break the connection between a and b: what is in flight either way is lost."""
        lost = []
        for channel in ((a, b), (b, a)) if a != b else ((a, b),):
            for seq in list(self.channels.get(channel, ())):
                lost.append(self.take((*channel, seq)))
        return lost

    def duplicate(self, key: tuple[str, str, int]) -> Envelope:
        original = self.in_flight[key]
        return self.send(original.src, original.dst, original.msg)

    def cut(self, a: str, b: str) -> bool:
        side = self._side
        return bool(side) and side.get(a, 0) != side.get(b, 0)

    @property
    def partitioned(self) -> bool:
        return bool(self._side)

    def partition(self, island: list[str]) -> None:
        """Cut the nodes of `island` off from every other node."""
        self._side = {node: 1 for node in island}

    def heal(self) -> None:
        self._side = {}

    def island(self) -> list[str]:
        return sorted(self._side)

    def __iter__(self) -> Iterator[Envelope]:
        return iter(self.in_flight.values())
