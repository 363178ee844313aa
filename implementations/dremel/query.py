"""Queries over columns: SELECT [key,] AGG(value) FROM T [GROUP BY key], with AGG one of
COUNT, SUM, MIN, MAX, AVG, the key a field that occurs at most once per record.

A query reads only its columns, never assembling a record: records are told apart by
repetition level 0, NULLs by their missing value. Each server of the serving tree computes
*partial aggregates* per group, and partials combine associatively, so the query the root
receives is rewritten into one that every server can answer over its children's answers
(the paper's "query rewriting": COUNT below becomes SUM above):

| aggregate | partial at a leaf | combining two partials | final value |
|---|---|---|---|
| COUNT(x) | how many values | add | the count |
| SUM(x) | the sum, None if no value | add (None is no value) | the sum |
| MIN(x), MAX(x) | the least or greatest value, or None | min, max | it |
| AVG(x) | (sum, count) | add both | sum / count, None if no value |
"""

from __future__ import annotations

import operator
from typing import Any

import attrs

from implementations.dremel.schema import NULL
from implementations.dremel.striping import Columns, Entry

Partials = dict[Any, Any]  # group key -> partial aggregate
AGGREGATES = ("COUNT", "SUM", "MIN", "MAX", "AVG")
_OF_VALUES = {"SUM": sum, "MIN": min, "MAX": max}
_OF_TWO = {"SUM": operator.add, "MIN": min, "MAX": max}


@attrs.frozen
class Query:
    aggregate: str  # one of AGGREGATES
    value: str  # the column aggregated
    group_by: str | None = None  # a column with at most one value per record

    def columns(self) -> list[str]:
        return [self.value] + ([self.group_by] if self.group_by else [])

    def __str__(self) -> str:
        key = f"{self.group_by}, " if self.group_by else ""
        group = f" GROUP BY {self.group_by}" if self.group_by else ""
        return f"SELECT {key}{self.aggregate}({self.value}) FROM T{group}"


def by_record(column: list[Entry]) -> list[list[Any]]:
    """A column's values, record by record (a record begins at repetition level 0)."""
    records: list[list[Any]] = []
    for entry in column:
        if entry.r == 0:
            records.append([])
        if entry.value is not NULL:
            records[-1].append(entry.value)
    return records


def scan(query: Query, columns: Columns) -> Partials:
    """A leaf's work: the partial aggregates of the query over one tablet's columns."""
    values = by_record(columns[query.value])
    keys = [(found or [NULL])[0] for found in by_record(columns[query.group_by])] \
        if query.group_by else [NULL] * len(values)
    groups: dict[Any, list[Any]] = {}
    for key, found in zip(keys, values, strict=True):
        groups.setdefault(key, []).extend(found)
    return {key: partial(query.aggregate, found) for key, found in groups.items()}


def partial(aggregate: str, values: list[Any]) -> Any:
    if aggregate == "COUNT":
        return len(values)
    if aggregate == "AVG":
        return (sum(values), len(values))
    return _OF_VALUES[aggregate](values) if values else None


def combine(aggregate: str, parts: list[Partials]) -> Partials:
    """An intermediate server's (or the root's) work: its children's partials, merged
    group by group."""
    merged: Partials = {}
    for part in parts:
        for key, value in part.items():
            merged[key] = merge(aggregate, merged[key], value) if key in merged else value
    return merged


def merge(aggregate: str, a: Any, b: Any) -> Any:
    if aggregate == "COUNT":
        return a + b
    if aggregate == "AVG":
        return (a[0] + b[0], a[1] + b[1])
    if a is None or b is None:
        return b if a is None else a
    return _OF_TWO[aggregate](a, b)


def final(aggregate: str, partials: Partials) -> list[list[Any]]:
    """The root's answer: [[key, result], ...], keys sorted (NULL first)."""
    def result(value: Any) -> Any:
        if aggregate != "AVG":
            return value
        total, count = value
        return total / count if count else None
    keys = sorted(partials, key=lambda key: (key is not NULL, key))
    return [[key, result(partials[key])] for key in keys]
