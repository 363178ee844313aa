"""Load histories recorded outside deepdives: JSON lines, or the EDN that Jepsen writes.

Both formats carry the same events (see docs/history-format.md): maps with `process`, `type`
(invoke | ok | fail | info), `f`, `value` and an optional integer `time`. EDN keywords become
strings (`:read` -> "read"), vectors and lists become lists, sets frozensets. Anything that
cannot be used raises `HistoryFileError`, whose message names the file, the line, and what was
expected there.

Outside text is hostile until shown otherwise: only regular files are opened (a FIFO would block
the check forever), values nest at most `MAX_DEPTH` levels (the readers and the checkers
recurse), numbers are finite (NaN equals nothing, not even itself, so a history holding one
could only look violated) and integers within Python's digit limit. Process and f names, which
every output shows, are read with their unprintable characters escaped (`printable_name`).
"""

from __future__ import annotations

import bisect
import json
import math
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from checker.files import UnreadableFile, read_regular_file
from invariants.history import FAIL, INFO, INVOKE, OK, Event, kind_of

FORMATS = ("jsonl", "edn")
EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".edn": "edn"}
TYPES = (INVOKE, OK, FAIL, INFO)
MAX_DEPTH = 100
"""How deeply values may nest, counting the event map: histories need four or five levels."""
_NESTING = f"values nested at most {MAX_DEPTH} levels deep (counting the event map)"
_FINITE = "a finite number (NaN and infinities cannot be compared as values)"


class HistoryFileError(ValueError):
    """A history file that cannot be used; the message says where and what was expected."""


@attrs.frozen
class HistoryFile:
    """A history's events, and the line of the file where each one starts."""

    source: str
    events: list[Event]
    lines: list[int]
    keys: list[Any] = attrs.field(factory=list)
    """Each event's `key` field, None where it has none (empty: no event has one). Key-value
    histories may carry the key beside the value (`{:f :append, :key "7", :value "x"}`)."""

    def where(self, position: int) -> str:
        """Where the event at `position` is, for messages: "FILE, line N"."""
        return f"{self.source}, line {self.lines[position]}"


def format_of(path: str | Path) -> str | None:
    """The format its extension implies, or None."""
    return EXTENSIONS.get(Path(path).suffix.lower())


def load_history(path: str | Path, fmt: str | None = None) -> HistoryFile:
    """The events of a history file; `fmt` ("jsonl" or "edn") defaults to the extension's."""
    fmt = fmt or format_of(path)
    if fmt not in FORMATS:
        raise HistoryFileError(f"{path}: cannot tell the format from the extension; expected "
                               f"{', '.join(EXTENSIONS)} or an explicit format (jsonl or edn)")
    parse = parse_jsonl if fmt == "jsonl" else parse_edn_history
    return parse(_read_text(Path(path)), str(path))


def _read_text(path: Path) -> str:
    """The text of a regular file (`checker.files`: a FIFO or a device cannot hang it)."""
    try:
        data = read_regular_file(path)
    except UnreadableFile as exc:
        raise HistoryFileError(f"{path}: {exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise HistoryFileError(f"{path}, line {line}: expected UTF-8 text, found the byte "
                               f"{data[exc.start]:#04x}") from None


def parse_jsonl(text: str, source: str = "<history>") -> HistoryFile:
    """One JSON object per line; blank lines are skipped. Lines end at "\n" only: JSON strings
    may hold U+2028 and other characters that str.splitlines() would break at."""
    records = []
    for number, line in enumerate(text.split("\n"), 1):
        if line.strip():
            records.append((number, _json_record(line, f"{source}, line {number}")))
    return _events(records, source)


class _NotFinite(Exception):
    """Raised from inside the JSON decoder, which lets it through untouched."""


def _reject_not_finite(text: str) -> float:
    raise _NotFinite(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text)
    return value


# No parse_int hook: calling one per integer makes loading three times slower, and the only
# ValueError the decoder raises besides JSONDecodeError is for an integer over the digit limit.
_JSON = json.JSONDecoder(parse_float=_finite_float, parse_constant=_reject_not_finite)


def _json_record(line: str, where: str) -> Any:
    if _nests_too_deep(line):
        raise HistoryFileError(f"{where}: expected {_NESTING}, found deeper nesting")
    try:
        return _JSON.decode(line)
    except json.JSONDecodeError as exc:
        raise HistoryFileError(f"{where}: expected one JSON object per line "
                               f"({exc.msg} at column {exc.colno})") from None
    except _NotFinite as exc:
        raise HistoryFileError(f"{where}: expected {_FINITE}, found {exc}") from None
    except ValueError:
        raise HistoryFileError(f"{where}: expected {_integer_limit()}, found a longer "
                               f"one") from None


_JSON_NESTING = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')  # strings, skipped whole; brackets


def _nests_too_deep(line: str) -> bool:
    """Whether the JSON in `line` nests deeper than MAX_DEPTH (json.loads would recurse)."""
    if line.count("[") + line.count("{") <= MAX_DEPTH:
        return False
    depth = 0
    for token in _JSON_NESTING.finditer(line):
        bracket = token.group()[0]
        if bracket in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif bracket in "]}":
            depth -= 1
    return False


def _integer_limit() -> str:
    return f"an integer of at most {sys.get_int_max_str_digits()} digits"


def parse_edn_history(text: str, source: str = "<history>") -> HistoryFile:
    """Event maps, one after another or inside one top-level vector (or list)."""
    reader = EdnReader(text, source)
    records = []
    while reader.more():
        if reader.peek() in "[(":
            opened, closing = reader.pos, "]" if reader.peek() == "[" else ")"
            reader.advance()
            while not reader.at(closing, opened):
                records.append((reader.line(), reader.read()))
            reader.advance()
        else:
            records.append((reader.line(), reader.read()))
    return _events(records, source)


# -- from records to events --------------------------------------------------------------

def _events(records: list[tuple[int, Any]], source: str) -> HistoryFile:
    if not records:
        raise HistoryFileError(f"{source}: expected at least one event, found none")
    timed = [isinstance(record, Mapping) and "time" in record for _, record in records]
    if any(timed) and not all(timed):
        untimed = records[timed.index(False)][0]
        raise HistoryFileError(f"{source}, line {untimed}: expected a time, as other events "
                               f"have one (give every event a time, or none)")
    events = [_event(record, position, f"{source}, line {number}")
              for position, (number, record) in enumerate(_with_inferred_fields(records))]
    return HistoryFile(source, events, [number for number, _ in records],
                       _event_keys(records, source))


def _event_keys(records: list[tuple[int, Any]], source: str) -> list[Any]:
    """The `key` field of each record (None where absent); empty if no record has one."""
    if not any(isinstance(record, Mapping) and "key" in record for _, record in records):
        return []
    keys = []
    for number, record in records:
        key = record.get("key")
        if isinstance(key, bool) or not isinstance(key, (str, int, type(None))):
            raise HistoryFileError(f"{source}, line {number}: expected key to be a name or an "
                                   f"integer, found {kind_of(key)}")
        keys.append(key)
    return keys


TXN_MICRO_OPS = ("r", "w", "append")


def _with_inferred_fields(records: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
    """The records with what Elle's own histories leave out filled in.

    An event without `f` whose value is a list of transaction micro-ops (`[f, key, value]`
    with f one of r, w, append) is a `txn`. When no event names a process and none is an
    invocation (Elle's completion-only histories), each transaction is the operation of a
    process of its own, named by its position ("op-0", "op-1", ...). Anything else still needs
    both fields.
    """
    anonymous = not any(isinstance(record, Mapping) and ("process" in record
                                                         or record.get("type") == INVOKE)
                        for _, record in records)
    filled = []
    for position, (number, record) in enumerate(records):
        if isinstance(record, Mapping):
            extra = {}
            if "f" not in record and _is_transaction(record.get("value")):
                extra["f"] = "txn"
            if anonymous and record.get("f", extra.get("f")) == "txn":
                extra["process"] = f"op-{position}"
            if extra:
                record = {**record, **extra}
        filled.append((number, record))
    return filled


def _is_transaction(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(mop, list) and mop and mop[0] in TXN_MICRO_OPS for mop in value)


def _event(record: Any, position: int, where: str) -> Event:
    """One event; `position` is its time when the history gives none."""
    if not isinstance(record, Mapping):
        raise HistoryFileError(f"{where}: expected an event map, found {kind_of(record)}")
    missing = [key for key in ("process", "type", "f") if key not in record]
    if missing:
        present = ", ".join(printable(str(key)) for key in record)
        raise HistoryFileError(f"{where}: expected the event to have "
                               f"{', '.join(missing)} (it has {present})")
    process, type_, f = record["process"], record["type"], record["f"]
    if type_ not in TYPES:
        raise HistoryFileError(f"{where}: expected type to be one of {', '.join(TYPES)}, "
                               f"found {type_!r}")
    if not isinstance(process, (str, int)) or isinstance(process, bool):
        raise HistoryFileError(f"{where}: expected process to be a name or number, "
                               f"found {kind_of(process)}")
    if not isinstance(f, str):
        raise HistoryFileError(f"{where}: expected f to be a name, found {kind_of(f)}")
    time = record.get("time", position)
    if not isinstance(time, int) or isinstance(time, bool):
        raise HistoryFileError(f"{where}: expected time to be an integer, found {time!r}")
    return Event(printable_name(str(process)), type_, printable_name(f), record.get("value"),
                 time)


def printable(text: str) -> str:
    """`text` with every unprintable character escaped as a Python repr escapes it (`\\n`,
    `\\x1b`, `\\u2028`, `\\ud800`): it can no longer break a line, start a terminal escape
    sequence or fail to encode. Printable text, including non-ASCII letters, is unchanged."""
    return text if text.isprintable() else _escaped(text, str.isprintable)


def printable_name(name: str) -> str:
    """A name made printable one-to-one: unprintable characters escaped and backslashes
    doubled, so that two different names stay different (processes keep apart)."""
    if name.isprintable() and "\\" not in name:
        return name
    return _escaped(name, lambda char: char.isprintable() and char != "\\")


def _escaped(text: str, keep: Callable[[str], bool]) -> str:
    return "".join(char if keep(char) else repr(char)[1:-1] for char in text)


# -- EDN ---------------------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?[NM]?")
_SYMBOL = re.compile(r"[^\s,;()\[\]{}\"\\]+")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f",
            "/": "/"}
_CLOSERS = {"(": ")", "[": "]", "{": "}"}
_CONSTANTS = {"nil": None, "true": True, "false": False}


class EdnReader:
    """Reads the EDN subset Jepsen histories use, one form at a time.

    Maps, vectors, lists, sets, keywords (as strings), strings, integers, floats, nil,
    true/false, comments and `#_` discards. A tagged value (`#inst "..."`,
    `#jepsen.history.Op{...}`) reads as the value itself. Collections are frozen where they
    must be hashable (map keys and set elements); elsewhere vectors and lists are lists.
    Forms nest at most MAX_DEPTH deep, tags and discards included: the reader recurses.
    """

    def __init__(self, text: str, source: str = "<edn>") -> None:
        self.text, self.source, self.pos = text, source, 0
        self.depth = 0  # forms being read, one inside the other
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def more(self) -> bool:
        """Whether another form follows (skips whitespace, commas and comments)."""
        self._skip_blank()
        return self.pos < len(self.text)

    def peek(self) -> str:
        self._skip_blank()
        return self.text[self.pos:self.pos + 1]

    def at(self, closing: str, opened: int) -> bool:
        """Whether `closing` comes next; the end of the text is an error.

        `opened` is where the collection began, for the error message.
        """
        if not self.more():
            self._fail(f"{closing!r} to close the collection opened on line "
                       f"{self._line_of(opened)}", "the end of the file")
        return self.peek() == closing

    def advance(self) -> None:
        self.pos += 1

    def line(self) -> int:
        """The line (from 1) of the next form."""
        self._skip_blank()
        return self._line_of(self.pos)

    def read(self) -> Any:
        """The next form."""
        if self.depth >= MAX_DEPTH:
            self._fail(_NESTING, "deeper nesting")
        self.depth += 1
        try:
            return self._form()
        finally:
            self.depth -= 1

    def _form(self) -> Any:
        if not self.more():
            self._fail("a value", "the end of the file")
        char, start = self.text[self.pos], self.pos
        if char in _CLOSERS:
            self.advance()
            items = list(self._until(_CLOSERS[char], start))
            if char != "{":
                return items
            if len(items) % 2:
                self.pos = start
                self._fail("a value for every key in the map", "an odd number of forms")
            return {hashable(key): value for key, value in zip(items[::2], items[1::2])}
        if char == "#":
            return self._dispatch()
        if char == '"':
            return self._string()
        if char == ":":
            return self._keyword()
        return self._atom()

    def _until(self, closing: str, opened: int) -> Iterator[Any]:
        while not self.at(closing, opened):
            yield self.read()
        self.advance()

    def _dispatch(self) -> Any:
        follower = self.text[self.pos + 1:self.pos + 2]
        if follower == "{":
            self.pos += 2
            return frozenset(hashable(item) for item in self._until("}", self.pos - 2))
        if follower == "#":  # ##Inf, ##-Inf, ##NaN
            self._fail(_FINITE, repr(self._next_token()))
        tag = _SYMBOL.match(self.text, self.pos + 1)
        if tag is None:
            self._fail("a set #{...}, a discard #_ or a tag after '#'",
                       repr(self._next_token()))
        self.pos = tag.end()
        return self.read()

    def _string(self) -> str:
        chars, i = [], self.pos + 1
        while i < len(self.text) and self.text[i] != '"':
            if self.text[i] == "\\":
                chars.append(self._escape(i))
                i += 6 if self.text[i + 1:i + 2] == "u" else 2
            else:
                chars.append(self.text[i])
                i += 1
        if i >= len(self.text):
            self._fail('a closing " for the string', "the end of the file")
        self.pos = i + 1
        return "".join(chars)

    def _escape(self, i: int) -> str:
        code = self.text[i + 1:i + 2]
        if code == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", self.text[i + 2:i + 6]):
            return chr(int(self.text[i + 2:i + 6], 16))
        if code in _ESCAPES:
            return _ESCAPES[code]
        self.pos = i
        return self._fail("a string escape (\\\" \\\\ \\n \\t \\r \\uXXXX)",
                          repr(f"\\{code}"))

    def _keyword(self) -> str:
        name = _SYMBOL.match(self.text, self.pos + 1)
        if name is None:
            self._fail("a keyword name after ':'", repr(self._next_token()))
        self.pos = name.end()
        return name.group()

    def _atom(self) -> Any:
        token = self._next_token()
        number = _NUMBER.fullmatch(token)
        if number:
            self.pos += len(token)
            return self._number(token, number)
        if token in _CONSTANTS:
            self.pos += len(token)
            return _CONSTANTS[token]
        return self._fail("a value (map, vector, list, set, keyword, string, number, nil, "
                          "true or false)", repr(token))

    def _number(self, token: str, number: re.Match) -> int | float:
        digits = token.rstrip("NM")
        if token.endswith("M") or number.group(1) or number.group(2):
            value = float(digits)
            return value if math.isfinite(value) else self._fail(_FINITE, repr(token))
        try:
            return int(digits)
        except ValueError:  # more digits than Python converts
            return self._fail(_integer_limit(), f"one of {len(digits.lstrip('+-'))} digits")

    def _next_token(self) -> str:
        symbol = _SYMBOL.match(self.text, self.pos)
        return symbol.group() if symbol else self.text[self.pos:self.pos + 1]

    def _skip_blank(self) -> None:
        """Skips whitespace, commas, comments and `#_` discards with the forms they discard."""
        self._skip_space()
        while self.text.startswith("#_", self.pos):
            self.pos += 2
            self.read()
            self._skip_space()

    def _skip_space(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text):
            if text[pos] in " \t\r\n,":
                pos += 1
            elif text[pos] == ";":
                end = text.find("\n", pos)
                pos = len(text) if end < 0 else end
            else:
                break
        self.pos = pos

    def _line_of(self, pos: int) -> int:
        return bisect.bisect_right(self.line_starts, pos)

    def _fail(self, expected: str, found: str) -> Any:
        raise HistoryFileError(f"{self.source}, line {self._line_of(self.pos)}: expected "
                               f"{expected}, found {found}")


def hashable(value: Any) -> Any:
    """A hashable copy of a loaded value: lists become tuples, maps frozensets of items."""
    if isinstance(value, (list, tuple)):
        return tuple(hashable(v) for v in value)
    if isinstance(value, dict):
        return frozenset((k, hashable(v)) for k, v in value.items())
    return value
