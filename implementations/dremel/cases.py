"""The inputs the properties check: a schema, records of it, and what to do with them.

A `Case` is a generated schema (required, optional and repeated fields, groups nested a few
deep, fields named a, b, c... in schema order) and records of it; the columns to assemble
partially; a query; the records' split into tablets (cut at record positions), the tablets
whose primary replica straggles, the percentage an approximate answer waits for, and the
serving tree's shape (leaf servers, and how many of them hang under an intermediate
server). In a replay file it is JSON, the schema and records in `models.dremel`'s format.
"""

from __future__ import annotations

import functools
import json
import string
from typing import Any

import attrs
from hypothesis import strategies as st

from checker.system import Config
from implementations.dremel import schema as s
from implementations.dremel.query import AGGREGATES, Query
from models import dremel as model

# what a case read from a file may hold: far above what the strategies draw, low enough that
# checking it takes well under a second
MOST_FIELDS, MOST_DEPTH, MOST_RECORDS, MOST_ITEMS = 16, 4, 64, 16
MOST_TABLETS, MOST_SERVERS, MOST_FANOUT, MOST_TEXT, MOST_SIZE = 16, 16, 8, 16, 4096
KEYS = ["columns", "cuts", "fanout", "leaves", "percent", "query", "records", "schedule",
        "schema", "slow"]
MOST_SCHEDULE = 2**32 - 1


@attrs.frozen
class Case:
    schema: list[dict]
    records: list[dict]
    columns: tuple[str, ...]  # for partial assembly, in schema order
    query: Query
    cuts: tuple[int, ...]  # tablet i holds records cuts[i-1]:cuts[i]
    slow: tuple[int, ...]  # tablets whose primary replica straggles
    percent: int  # what an approximate answer waits for
    leaves: int  # leaf servers
    fanout: int  # leaf servers under each intermediate server
    schedule: int  # seeds the order of the serving tree's messages and timers

    def tablets(self) -> list[list[dict]]:
        bounds = [0, *self.cuts, len(self.records)]
        return [self.records[a:b] for a, b in zip(bounds, bounds[1:])]


# --- drawing cases ------------------------------------------------------------------------------


def schemas(most_fields: int, most_depth: int) -> st.SearchStrategy:
    """Schemas of at most `most_fields` fields, at most three to a group, groups nested at
    most `most_depth` deep; shrinking makes fields fewer, atomic and required."""
    return _fields(1, most_depth).map(
        lambda fields: _named(_pruned(fields, [most_fields]), iter(string.ascii_lowercase)))


@functools.cache  # one strategy object per depth: Hypothesis validates each new one
def _fields(depth: int, most_depth: int) -> st.SearchStrategy:
    repetition = st.sampled_from(model.REPETITIONS)
    field = st.fixed_dictionaries({"repetition": repetition,
                                   "type": st.sampled_from(model.TYPES)})
    if depth < most_depth:
        field = field | st.fixed_dictionaries({"repetition": repetition,
                                               "fields": _fields(depth + 1, most_depth)})
    return st.lists(field, min_size=1, max_size=3)


def _pruned(fields: list[dict], left: list[int]) -> list[dict]:
    """The fields, in schema order, while the budget `left` lasts (a group with no room
    left for a child becomes an atomic field)."""
    kept = []
    for field in fields:
        if left[0] == 0:
            break
        left[0] -= 1
        if "fields" in field:
            field = {"repetition": field["repetition"], "type": "int64"} if left[0] == 0 \
                else {**field, "fields": _pruned(field["fields"], left)}
        kept.append(field)
    return kept


def _named(fields: list[dict], names: Any) -> list[dict]:
    named = []
    for field in fields:
        named.append({"name": next(names), **field})
        if "fields" in field:
            named[-1]["fields"] = _named(field["fields"], names)
    return named


VALUES = {"int64": st.integers(-100, 100), "string": st.text("xyz", max_size=2)}


def records(schema: list[dict], most_items: int) -> st.SearchStrategy:
    return st.fixed_dictionaries({field["name"]: _values(field, most_items)
                                  for field in schema})


def _values(field: dict, most_items: int) -> st.SearchStrategy:
    one = records(field["fields"], most_items) if "fields" in field else VALUES[field["type"]]
    if field["repetition"] == "required":
        return one
    if field["repetition"] == "optional":
        return st.none() | one
    return st.lists(one, max_size=most_items)


@st.composite
def queries(draw: st.DrawFn, schema: list[dict]) -> Query:
    paths = model.leaf_paths(schema)
    aggregate = draw(st.sampled_from(AGGREGATES))
    numeric = [p for p in paths if model.chain(schema, p)[-1]["type"] == "int64"]
    candidates = numeric if aggregate in model.NUMERIC_AGGREGATES else paths
    if not candidates:
        aggregate, candidates = "COUNT", paths
    keys = [p for p in paths if model.max_levels(schema, p)[0] == 0]
    group_by = draw(st.none() | st.sampled_from(keys)) if keys else None
    return Query(aggregate, draw(st.sampled_from(candidates)), group_by)


@st.composite
def cases(draw: st.DrawFn, params: dict) -> Case:
    schema = draw(schemas(params["max_fields"], params["max_depth"]))
    drawn = draw(st.lists(records(schema, params["max_repeat"]),
                          max_size=params["max_records"]))
    paths = model.leaf_paths(schema)
    chosen = draw(st.lists(st.sampled_from(paths), min_size=1, unique=True))
    query = draw(queries(schema))
    cuts = sorted(draw(st.lists(st.integers(0, len(drawn)),
                                max_size=params["max_tablets"] - 1)))
    slow = draw(st.lists(st.integers(0, len(cuts)), unique=True))
    return Case(schema, drawn, tuple(p for p in paths if p in chosen), query, tuple(cuts),
                tuple(sorted(slow)), draw(st.integers(1, 100)),
                draw(st.integers(1, params["max_servers"])), draw(st.integers(1, 3)),
                draw(st.integers(0, MOST_SCHEDULE)))


def inputs(config: Config) -> st.SearchStrategy:
    return cases(config.params)


# --- JSON ---------------------------------------------------------------------------------------


def to_json(case: Case) -> dict:
    return {"schema": case.schema, "records": case.records, "columns": list(case.columns),
            "query": {"aggregate": case.query.aggregate, "value": case.query.value,
                      "group_by": case.query.group_by},
            "cuts": list(case.cuts), "slow": list(case.slow), "percent": case.percent,
            "leaves": case.leaves, "fanout": case.fanout, "schedule": case.schedule}


def from_json(data: Any, config: Config | None = None) -> Case:
    """The case a JSON value describes; ValueError, saying what is wrong, for anything else."""
    if not isinstance(data, dict) or sorted(data) != KEYS:
        raise ValueError(f"expected an object of {', '.join(KEYS)}")
    schema = data["schema"]
    if problem := model.schema_problem(schema, MOST_FIELDS, MOST_DEPTH):
        raise ValueError(f"schema: {problem}")
    rows = data["records"]
    if not isinstance(rows, list) or len(rows) > MOST_RECORDS:
        raise ValueError(f"records must be a list of at most {MOST_RECORDS}")
    for i, record in enumerate(rows):
        if problem := model.record_problem(schema, record, MOST_ITEMS):
            raise ValueError(f"record {i}: {problem}")
    paths = model.leaf_paths(schema)
    chosen = data["columns"]
    if not (isinstance(chosen, list) and chosen and all(c in paths for c in chosen)
            and chosen == [p for p in paths if p in chosen]):
        raise ValueError("columns must be some of the schema's columns, in schema order")
    cuts, slow = data["cuts"], data["slow"]
    if not (_ints(cuts) and len(cuts) < MOST_TABLETS and cuts == sorted(cuts)
            and all(0 <= cut <= len(rows) for cut in cuts)):
        raise ValueError(f"cuts must be fewer than {MOST_TABLETS} sorted record positions")
    if not (_ints(slow) and slow == sorted(set(slow))
            and all(0 <= t <= len(cuts) for t in slow)):
        raise ValueError("slow must be distinct tablet numbers, sorted")
    for key, least, most in (("percent", 1, 100), ("leaves", 1, MOST_SERVERS),
                             ("fanout", 1, MOST_FANOUT), ("schedule", 0, MOST_SCHEDULE)):
        if type(data[key]) is not int or not least <= data[key] <= most:
            raise ValueError(f"{key} must be an integer within {least}..{most}")
    case = Case(schema, rows, tuple(chosen), _query(data["query"], schema), tuple(cuts),
                tuple(slow), data["percent"], data["leaves"], data["fanout"], data["schedule"])
    if size(case) > MOST_SIZE:
        raise ValueError(f"{size(case)} fields and values in all, more than {MOST_SIZE}")
    if any(len(v) > MOST_TEXT for r in rows for p in paths for v in model.values_at(r, p)
           if isinstance(v, str)):
        raise ValueError(f"strings hold at most {MOST_TEXT} characters")
    return case


def _ints(value: Any) -> bool:
    return isinstance(value, list) and all(type(x) is int for x in value)


def _query(data: Any, schema: list[dict]) -> Query:
    paths = model.leaf_paths(schema)
    if not isinstance(data, dict) or sorted(data) != ["aggregate", "group_by", "value"]:
        raise ValueError("query must be an object of aggregate, value and group_by")
    if data["aggregate"] not in AGGREGATES or data["value"] not in paths:
        raise ValueError(f"query: an aggregate ({', '.join(AGGREGATES)}) of a column")
    if data["aggregate"] in model.NUMERIC_AGGREGATES and \
            model.chain(schema, data["value"])[-1]["type"] != "int64":
        raise ValueError(f"query: {data['aggregate']} needs an int64 column")
    key = data["group_by"]
    if key is not None and (key not in paths or model.max_levels(schema, key)[0] != 0):
        raise ValueError("query: group_by must be a column that does not repeat")
    return Query(data["aggregate"], data["value"], key)


# --- size and description -------------------------------------------------------------------


def size(case: Case) -> int:
    """The schema's fields, plus the records and every value and nested record in them."""
    return model.count_fields(case.schema) + sum(_items(case.schema, r) for r in case.records)


def _items(fields: list[dict], record: dict) -> int:
    count = 1
    for field in fields:
        value = record[field["name"]]
        for instance in value if isinstance(value, list) else [] if value is None else [value]:
            count += _items(field["fields"], instance) if "fields" in field else 1
    return count


def show(case: Case) -> list[str]:
    """The schema in the paper's syntax, the records, and their columns as the paper defines
    them (the model's striping), then what the other properties do with the case."""
    lines = [*s.declaration(case.schema),
             f"{len(case.records)} record" + ("" if len(case.records) == 1 else "s") + ":"]
    lines += [f"  r{i + 1}: {json.dumps(record)}" for i, record in enumerate(case.records)]
    lines.append("columns (value r d):")
    for path, entries in model.stripe(case.schema, case.records).items():
        max_r, max_d = model.max_levels(case.schema, path)
        shown = ", ".join(f"{s.show_value(v)} {r} {d}" for v, r, d in entries) or "(empty)"
        lines.append(f"  {path} (max r {max_r}, max d {max_d}): {shown}")
    lines += [f"partial assembly of: {', '.join(case.columns)}", f"query: {case.query}",
              f"{len(case.cuts) + 1} tablet(s) cut at {list(case.cuts)}, slow {list(case.slow)}; "
              f"{case.leaves} leaf server(s), {case.fanout} to an intermediate; approximate "
              f"answer after {case.percent}%; schedule {case.schedule}"]
    return lines
