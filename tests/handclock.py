"""A node context for unit tests of handlers: true time and clock offset set by hand, sends
recorded instead of delivered, timers and ghost notes ignored."""

from __future__ import annotations

import random
from typing import Any

from checker.node import Storage


class Clock:
    def __init__(self, node: str, epsilon: int) -> None:
        self.id = node
        self.epsilon = epsilon
        self.time = 0
        self.offset = 0
        self.storage = Storage()
        self.random = random.Random(0)
        self.sent: list[tuple[str, Any]] = []

    def now(self) -> int:
        return self.time + self.offset

    def truetime(self) -> tuple[int, int]:
        return self.now() - self.epsilon, self.now() + self.epsilon

    def send(self, dst: str, msg: Any) -> None:
        self.sent.append((dst, msg))

    def set_timer(self, name: str, delay: int) -> None:
        pass

    def cancel_timer(self, name: str) -> None:
        pass

    def note(self, kind: str, **data: Any) -> None:
        pass

    def replies(self, kind: type) -> list[Any]:
        return [msg for _, msg in self.sent if isinstance(msg, kind)]
