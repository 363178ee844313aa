"""Logical types and fields: what a column holds, independent of how it is laid out.

A type is a name and, for nested types, child fields: a list has one child (named "item"),
a struct one per member. Every field here is nullable, as pyarrow's are by default. Types
travel as small JSON values (`to_json`/`from_json`), the form the model and the generated
inputs use: "int64", "float64", "bool", "utf8", "binary", {"list": T},
{"struct": [[name, T], ...]}.
"""

from __future__ import annotations

from typing import Any

import attrs

PRIMITIVE = ("int64", "float64", "bool", "utf8", "binary")
FIXED_WIDTH = {"int64": "<q", "float64": "<d"}  # struct formats of 8-byte values
VARIABLE = ("utf8", "binary")  # offsets into a data buffer


@attrs.frozen
class DataType:
    name: str  # one of PRIMITIVE, "list" or "struct"
    fields: tuple[Field, ...] = ()  # a list's item, a struct's members


@attrs.frozen
class Field:
    name: str
    type: DataType
    nullable: bool = True


def list_of(item: DataType) -> DataType:
    return DataType("list", (Field("item", item),))


def struct_of(members: list[tuple[str, DataType]]) -> DataType:
    return DataType("struct", tuple(Field(name, kind) for name, kind in members))


def to_json(kind: DataType) -> Any:
    if kind.name == "list":
        return {"list": to_json(kind.fields[0].type)}
    if kind.name == "struct":
        return {"struct": [[f.name, to_json(f.type)] for f in kind.fields]}
    return kind.name


def from_json(data: Any) -> DataType:
    """The type a JSON value names. The value must be one `models.arrow.is_type` accepts."""
    if isinstance(data, str):
        return DataType(data)
    if "list" in data:
        return list_of(from_json(data["list"]))
    return struct_of([(name, from_json(member)) for name, member in data["struct"]])
