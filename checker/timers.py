"""Timers of all nodes, due in true (virtual) time. Only the earliest due ones may fire."""

from __future__ import annotations


class Timers:
    def __init__(self) -> None:
        self.due: dict[tuple[str, str], int] = {}  # (node, name) -> due time

    def set(self, node: str, name: str, at: int) -> None:
        key = (node, name)
        self.due.pop(key, None)  # re-insert: dict order is set order, deterministic
        self.due[key] = at

    def cancel(self, node: str, name: str) -> None:
        self.due.pop((node, name), None)

    def clear_node(self, node: str) -> None:
        for key in [k for k in self.due if k[0] == node]:
            del self.due[key]

    def postpone_node(self, node: str, until: int) -> None:
        for key, at in self.due.items():
            if key[0] == node and at < until:
                self.due[key] = until

    def earliest(self, excluded: set[str] | frozenset[str] = frozenset()) -> list[tuple[str, str]]:
        """The timers (node, name) due first among nodes not `excluded`, in the order set."""
        due = self.due
        if excluded:
            due = {key: at for key, at in due.items() if key[0] not in excluded}
        if not due:
            return []
        first = min(due.values())
        return [key for key, at in due.items() if at == first]

    def any_outside(self, excluded: set[str]) -> bool:
        """Whether a timer is pending on a node not `excluded`."""
        return any(key[0] not in excluded for key in self.due) if excluded else bool(self.due)
