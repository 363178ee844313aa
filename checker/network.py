"""Messages in flight and partitions. Messages reorder freely: any deliverable one may be next."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs


@attrs.frozen
class Envelope:
    src: str
    dst: str
    seq: int  # per (src, dst) channel: stable names for replay and shrinking
    msg: Any

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.src, self.dst, self.seq)


class Network:
    def __init__(self) -> None:
        self.in_flight: dict[tuple[str, str, int], Envelope] = {}
        self._next_seq: dict[tuple[str, str], int] = {}
        self._side: dict[str, int] = {}  # empty: no partition
        self.sent = 0

    def send(self, src: str, dst: str, msg: Any) -> Envelope:
        channel = (src, dst)
        seq = self._next_seq.get(channel, 0)
        self._next_seq[channel] = seq + 1
        envelope = Envelope(src, dst, seq, msg)
        self.in_flight[envelope.key] = envelope
        self.sent += 1
        return envelope

    def take(self, key: tuple[str, str, int]) -> Envelope:
        return self.in_flight.pop(key)

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
