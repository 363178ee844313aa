"""The IPC streaming format: a schema message, record batch messages, end of stream.

Each message is encapsulated as

    0xFFFFFFFF (continuation)  int32 metadata size  Message flatbuffer (padded)  body

where the size counts the flatbuffer and its padding, chosen so that the body starts at a
multiple of 8. The flatbuffer `Message` (Message.fbs) holds the version (V5), a union header
(Schema or RecordBatch) and the body's length. A `Schema` lists fields: name, nullable, a
union type (Int{bitWidth, is_signed}, FloatingPoint{precision}, Bool, Utf8, Binary, List,
Struct_) and child fields. A `RecordBatch` holds its length and, for every array in a
depth-first walk of the columns, a FieldNode (length, null count) and its buffers as
(offset, length) within the body, each buffer starting at a multiple of 8. The stream ends
with 0xFFFFFFFF 0x00000000 (or simply ends).

The format has no offsets: a sliced array is written from its first slot. Validity and bool
bitmaps are copied from the slice's bit offset, fixed-width values cut out, list and string
offsets rebased to start at 0 with their data (or child items) cut to match, and a struct's
children sliced like the struct.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from implementations.arrow import bitmap
from implementations.arrow.array import Array, Arrow, RecordBatch, offset_at, pack_offsets
from implementations.arrow.flatbuf import Scalar, Structs, Table, TableView, Vector, encode, root
from implementations.arrow.types import FIXED_WIDTH, VARIABLE, DataType, Field

CONTINUATION = b"\xff\xff\xff\xff"
END_OF_STREAM = CONTINUATION + bytes(4)
V5 = 4  # MetadataVersion
SCHEMA, RECORD_BATCH = 1, 3  # MessageHeader
TYPE_IDS = {"int64": 2, "float64": 3, "binary": 4, "utf8": 5, "bool": 6, "list": 12,
            "struct": 13}  # the Type union
TYPE_NAMES = {number: name for name, number in TYPE_IDS.items()}
DOUBLE = 2  # Precision
MOST_NESTING = 32  # child fields deeper than this are refused


class IpcError(ValueError):
    """A stream this reader cannot read; the message says why."""


# --- writing ------------------------------------------------------------------------------


def write_stream(arrow: Arrow, schema: tuple[Field, ...], batches: list[RecordBatch]) -> bytes:
    out = bytearray(_message(SCHEMA, _schema(schema), b""))
    for batch in batches:
        header, body = _record_batch(arrow, batch)
        out += _message(RECORD_BATCH, header, body)
    return bytes(out + END_OF_STREAM)


def _message(kind: int, header: Table, body: bytes) -> bytes:
    metadata = encode(Table((Scalar("<h", V5), Scalar("<B", kind), header,
                             Scalar("<q", len(body)))))
    metadata += bytes(-len(metadata) % 8)
    return CONTINUATION + struct.pack("<i", len(metadata)) + metadata + body


def _schema(fields: tuple[Field, ...]) -> Table:
    return Table((None, Vector(tuple(_field(f) for f in fields))))


def _field(field: Field) -> Table:
    kind = field.type.name
    if kind == "int64":
        details = Table((Scalar("<i", 64), Scalar("<?", True)))
    elif kind == "float64":
        details = Table((Scalar("<h", DOUBLE),))
    else:
        details = Table(())
    return Table((field.name, Scalar("<?", field.nullable), Scalar("<B", TYPE_IDS[kind]),
                  details, None, Vector(tuple(_field(f) for f in field.type.fields))))


def _record_batch(arrow: Arrow, batch: RecordBatch) -> tuple[Table, bytes]:
    nodes: list[tuple[int, int]] = []
    buffers: list[bytes] = []
    for column in batch.columns:
        _flatten(arrow, column, nodes, buffers)
    body, spans = bytearray(), []
    for data in buffers:
        spans.append((len(body), len(data)))
        body += data + bytes(-len(data) % 8)
    header = Table((Scalar("<q", batch.length), Structs("<qq", tuple(nodes)),
                    Structs("<qq", tuple(spans))))
    return header, bytes(body)


def _flatten(arrow: Arrow, array: Array, nodes: list, buffers: list) -> None:
    """The array's node and buffers, rebased to start at its first slot, then its children's."""
    start, length, kind = array.offset, array.length, array.type.name
    nodes.append((length, array.null_count))
    buffers.append(bitmap.copy_bits(array.validity, start, length) if array.null_count else b"")
    if kind in FIXED_WIDTH:
        buffers.append(array.buffers[1][8 * start:8 * (start + length)])
    elif kind == "bool":
        buffers.append(bitmap.copy_bits(array.buffers[1], start, length))
    elif kind in VARIABLE or kind == "list":
        bounds = [offset_at(array, start + i) for i in range(length + 1)]
        buffers.append(pack_offsets([b - bounds[0] for b in bounds]))
        if kind == "list":
            items = arrow.slice(array.children[0], bounds[0], bounds[-1] - bounds[0])
            _flatten(arrow, items, nodes, buffers)
        else:
            buffers.append(array.buffers[2][bounds[0]:bounds[-1]])
    else:
        for child in array.children:
            _flatten(arrow, arrow.slice(child, start, length), nodes, buffers)


# --- reading --------------------------------------------------------------------------------


def read_stream(data: bytes) -> tuple[tuple[Field, ...], list[RecordBatch]]:
    schema: tuple[Field, ...] | None = None
    batches = []
    for kind, header, body in _messages(bytes(data)):
        if kind == SCHEMA and schema is None:
            schema = tuple(_read_field(f, 0) for f in header.tables(1))
        elif kind == RECORD_BATCH and schema is not None:
            batches.append(_read_batch(schema, header, body))
        else:
            raise IpcError(f"unexpected message (header type {kind})")
    if schema is None:
        raise IpcError("the stream has no schema")
    return schema, batches


def _messages(data: bytes) -> Iterator[tuple[int, TableView, bytes]]:
    at = 0
    while at < len(data):
        if data[at:at + 4] == CONTINUATION:
            at += 4
        size = _int(data, at, "<i")
        at += 4
        if size == 0:
            return
        if size < 0 or at + size > len(data):
            raise IpcError(f"a message's metadata ({size} bytes) runs past the end")
        message = root(data[at:at + size])
        at += size
        if message.scalar(0, "<h", 0) != V5:
            raise IpcError(f"metadata version {message.scalar(0, '<h', 0)} is not V5")
        header, body_length = message.table(2), message.scalar(3, "<q", 0)
        if header is None or body_length < 0 or at + body_length > len(data):
            raise IpcError("a message has no header, or its body runs past the end")
        yield message.scalar(1, "<B", 0), header, data[at:at + body_length]
        at += body_length


def _int(data: bytes, at: int, fmt: str) -> int:
    if at + struct.calcsize(fmt) > len(data):
        raise IpcError("the stream ends inside a message's prefix")
    return struct.unpack_from(fmt, data, at)[0]


def _read_field(view: TableView, depth: int) -> Field:
    if depth > MOST_NESTING:
        raise IpcError(f"fields nested more than {MOST_NESTING} deep")
    name = view.string(0) or ""
    type_id, details = view.scalar(2, "<B", 0), view.table(3)
    kind = TYPE_NAMES.get(type_id)
    if kind is None or details is None:
        raise IpcError(f"field {name!r} has a type this reader does not know ({type_id})")
    if kind == "int64" and (details.scalar(0, "<i", 0), details.scalar(1, "<?", False)) \
            != (64, True):
        raise IpcError(f"field {name!r}: only signed 64-bit integers are supported")
    if kind == "float64" and details.scalar(0, "<h", 0) != DOUBLE:
        raise IpcError(f"field {name!r}: only 64-bit floating point is supported")
    children = tuple(_read_field(child, depth + 1) for child in view.tables(5))
    if len(children) != (1 if kind == "list" else len(children) if kind == "struct" else 0):
        raise IpcError(f"field {name!r} of type {kind} has {len(children)} children")
    return Field(name, DataType(kind, children), view.scalar(1, "<?", False))


def _read_batch(schema: tuple[Field, ...], header: TableView, body: bytes) -> RecordBatch:
    if header.table(3) is not None:
        raise IpcError("compressed record batches are not supported")
    nodes = iter(header.structs(1, "<qq"))
    spans = iter(header.structs(2, "<qq"))
    columns = tuple(_read_array(f.type, nodes, spans, body) for f in schema)
    length = header.scalar(0, "<q", 0)
    if any(column.length != length for column in columns):
        raise IpcError(f"a column's length differs from the batch's ({length})")
    return RecordBatch(schema, columns)


def _read_array(kind: DataType, nodes: Iterator, spans: Iterator, body: bytes) -> Array:
    length, null_count = _next(nodes, "field nodes")
    validity = _buffer(spans, body) or None
    if length < 0 or not 0 <= null_count <= length or (validity is None and null_count):
        raise IpcError(f"a node of {length} slots and {null_count} nulls without a bitmap")
    name = kind.name
    count = {"list": 1, "struct": 0}.get(name, 2 if name in VARIABLE else 1)
    buffers = [validity, *(_buffer(spans, body) for _ in range(count))]
    if name in VARIABLE or name == "list":
        buffers[1] = buffers[1] or pack_offsets([0])  # an empty array may omit its offsets
    children = tuple(_read_array(f.type, nodes, spans, body) for f in kind.fields)
    array = Array(kind, length, 0, null_count, tuple(buffers), children)
    _check(array)
    return array


def _next(items: Iterator, what: str) -> tuple:
    item = next(items, None)
    if item is None:
        raise IpcError(f"the record batch has too few {what}")
    return item


def _buffer(spans: Iterator, body: bytes) -> bytes:
    start, size = _next(spans, "buffers")
    if start < 0 or size < 0 or start + size > len(body):
        raise IpcError(f"a buffer ({start}, {size}) lies outside the body ({len(body)} bytes)")
    return body[start:start + size]


def _check(array: Array) -> None:
    """The reader's defence against a stream whose buffers do not fit its nodes: every read
    `Arrow.value` makes must stay inside a buffer, and a null count must be its bitmap's."""
    length, name = array.length, array.type.name
    needed = {"int64": 8 * length, "float64": 8 * length, "bool": bitmap.bytes_for(length)}
    too_small = (array.validity is not None and len(array.validity) < bitmap.bytes_for(length)) \
        or len(array.buffers[1] if len(array.buffers) > 1 else b"") < needed.get(name, 0)
    if name in VARIABLE or name == "list":
        too_small |= len(array.buffers[1]) < 4 * (length + 1)
    if too_small:
        raise IpcError(f"a {name} array of {length} slots has a buffer too small for it")
    if array.validity is not None and \
            bitmap.count_unset(array.validity, 0, length) != array.null_count:
        raise IpcError(f"a node's null count {array.null_count} is not its bitmap's")
    if name in VARIABLE or name == "list":
        bounds = [offset_at(array, i) for i in range(length + 1)]
        limit = len(array.buffers[2]) if name in VARIABLE else array.children[0].length
        if bounds[0] < 0 or bounds != sorted(bounds) or bounds[-1] > limit:
            raise IpcError(f"a {name} array's offsets are not increasing within 0..{limit}")
    if name == "struct" and any(child.length < length for child in array.children):
        raise IpcError("a struct's child is shorter than the struct")
