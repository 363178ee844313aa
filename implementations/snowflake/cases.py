"""The inputs the properties check: a script of statements on one table.

The table is `t (n INTEGER, s VARCHAR, c VARCHAR COLLATE NOCASE)`: an integer column, a
string column in binary order and a case-insensitive one. A script is a list of inserts,
deletes, updates, queries (at the current version or, by time travel, an earlier one) and
warehouse resizes, run on a warehouse of a few workers with small caches. Values are small
and collide often: integers -4..4 and strings of up to two of `a A b B _ space`, which hold
the collation traps ('B' < 'a' in binary order, 'a' = 'A' without case, '_' between 'Z' and
'a', 'a' < 'a ' since trailing spaces count) -- and NULL anywhere.

An insert brings its rows in batches, each written as one micro-partition. As JSON a script
is a list of statements: ["insert", [[[n, s, c], ...], ...]] (batches of rows), ["delete", P],
["update", column, value, P], ["select", version or null, P or null], ["resize", workers];
a predicate P is a list as `models.snowflake` describes (["cmp", "=", "n", 1], ["in", "c",
["a", null]], ["not", P], ...).
"""

from __future__ import annotations

import functools
from typing import Any

import attrs
from hypothesis import strategies as st

from checker.system import Config
from implementations.snowflake.services import CloudServices, Parts
from implementations.snowflake.storage import Column
from models import snowflake_sql as sql

COLUMNS = (Column("n", "int"), Column("s", "text", "binary"), Column("c", "text", "nocase"))
TYPES = {column.name: column.type for column in COLUMNS}
OPS = ("=", "<>", "<", "<=", ">", ">=")
INTS = (-4, 4)
ALPHABET = "aAbB_ "
# strings drawn often: 'B' < 'a' in byte order, 'a' < 'B' without case; 'A' < '_' in byte
# order, '_' < 'A' without case; 'a' < 'a '
TRAPS = ("a", "B", "A", "_", "b", "a ")
KINDS = ("insert", "select", "update", "delete", "resize")
# what a script read from a file may hold: far above what the strategies draw, low enough
# that checking it takes well under a second
MOST_STATEMENTS, MOST_FILES, MOST_ROWS, MOST_TEXT = 32, 16, 64, 16
MOST_DEPTH, MOST_IN, MOST_WORKERS = 6, 8, 16


@attrs.frozen
class Case:
    """A script, and the warehouse it runs on: `workers` workers caching `cache_files` files
    each."""

    workers: int
    cache_files: int
    statements: tuple[tuple, ...]


# --- drawing scripts ------------------------------------------------------------------------


@functools.cache  # one strategy object each: Hypothesis validates every new one
def values(column: str) -> st.SearchStrategy:
    """A column's non-NULL values."""
    if TYPES[column] == "int":
        return st.integers(*INTS)
    return st.sampled_from(TRAPS) | st.text(alphabet=ALPHABET, max_size=2)


@functools.cache
def nullable(column: str) -> st.SearchStrategy:
    return st.none() | values(column)


@functools.cache
def rarely_null(column: str) -> st.SearchStrategy:
    """A literal: NULL one time in eight (a comparison with NULL is never TRUE)."""
    return st.tuples(st.integers(0, 7), values(column)).map(
        lambda drawn: None if drawn[0] == 7 else drawn[1])


def _atoms(column: str) -> list[st.SearchStrategy]:
    return [
        st.tuples(st.just("cmp"), st.sampled_from(OPS), st.just(column), rarely_null(column)),
        st.tuples(st.just("between"), st.just(column), rarely_null(column),
                  rarely_null(column)),
        st.tuples(st.just("in"), st.just(column),
                  st.lists(nullable(column), min_size=1, max_size=3).map(tuple)),
        st.just(("is null", column)), st.just(("is not null", column))]


ATOMS = st.one_of(*(atom for column in COLUMNS for atom in _atoms(column.name)))


def _connectives(inner: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(inner.map(lambda pred: ("not", pred)),
                     st.tuples(st.sampled_from(("and", "or")), inner, inner))


@functools.cache
def predicates(leaves: int) -> st.SearchStrategy:
    """Atoms under NOT, AND and OR, with at most `leaves` atoms and nested at most
    MOST_DEPTH deep. (One recursive strategy, so that Hypothesis can shrink a predicate to
    one of its parts.)"""
    return st.recursive(ATOMS, _connectives, max_leaves=leaves).filter(
        lambda pred: nesting(pred) <= MOST_DEPTH)


def nesting(pred: tuple) -> int:
    return 1 + max(map(nesting, pred[1:])) if pred[0] in ("not", "and", "or") else 0


@functools.cache
def statements(max_files: int, max_file_rows: int, max_workers: int,
               leaves: int) -> st.SearchStrategy:
    """One statement: inserts and queries twice as likely as the others. A query's version
    is drawn from a wide range and clamped to the versions before it (`script`)."""
    row = st.tuples(*(nullable(column.name) for column in COLUMNS))
    batch = st.lists(row, min_size=1, max_size=max_file_rows).map(tuple)
    insert = st.tuples(st.just("insert"),
                       st.lists(batch, min_size=1, max_size=max_files).map(tuple))
    select = st.tuples(st.just("select"), st.none() | st.integers(0, MOST_STATEMENTS),
                       predicates(leaves))
    update = st.one_of(*(st.tuples(st.just("update"), st.just(column.name),
                                   nullable(column.name), predicates(leaves))
                         for column in COLUMNS))
    return st.one_of(insert, select, update, st.tuples(st.just("delete"), predicates(leaves)),
                     insert, select, st.tuples(st.just("resize"), st.integers(1, max_workers)))


def script(drawn: list[tuple]) -> tuple[tuple, ...]:
    """The statements, each query's version clamped to the versions committed before it."""
    done, versions = [], 1
    for stmt in drawn:
        if stmt[0] == "select" and stmt[1] is not None:
            stmt = ("select", min(stmt[1], versions - 1), stmt[2])
        versions += stmt[0] in ("insert", "delete", "update")
        done.append(stmt)
    return tuple(done)


def inputs(config: Config) -> st.SearchStrategy:
    p = config.params
    return st.builds(
        Case, st.integers(1, p["max_workers"]), st.integers(1, p["max_cache_files"]),
        st.lists(statements(p["max_files"], p["max_file_rows"], p["max_workers"],
                            p["predicate_leaves"]),
                 min_size=1, max_size=p["max_statements"]).map(script))


# --- JSON -----------------------------------------------------------------------------------


def to_json(case: Case) -> dict:
    return {"workers": case.workers, "cache_files": case.cache_files,
            "script": [_listed(stmt) for stmt in case.statements]}


def _listed(value: Any) -> Any:
    return [_listed(item) for item in value] if isinstance(value, tuple) else value


def from_json(data: Any, config: Config | None = None) -> Case:
    """The script a JSON value describes; ValueError, saying what is wrong, for anything
    else (a file may be forged)."""
    fields = ["cache_files", "script", "workers"]
    if not isinstance(data, dict) or sorted(data) != fields:
        raise ValueError(f"expected an object of {', '.join(fields)}")
    for field, most in (("workers", MOST_WORKERS), ("cache_files", MOST_ROWS)):
        if not (type(data[field]) is int and 1 <= data[field] <= most):
            raise ValueError(f"{field} must be within 1..{most}")
    script = data["script"]
    if not isinstance(script, list) or not 1 <= len(script) <= MOST_STATEMENTS:
        raise ValueError(f"the script must be a list of 1 to {MOST_STATEMENTS} statements")
    statements, versions = [], 1
    for i, raw in enumerate(script):
        try:
            stmt = _statement(raw, versions)
        except ValueError as exc:
            raise ValueError(f"statement {i}: {exc}") from None
        versions += stmt[0] in ("insert", "delete", "update")
        statements.append(stmt)
    return Case(data["workers"], data["cache_files"], tuple(statements))


def _statement(raw: Any, versions: int) -> tuple:
    if not isinstance(raw, list) or not raw or raw[0] not in KINDS:
        raise ValueError(f"a statement is a list starting with one of {', '.join(KINDS)}")
    kind, args = raw[0], raw[1:]
    shapes = {"insert": 1, "delete": 1, "update": 3, "select": 2, "resize": 1}
    if len(args) != shapes[kind]:
        raise ValueError(f"{kind} takes {shapes[kind]} arguments, not {len(args)}")
    if kind == "insert":
        if not isinstance(args[0], list) or not 1 <= len(args[0]) <= MOST_FILES:
            raise ValueError(f"insert takes a list of 1 to {MOST_FILES} batches")
        return ("insert", tuple(_batch(batch) for batch in args[0]))
    if kind == "delete":
        return ("delete", _predicate(args[0], 0))
    if kind == "update":
        column = _column(args[0])
        return ("update", column, _value(column, args[1]), _predicate(args[2], 0))
    if kind == "select":
        version = args[0]
        if version is not None and not (type(version) is int and 0 <= version < versions):
            raise ValueError(f"a select reads version null or 0..{versions - 1}, not "
                             f"{str(version)[:20]}")
        return ("select", version, None if args[1] is None else _predicate(args[1], 0))
    if not (type(args[0]) is int and 1 <= args[0] <= MOST_WORKERS):
        raise ValueError(f"a warehouse has 1 to {MOST_WORKERS} workers")
    return ("resize", args[0])


def _batch(raw: Any) -> tuple:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MOST_ROWS:
        raise ValueError(f"a batch is a list of 1 to {MOST_ROWS} rows")
    return tuple(_row(row) for row in raw)


def _row(raw: Any) -> tuple:
    if not isinstance(raw, list) or len(raw) != len(COLUMNS):
        raise ValueError(f"a row is a list of {len(COLUMNS)} values")
    return tuple(_value(column.name, value) for column, value in zip(COLUMNS, raw))


def _column(raw: Any) -> str:
    if raw not in TYPES:
        raise ValueError(f"{str(raw)[:20]!r} is not a column ({', '.join(TYPES)})")
    return raw


def _value(column: str, raw: Any) -> Any:
    if raw is None:
        return None
    if TYPES[column] == "int" and type(raw) is int and abs(raw) <= 2**31 - 1:
        return raw
    if TYPES[column] == "text" and isinstance(raw, str) and len(raw) <= MOST_TEXT:
        return raw
    raise ValueError(f"{str(raw)[:20]!r} is not a value of column {column}")


def _predicate(raw: Any, depth: int) -> tuple:
    if depth > MOST_DEPTH:
        raise ValueError(f"predicates nest at most {MOST_DEPTH} deep")
    if not isinstance(raw, list) or not raw:
        raise ValueError("a predicate is a non-empty list")
    kind, args = raw[0], raw[1:]
    if kind == "not" and len(args) == 1:
        return ("not", _predicate(args[0], depth + 1))
    if kind in ("and", "or") and len(args) == 2:
        return (kind, _predicate(args[0], depth + 1), _predicate(args[1], depth + 1))
    if kind == "cmp" and len(args) == 3 and args[0] in OPS:
        column = _column(args[1])
        return ("cmp", args[0], column, _value(column, args[2]))
    if kind == "between" and len(args) == 3:
        column = _column(args[0])
        return ("between", column, _value(column, args[1]), _value(column, args[2]))
    if kind == "in" and len(args) == 2 and isinstance(args[1], list) \
            and 1 <= len(args[1]) <= MOST_IN:
        column = _column(args[0])
        return ("in", column, tuple(_value(column, item) for item in args[1]))
    if kind in ("is null", "is not null") and len(args) == 1:
        return (kind, _column(args[0]))
    raise ValueError(f"{str(raw)[:40]} is not a predicate")


# --- size and description -------------------------------------------------------------------


def size(case: Case) -> int:
    """Rows inserted, plus one for every other statement."""
    return sum(sum(map(len, stmt[1])) if stmt[0] == "insert" else 1
               for stmt in case.statements)


def open_account(parts: Parts, case: Case) -> CloudServices:
    return parts.open(COLUMNS, case.workers, case.cache_files)


def show(case: Case) -> list[str]:
    """The script as SQL, then the files the correct implementation writes for it, with
    their zone maps and the versions that list them."""
    lines = [f"-- a warehouse of {_count(case.workers, 'worker')} caching "
             f"{_count(case.cache_files, 'file')} each",
             sql.create_table(COLUMNS) + ";  -- version 0"]
    account = open_account(Parts(), case)
    for stmt in case.statements:
        outcome = account.execute(stmt)
        version = getattr(outcome, "number", None)
        lines.append(sql.statement(stmt) + ";"
                     + ("" if version is None else f"  -- version {version}"))
    lines += ["", "the files written, with correct zone maps:"]
    versions = account.metadata.versions
    for name, partition in account.store.files.items():
        listed = [v.number for v in versions if name in v.names()]
        meta = next(m for v in versions for m in v.files if m.name == name)
        zones = "; ".join(f"{column.name} [{_bound(z.min)}, {_bound(z.max)}] nulls {z.null_count}"
                          for column, z in zip(COLUMNS, meta.zone_maps))
        rows = ", ".join("(" + ", ".join(sql.literal(v) for v in row) + ")"
                         for row in partition.rows())
        lines.append(f"  {name} in {_spans(listed)}: {zones}")
        lines.append(f"    rows {rows}")
    return lines


def _bound(value: Any) -> str:
    return "-" if value is None else sql.literal(value)


def _spans(numbers: list[int]) -> str:
    """The versions that list a file: one run of consecutive versions."""
    if len(numbers) == 1:
        return f"version {numbers[0]}"
    return f"versions {numbers[0]}-{numbers[-1]}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
