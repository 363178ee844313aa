"""Timers of all nodes, due in true (virtual) time. Only the earliest due ones may fire."""

from __future__ import annotations


class Timers:
    def __init__(self) -> None:
        self.due: dict[tuple[str, str], int] = {}  # (node, name) -> due time

    def set(self, node: str, name: str, at: int) -> None:
        self.due.pop((node, name), None)  # re-insert: dict order is set order, deterministic
        self.due[(node, name)] = at

    def cancel(self, node: str, name: str) -> None:
        self.due.pop((node, name), None)

    def clear_node(self, node: str) -> None:
        for key in [k for k in self.due if k[0] == node]:
            del self.due[key]

    def postpone_node(self, node: str, until: int) -> None:
        for key, at in self.due.items():
            if key[0] == node and at < until:
                self.due[key] = until

    def earliest(self, eligible: set[str] | None = None) -> list[tuple[str, str]]:
        """The timers (node, name) due first among nodes in `eligible` (all if None)."""
        best: int | None = None
        found: list[tuple[str, str]] = []
        for key, at in self.due.items():
            if eligible is not None and key[0] not in eligible:
                continue
            if best is None or at < best:
                best, found = at, [key]
            elif at == best:
                found.append(key)
        return found
