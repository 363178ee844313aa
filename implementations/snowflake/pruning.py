"""Pruning: which micro-partitions a predicate lets the query skip, from zone maps alone.

For each file the pruner works out which truth values the WHERE clause can take on the
file's rows -- TRUE, FALSE, UNKNOWN (SQL's NULL) -- knowing only, per column, that every
value lies in [min, max] under the column's collation, that some are NULL when null_count > 0,
and that some are not when null_count < row_count. A file where TRUE is impossible holds no
row the query returns: it is pruned, never read.

Atoms (comparisons, BETWEEN, IN, IS [NOT] NULL) read their column's zone map; NOT swaps TRUE
and FALSE; AND and OR combine the children's possible values by Kleene's tables, as if the
columns varied independently -- which over-approximates, so pruning stays sound.

The rules are written against a `logic` (and, or, not, comparisons), so the same code runs on
values in a query and on z3 terms in `soundness.py`, which proves every rule sound.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce
from typing import Any

import attrs

from implementations.snowflake.storage import Column, FileMeta


class Concrete:
    """Plain Python booleans and comparisons. A column that is all NULL has no bounds (None):
    every comparison with them is false, and every rule ands them with "some value is not
    NULL", which is false too."""

    true, false = True, False

    @staticmethod
    def and_(*terms: Any) -> Any:
        return all(terms)

    @staticmethod
    def or_(*terms: Any) -> Any:
        return any(terms)

    @staticmethod
    def not_(term: Any) -> Any:
        return not term

    @staticmethod
    def eq(a: Any, b: Any) -> bool:
        return a is not None and b is not None and a == b

    @staticmethod
    def lt(a: Any, b: Any) -> bool:
        return a is not None and b is not None and a < b

    @staticmethod
    def le(a: Any, b: Any) -> bool:
        return a is not None and b is not None and a <= b


@attrs.frozen
class Possible:
    """Which truth values a predicate may take on some row of a file."""

    true: Any
    false: Any
    unknown: Any


@attrs.frozen
class Zone:
    """A column's zone map as the rules read it: bounds as collation keys, and counts."""

    low: Any
    high: Any
    null_count: Any
    row_count: Any


class Pruner:
    def __init__(self, columns: Sequence[Column] = (), logic: Any = Concrete) -> None:
        self.columns = {column.name: (i, column) for i, column in enumerate(columns)}
        self.logic = logic

    # --- a query's files ---------------------------------------------------------------------

    def split(self, pred: Any, files: Sequence[FileMeta]) -> tuple[list[FileMeta],
                                                                    list[FileMeta]]:
        """The files to scan and the files pruned."""
        if pred is None:
            return list(files), []
        scan, pruned = [], []
        for meta in files:
            (scan if self.possible(pred, meta).true else pruned).append(meta)
        return scan, pruned

    def possible(self, pred: Any, meta: FileMeta) -> Possible:
        kind = pred[0]
        if kind == "not":
            return self.negation(self.possible(pred[1], meta))
        if kind in ("and", "or"):
            combine = self.conjunction if kind == "and" else self.disjunction
            return combine(self.possible(pred[1], meta), self.possible(pred[2], meta))
        index, column = self.columns[pred[2] if kind == "cmp" else pred[1]]
        stats = meta.zone_maps[index]
        zone = Zone(_key(column, stats.min), _key(column, stats.max), stats.null_count,
                    meta.row_count)
        if kind == "cmp":
            return self.compare(pred[1], zone, _key(column, pred[3]))
        if kind == "between":
            return self.between(zone, _key(column, pred[2]), _key(column, pred[3]))
        if kind == "in":
            return self.in_list(zone, [_key(column, literal) for literal in pred[2]])
        return self.is_null(zone) if kind == "is null" else self.is_not_null(zone)

    # --- what a zone map says about a column ---------------------------------------------------

    def may_hold_null(self, zone: Zone) -> Any:
        return self.logic.lt(0, zone.null_count)

    def may_hold_value(self, zone: Zone) -> Any:
        return self.logic.lt(zone.null_count, zone.row_count)

    # --- atoms ---------------------------------------------------------------------------------

    def compare(self, op: str, zone: Zone, key: Any) -> Possible:
        """`column op literal`, the literal given as its collation key (None: NULL)."""
        lg = self.logic
        if key is None:  # a comparison with NULL is UNKNOWN on every row
            return Possible(lg.false, lg.false, lg.true)
        low, high = zone.low, zone.high
        inside = lg.and_(lg.le(low, key), lg.le(key, high))
        only_key = lg.and_(lg.eq(low, key), lg.eq(high, key))
        true, false = {
            "=": (inside, lg.not_(only_key)),
            "<>": (lg.not_(only_key), inside),
            "<": (lg.lt(low, key), lg.le(key, high)),
            "<=": (lg.le(low, key), lg.lt(key, high)),
            ">": (lg.lt(key, high), lg.le(low, key)),
            ">=": (lg.le(key, high), lg.lt(low, key)),
        }[op]
        values = self.may_hold_value(zone)
        return Possible(lg.and_(values, true), lg.and_(values, false), self.may_hold_null(zone))

    def between(self, zone: Zone, low_key: Any, high_key: Any) -> Possible:
        """`column BETWEEN low AND high`: TRUE needs [low, high] to meet [min, max]."""
        lg = self.logic
        if low_key is None or high_key is None:  # x >= low AND x <= high, one side UNKNOWN
            return self.conjunction(self.compare(">=", zone, low_key),
                                    self.compare("<=", zone, high_key))
        values = self.may_hold_value(zone)
        meets = lg.and_(lg.le(low_key, high_key), lg.le(zone.low, high_key),
                        lg.le(low_key, zone.high))
        outside = lg.or_(lg.lt(zone.low, low_key), lg.lt(high_key, zone.high))
        return Possible(lg.and_(values, meets), lg.and_(values, outside),
                        self.may_hold_null(zone))

    def in_list(self, zone: Zone, keys: Sequence[Any]) -> Possible:
        """`column IN (a, b, ...)` is `column = a OR column = b OR ...`."""
        return reduce(self.disjunction, (self.compare("=", zone, key) for key in keys))

    def is_null(self, zone: Zone) -> Possible:
        return Possible(self.may_hold_null(zone), self.may_hold_value(zone), self.logic.false)

    def is_not_null(self, zone: Zone) -> Possible:
        return self.negation(self.is_null(zone))

    # --- connectives: Kleene's three-valued logic --------------------------------------------

    def negation(self, a: Possible) -> Possible:
        return Possible(a.false, a.true, a.unknown)

    def conjunction(self, a: Possible, b: Possible) -> Possible:
        lg = self.logic
        return Possible(lg.and_(a.true, b.true), lg.or_(a.false, b.false),
                        lg.or_(lg.and_(a.unknown, lg.or_(b.true, b.unknown)),
                               lg.and_(b.unknown, lg.or_(a.true, a.unknown))))

    def disjunction(self, a: Possible, b: Possible) -> Possible:
        lg = self.logic
        return Possible(lg.or_(a.true, b.true), lg.and_(a.false, b.false),
                        lg.or_(lg.and_(a.unknown, lg.or_(b.false, b.unknown)),
                               lg.and_(b.unknown, lg.or_(a.false, a.unknown))))


def _key(column: Column, value: Any) -> Any:
    """A value's collation key; NULL stays None."""
    return None if value is None else column.key(value)


class NullBlindPruner(Pruner):
    """Seeded bug: NULLs are thought possible only in a column with no min and max -- one
    that is all NULL -- as if a zone map with bounds had no NULLs. IS NULL (and NOT ... IS NOT
    NULL) then prunes files that hold NULLs among other values."""

    def may_hold_null(self, zone: Zone) -> Any:
        return self.logic.eq(zone.null_count, zone.row_count)
