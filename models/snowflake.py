"""The model Snowflake's answers must refine: a table is a list of versions, each a multiset of
rows, and a query at a version is a naive scan of that version with SQL's three-valued logic.

Nothing here knows about micro-partitions, zone maps, pruning or caches: those are how the
implementation gets the same answer faster. The invariants are declared next to the model:

- `answer_problem`: a query's rows are exactly the version's rows whose predicate is TRUE;
- `version_problem`: the rows a version holds are the model's (every DML statement commits
  one new version; older versions stay as they were, which is what time travel reads);
- `covering_problem`: a zone map covers the rows of its partition (every value within
  [min, max] under the column's collation, NULLs counted), which is what pruning relies on;
- `excluded`: whether a zone map rules out an atom for every row it allows -- a partition
  the pruner must skip, for pruning to be worth anything.

Values are int, str or None (NULL). Columns are (name, collation) pairs; a collation orders
and compares strings: `binary` by code point (UTF-8 byte order, where 'B' < 'a' and
'a' < 'a '), `nocase` after lower-casing ('a' = 'A', and '_' < 'A'). Predicates are tuples:
("cmp", op, column, literal) with op one of = <> < <= > >=, ("between", column, low, high),
("in", column, (literal, ...)), ("is null", column), ("is not null", column),
("not", p), ("and", p, q), ("or", p, q); a literal may be None (NULL). A query without a
predicate (None) selects every row.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

Row = tuple[Any, ...]
Columns = Sequence[tuple[str, str]]  # (name, collation)

COLLATIONS: dict[str, Callable[[Any], Any]] = {
    "binary": lambda value: value,
    "nocase": lambda value: value.lower() if isinstance(value, str) else value,
}
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "<>": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}
ATOMS = ("cmp", "between", "in", "is null", "is not null")


# --- three-valued logic: True, False, None for UNKNOWN ---------------------------------------


def not3(a: bool | None) -> bool | None:
    return None if a is None else not a


def and3(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def or3(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def compare(op: str, value: Any, literal: Any, collation: str) -> bool | None:
    """`value op literal` under a collation: UNKNOWN when either side is NULL."""
    if value is None or literal is None:
        return None
    key = COLLATIONS[collation]
    return COMPARISONS[op](key(value), key(literal))


def truth(pred: Any, row: Row, columns: Columns) -> bool | None:
    """The predicate's truth value on one row, as SQL defines it."""
    kind = pred[0]
    if kind in ("not", "and", "or"):
        parts = [truth(p, row, columns) for p in pred[1:]]
        return not3(parts[0]) if kind == "not" else \
            and3(*parts) if kind == "and" else or3(*parts)
    index = [name for name, _ in columns].index(pred[1 if kind != "cmp" else 2])
    value, collation = row[index], columns[index][1]
    if kind == "cmp":
        return compare(pred[1], value, pred[3], collation)
    if kind == "between":  # x BETWEEN lo AND hi is x >= lo AND x <= hi
        return and3(compare(">=", value, pred[2], collation),
                    compare("<=", value, pred[3], collation))
    if kind == "in":  # x IN (a, b) is x = a OR x = b
        result: bool | None = False
        for literal in pred[2]:
            result = or3(result, compare("=", value, literal, collation))
        return result
    return (value is None) == (kind == "is null")


def scan(rows: Sequence[Row], pred: Any, columns: Columns) -> list[Row]:
    """The naive scan: every row whose predicate is TRUE (all rows without a predicate)."""
    return [row for row in rows if pred is None or truth(pred, row, columns) is True]


# --- a table of versions ----------------------------------------------------------------------


class Table:
    """Version 0 is the empty table; every DML statement commits the next version, whether
    or not it changed a row. Versions never change once committed."""

    def __init__(self, columns: Columns) -> None:
        self.columns = tuple(columns)
        self.versions: list[tuple[Row, ...]] = [()]

    @property
    def current(self) -> int:
        return len(self.versions) - 1

    def rows(self, version: int | None = None) -> tuple[Row, ...]:
        return self.versions[self.current if version is None else version]

    def insert(self, rows: Sequence[Row]) -> None:
        self.versions.append(self.rows() + tuple(rows))

    def delete(self, pred: Any) -> None:
        self.versions.append(tuple(row for row in self.rows()
                                   if truth(pred, row, self.columns) is not True))

    def update(self, column: str, value: Any, pred: Any) -> None:
        index = [name for name, _ in self.columns].index(column)
        self.versions.append(tuple(
            row[:index] + (value,) + row[index + 1:]
            if truth(pred, row, self.columns) is True else row for row in self.rows()))

    def select(self, version: int | None, pred: Any) -> list[Row]:
        return scan(self.rows(version), pred, self.columns)


# --- the invariants ------------------------------------------------------------------------------


def row_order(row: Row) -> tuple:
    """A total order on rows with NULLs, to compare multisets as sorted lists."""
    return tuple((value is None, str(type(value)), value if value is not None else 0)
                 for value in row)


def same_rows(a: Sequence[Row], b: Sequence[Row]) -> bool:
    return Counter(a) == Counter(b)


def missing_and_extra(got: Sequence[Row], expected: Sequence[Row]) -> tuple[list[Row], list[Row]]:
    """The rows expected but not got, and got but not expected (as multisets)."""
    have, want = Counter(got), Counter(expected)
    return (sorted((want - have).elements(), key=row_order),
            sorted((have - want).elements(), key=row_order))


def answer_problem(got: Sequence[Row], expected: Sequence[Row]) -> str | None:
    """A query's answer must be the naive scan's, row for row (as a multiset)."""
    missing, extra = missing_and_extra(got, expected)
    if not missing and not extra:
        return None
    parts = [f"{len(got)} rows where the naive scan gives {len(expected)}"]
    if missing:
        parts.append(f"missing {_rows(missing)}")
    if extra:
        parts.append(f"extra {_rows(extra)}")
    return ", ".join(parts)


def version_problem(version: int, got: Sequence[Row], expected: Sequence[Row]) -> str | None:
    """A committed version must hold exactly the model's rows for it."""
    problem = answer_problem(got, expected)
    return None if problem is None else f"version {version} holds {problem}"


def covering_problem(zone: tuple[Any, Any, int], values: Sequence[Any], collation: str,
                     row_count: int) -> str | None:
    """A zone map (min, max, null_count) covers a partition's column when every value lies in
    [min, max] under the column's collation, a NULL is counted whenever there is one, and
    the non-NULL values are counted too (null_count < row_count) whenever there are any. A
    zone map may be wider than its values (pruning less is safe); never narrower."""
    low, high, nulls = zone
    key = COLLATIONS[collation]
    if row_count != len(values):
        return f"row count {row_count}, but the partition holds {len(values)} rows"
    if None in values and nulls <= 0:
        return f"null count {nulls}, but the column holds a NULL"
    present = [value for value in values if value is not None]
    if present and nulls >= row_count:
        return f"null count {nulls} of {row_count} rows, but the column holds {present[0]!r}"
    outside = [value for value in present
               if low is None or high is None or not key(low) <= key(value) <= key(high)]
    if outside:
        return f"{outside[0]!r} lies outside [min {low!r}, max {high!r}] under the " \
               f"{collation} collation"
    return None


def literals(pred: Any) -> list[Any]:
    """The non-NULL literals an atom names."""
    if pred[0] == "cmp":
        found = [pred[3]]
    elif pred[0] == "between":
        found = [pred[2], pred[3]]
    elif pred[0] == "in":
        found = list(pred[2])
    else:
        found = []
    return [literal for literal in found if literal is not None]


def excluded(atom: Any, zone: tuple[Any, Any, int], collation: str, row_count: int) -> bool:
    """Whether an atom is FALSE or UNKNOWN for every value a zone map allows: NULL when
    null_count > 0, and when some value is not NULL, every value in [min, max]. It is enough
    to try min, max, NULL and the atom's own literals within [min, max]: each atom's TRUE set
    is an interval or all but one point, so if it meets [min, max] it meets it at one of
    those."""
    low, high, nulls = zone
    key = COLLATIONS[collation]
    candidates: list[Any] = [None] if nulls > 0 else []
    if nulls < row_count and low is not None and high is not None:
        candidates += [low, high] + [literal for literal in literals(atom)
                                     if key(low) <= key(literal) <= key(high)]
    column = atom[2] if atom[0] == "cmp" else atom[1]
    return all(truth(atom, (value,), [(column, collation)]) is not True
               for value in candidates)


def _rows(rows: Sequence[Row]) -> str:
    shown = ", ".join(show_row(row) for row in rows[:4])
    return shown + (f" and {len(rows) - 4} more" if len(rows) > 4 else "")


def show_row(row: Row) -> str:
    return "(" + ", ".join("NULL" if value is None else repr(value) for value in row) + ")"
