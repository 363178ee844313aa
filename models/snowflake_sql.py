"""The Snowflake model's statements and predicates as SQL text: for reports and lessons, and for
the tests, which run the same SQL on DuckDB. Time travel is written `AT(VERSION => k)`
(Snowflake names a version by `AT(TIMESTAMP => ...)`, `AT(OFFSET => ...)` or
`AT(STATEMENT => ...)`). It lives beside the model, not in the warehouse's package: no part of
the warehouse runs it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


def predicate(pred: Any) -> str:
    kind = pred[0]
    if kind == "cmp":
        return f"{pred[2]} {pred[1]} {literal(pred[3])}"
    if kind == "between":
        return f"{pred[1]} BETWEEN {literal(pred[2])} AND {literal(pred[3])}"
    if kind == "in":
        return f"{pred[1]} IN ({', '.join(literal(item) for item in pred[2])})"
    if kind in ("is null", "is not null"):
        return f"{pred[1]} {kind.upper()}"
    if kind == "not":
        return f"NOT ({predicate(pred[1])})"
    return f" {kind.upper()} ".join(_operand(p) for p in pred[1:])


def _operand(pred: Any) -> str:
    text = predicate(pred)
    return f"({text})" if pred[0] in ("and", "or") else text


def create_table(columns: Sequence[Any], table: str = "t") -> str:
    """`columns`: each with a name, a type ("int" or "text") and a collation."""
    return f"CREATE TABLE {table} (" + ", ".join(
        f"{c.name} {'INTEGER' if c.type == 'int' else 'VARCHAR'}"
        + (f" COLLATE {c.collation.upper()}" if c.collation != "binary" else "")
        for c in columns) + ")"


def select(version: int | None, pred: Any, table: str = "t") -> str:
    source = table if version is None else f"{table} AT(VERSION => {version})"
    return f"SELECT * FROM {source}" + ("" if pred is None else f" WHERE {predicate(pred)}")


def statement(stmt: tuple, table: str = "t") -> str:
    kind = stmt[0]
    if kind == "insert":  # its batches, one after the other
        rows = ", ".join("(" + ", ".join(literal(v) for v in row) + ")"
                         for batch in stmt[1] for row in batch)
        return f"INSERT INTO {table} VALUES {rows}"
    if kind == "delete":
        return f"DELETE FROM {table} WHERE {predicate(stmt[1])}"
    if kind == "update":
        return f"UPDATE {table} SET {stmt[1]} = {literal(stmt[2])} WHERE {predicate(stmt[3])}"
    if kind == "select":
        return select(stmt[1], stmt[2], table)
    return f"ALTER WAREHOUSE wh SET WORKERS = {stmt[1]}"
