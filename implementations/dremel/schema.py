"""Schemas as the paper draws them: a tree of fields, each required, optional or repeated.

A `Node` is one field of the tree with what striping and assembly need to know about it,
computed once from its ancestors: its dotted path, its repetition level (how many repeated
fields its path holds, itself included) and its definition level (how many optional or
repeated fields). The root is the message itself, at levels 0. Schemas arrive as JSON (the
format of `models.dremel`) and can be printed in the paper's syntax.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

REQUIRED, OPTIONAL, REPEATED = "required", "optional", "repeated"
NULL = None  # a column entry without a value


class Node:
    def __init__(self, name: str, repetition: str, kind: str | None,
                 children: list[dict], parent: Node | None) -> None:
        self.name, self.repetition, self.kind, self.parent = name, repetition, kind, parent
        self.path = name if parent is None or parent.parent is None else \
            f"{parent.path}.{name}"
        above = (parent.repetition_level, parent.definition_level) if parent else (0, 0)
        self.repetition_level = above[0] + (repetition == REPEATED)
        self.definition_level = above[1] + (repetition != REQUIRED)
        self.children = [Node(c["name"], c["repetition"], c.get("type"), c.get("fields", []),
                              self) for c in children]

    @property
    def atomic(self) -> bool:
        return self.kind is not None

    def ancestors(self) -> list[Node]:
        """The groups above this field, from the top (the root excluded)."""
        chain, node = [], self.parent
        while node is not None and node.parent is not None:
            chain.append(node)
            node = node.parent
        return chain[::-1]

    def leaves(self) -> Iterator[Node]:
        """The atomic fields beneath (or at) this node, in schema order: its columns."""
        if self.atomic:
            yield self
        for child in self.children:
            yield from child.leaves()

    def __repr__(self) -> str:
        return f"Node({self.path or '<root>'})"


def message(schema: list[dict], name: str = "Record") -> Node:
    """The root of a schema given as JSON."""
    return Node(name, REQUIRED, None, schema, None)


def common_repetition_level(a: Node, b: Node) -> int:
    """The repetition level of the deepest field two columns share (0: only the record)."""
    shared = [x for x, y in zip(a.ancestors() + [a], b.ancestors() + [b]) if x is y]
    return shared[-1].repetition_level if shared else 0


def declaration(schema: list[dict], name: str = "Record") -> list[str]:
    """The schema in the paper's syntax, one field a line."""
    def lines(fields: list[dict], indent: str) -> list[str]:
        out = []
        for field in fields:
            if "fields" in field:
                out.append(f"{indent}{field['repetition']} group {field['name']} {{")
                out += lines(field["fields"], indent + "  ")
                out.append(f"{indent}}}")
            else:
                out.append(f"{indent}{field['repetition']} {field['type']} {field['name']};")
        return out
    return [f"message {name} {{", *lines(schema, "  "), "}"]


def show_value(value: Any) -> str:
    return "NULL" if value is NULL else repr(value)
