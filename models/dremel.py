"""The model of Dremel's nested columnar storage and its queries: records as nested Python
values, and the rules their columns must obey.

A schema is JSON: a list of fields, each {"name", "repetition", "type"} for an atomic field
(type "int64" or "string") or {"name", "repetition", "fields"} for a group, with repetition
"required", "optional" or "repeated". A record is a dict holding every field of its group:
a required field's value, an optional field's value or None, a repeated field's list
(possibly empty); a group's value is again such a dict. A column is named by the dotted path
of an atomic field, e.g. "Name.Language.Code".

What the columnar code must implement is plain here:

- `stripe`: each column as the paper defines its levels, one column at a time. A column
  entry is (value, r, d): the value, or None for NULL; r, the repetition level, says at which
  repeated field of the path the value repeated (0: a new record); d, the definition level,
  says how many of the path's optional and repeated fields are present.
- `project`: a record restricted to some columns (what partial assembly must return): a
  group stays when it is present, holding only the fields that lead to a chosen column.
- `evaluate`: a query row by row: one row per distinct GROUP BY key among the records,
  aggregating every value the records hold at the value path.
- `column_problems`: the invariants every striped column set obeys, whatever the records.
"""

from __future__ import annotations

from typing import Any

REPETITIONS = ("required", "optional", "repeated")
TYPES = ("int64", "string")
AGGREGATES = ("COUNT", "SUM", "MIN", "MAX", "AVG")
NUMERIC_AGGREGATES = ("SUM", "AVG")  # those that need int64 values
INT64 = (-(2**63), 2**63 - 1)

Entry = tuple[Any, int, int]  # (value or None, repetition level, definition level)


# --- schemas --------------------------------------------------------------------------------


def is_group(field: dict) -> bool:
    return "fields" in field


def leaf_paths(schema: list[dict], prefix: str = "") -> list[str]:
    """The columns of a schema: the dotted paths of its atomic fields, in schema order."""
    paths = []
    for field in schema:
        path = prefix + field["name"]
        paths += leaf_paths(field["fields"], path + ".") if is_group(field) else [path]
    return paths


def chain(schema: list[dict], path: str) -> list[dict]:
    """The fields along a dotted path, from the top."""
    fields, found = schema, []
    for name in path.split("."):
        field = next(f for f in fields if f["name"] == name)
        found.append(field)
        fields = field.get("fields", [])
    return found


def max_levels(schema: list[dict], path: str) -> tuple[int, int]:
    """A column's maximum repetition and definition levels: its repeated fields, and its
    optional and repeated fields."""
    fields = chain(schema, path)
    return (sum(f["repetition"] == "repeated" for f in fields),
            sum(f["repetition"] != "required" for f in fields))


def schema_problem(schema: Any, most_fields: int, most_depth: int) -> str | None:
    """What is wrong with `schema` as a schema, or None."""
    problem = _fields_problem(schema, 1, most_depth)
    if problem:
        return problem
    if count_fields(schema) > most_fields:
        return f"a schema has at most {most_fields} fields"
    return None


def count_fields(schema: list[dict]) -> int:
    return sum(1 + (count_fields(f["fields"]) if is_group(f) else 0) for f in schema)


def _fields_problem(fields: Any, depth: int, most_depth: int) -> str | None:
    if depth > most_depth:
        return f"groups nest more than {most_depth} deep"
    if not isinstance(fields, list) or not fields:
        return "a group is a non-empty list of fields"
    names = []
    for field in fields:
        if not isinstance(field, dict) or not isinstance(field.get("name"), str) \
                or not field["name"].isidentifier() or not field["name"].isascii():
            return "a field is an object with a name (an identifier)"
        names.append(field["name"])
        if field.get("repetition") not in REPETITIONS:
            return f"field {field['name']}: repetition must be one of {', '.join(REPETITIONS)}"
        if sorted(field) == ["name", "repetition", "type"]:
            if field["type"] not in TYPES:
                return f"field {field['name']}: type must be one of {', '.join(TYPES)}"
        elif sorted(field) == ["fields", "name", "repetition"]:
            if problem := _fields_problem(field["fields"], depth + 1, most_depth):
                return problem
        else:
            return f"field {field['name']}: an atomic field has a type, a group has fields"
    if len(set(names)) != len(names):
        return "the fields of a group must have distinct names"
    return None


# --- records ----------------------------------------------------------------------------------


def record_problem(schema: list[dict], record: Any, most_items: int) -> str | None:
    """What keeps `record` from being a record of `schema`, or None."""
    if not isinstance(record, dict) or sorted(record) != sorted(f["name"] for f in schema):
        return f"a record of this group holds exactly {[f['name'] for f in schema]}"
    for field in schema:
        value = record[field["name"]]
        if field["repetition"] == "repeated":
            if not isinstance(value, list) or len(value) > most_items:
                return f"{field['name']} is repeated: a list of at most {most_items}"
            instances = value
        elif value is None:
            if field["repetition"] == "required":
                return f"{field['name']} is required"
            instances = []
        else:
            instances = [value]
        for instance in instances:
            if problem := _value_problem(field, instance, most_items):
                return problem
    return None


def _value_problem(field: dict, value: Any, most_items: int) -> str | None:
    if is_group(field):
        return record_problem(field["fields"], value, most_items)
    if field["type"] == "int64" and type(value) is int and INT64[0] <= value <= INT64[1]:
        return None
    if field["type"] == "string" and type(value) is str:
        return None
    return f"{field['name']}: {str(value)[:20]!r} is not a {field['type']}"


def values_at(record: dict, path: str) -> list[Any]:
    """Every value the record holds at a dotted path, in order (repeated fields flattened,
    missing ones skipped)."""
    name, _, rest = path.partition(".")
    value = record[name]
    instances = value if isinstance(value, list) else [] if value is None else [value]
    return instances if not rest else [v for i in instances for v in values_at(i, rest)]


def project(schema: list[dict], records: list[dict], paths: list[str]) -> list[dict]:
    """The records restricted to the columns `paths`: partial assembly's answer."""
    return [_projected(schema, record, set(paths), "") for record in records]


def _projected(fields: list[dict], record: dict, paths: set[str], prefix: str) -> dict:
    out = {}
    for field in fields:
        path = prefix + field["name"]
        if not any(p == path or p.startswith(path + ".") for p in paths):
            continue
        value = record[field["name"]]
        if not is_group(field):
            out[field["name"]] = value
        elif field["repetition"] == "repeated":
            out[field["name"]] = [_projected(field["fields"], v, paths, path + ".")
                                  for v in value]
        else:
            out[field["name"]] = None if value is None else \
                _projected(field["fields"], value, paths, path + ".")
    return out


# --- columns ----------------------------------------------------------------------------------


def stripe(schema: list[dict], records: list[dict]) -> dict[str, list[Entry]]:
    """Every column of the records, each by the definitions of its levels."""
    return {path: [entry for record in records for entry in column(schema, record, path)]
            for path in leaf_paths(schema)}


def column(schema: list[dict], record: dict, path: str) -> list[Entry]:
    """One record's entries in one column. Walking down the path, a field's first instance
    keeps the repetition level it was reached with, its later instances repeat at the
    field's own level; a field that is absent ends the walk with one NULL, defined as deep as
    the fields present above it."""
    fields = chain(schema, path)
    entries: list[Entry] = []

    def walk(value: dict, depth: int, r: int, d: int, level: int) -> None:
        field = fields[depth]
        repeated = field["repetition"] == "repeated"
        level += repeated
        got = value[field["name"]]
        instances = got if repeated else [] if got is None else [got]
        if not instances:
            entries.append((None, r, d))
        for i, instance in enumerate(instances):
            here_r = r if i == 0 else level
            here_d = d + (field["repetition"] != "required")
            if depth == len(fields) - 1:
                entries.append((instance, here_r, here_d))
            else:
                walk(instance, depth + 1, here_r, here_d, level)

    walk(record, 0, 0, 0, 0)
    return entries


def column_problems(schema: list[dict], columns: dict[str, list[Entry]]) -> list[str]:
    """The rules any set of striped columns obeys: one column per atomic field; levels
    within the column's maximums; a value exactly when the definition level is the maximum;
    every record starting at repetition level 0; a value repeating at level r defined at
    least down to the r-th repeated field of its path; as many records in every column."""
    problems = []
    if sorted(columns) != sorted(leaf_paths(schema)):
        return [f"the columns are {sorted(columns)}, not {sorted(leaf_paths(schema))}"]
    counts = {}
    for path, entries in columns.items():
        max_r, max_d = max_levels(schema, path)
        repeated_at = _definition_of_repeated(schema, path)
        for i, (value, r, d) in enumerate(entries):
            where = f"{path} entry {i} ({_show(value)}, r={r}, d={d})"
            if not (0 <= r <= max_r and 0 <= d <= max_d):
                problems.append(f"{where}: levels outside r 0..{max_r}, d 0..{max_d}")
            elif (value is None) != (d < max_d):
                problems.append(f"{where}: a value needs d = {max_d}, a NULL less")
            elif i == 0 and r != 0:
                problems.append(f"{where}: a column starts a record at r = 0")
            elif r > 0 and d < repeated_at[r - 1]:
                problems.append(f"{where}: repeating at level {r} needs d >= "
                                f"{repeated_at[r - 1]}")
        counts[path] = sum(r == 0 for _, r, _ in entries)
    if len(set(counts.values())) > 1:
        problems.append(f"the columns hold different numbers of records: {counts}")
    return problems


def _definition_of_repeated(schema: list[dict], path: str) -> list[int]:
    """The definition level of each repeated field along a column's path."""
    levels, d = [], 0
    for field in chain(schema, path):
        d += field["repetition"] != "required"
        if field["repetition"] == "repeated":
            levels.append(d)
    return levels


def _show(value: Any) -> str:
    return "NULL" if value is None else repr(value)


# --- queries ------------------------------------------------------------------------------------


def evaluate(schema: list[dict], records: list[dict], query: dict) -> list[list[Any]]:
    """SELECT [group_by,] aggregate(value) FROM records [GROUP BY group_by], row by row:
    [[key, result], ...] sorted by key (None first; the key is None for every record when
    there is no GROUP BY). COUNT counts the values, SUM, MIN, MAX and AVG of no values are
    None (SQL's NULL)."""
    groups: dict[Any, list[Any]] = {}
    for record in records:
        key = (values_at(record, query["group_by"]) or [None])[0] \
            if query["group_by"] else None
        groups.setdefault(key, []).extend(values_at(record, query["value"]))
    return [[key, aggregate(query["aggregate"], groups[key])] for key in sorted_keys(groups)]


def sorted_keys(keys: Any) -> list[Any]:
    return sorted(keys, key=lambda key: (key is not None, key))


def aggregate(name: str, values: list[Any]) -> Any:
    if name == "COUNT":
        return len(values)
    if not values:
        return None
    if name == "AVG":
        return sum(values) / len(values)
    return {"SUM": sum, "MIN": min, "MAX": max}[name](values)
