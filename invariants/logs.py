"""Kafka-style logs: per-key offsets that producers append to and consumers poll.

The history holds `send` and `poll` operations (and `txn`s mixing them), in the shape of
Jepsen's Kafka workload: an op's value is a list of micro-ops.

- `["send", k, v]`, completed `ok` as `["send", k, [offset, v]]` (the offset the log gave v;
  `["send", k, v]` when the client did not learn it);
- `["poll"]`, completed `ok` as `["poll", {k: [[offset, v], ...], ...}]`.

Ops with `f` = `assign` or `subscribe` are rebalances: the consumer (process) that made them
may start reading anywhere afterwards. Other ops (a nemesis's, `crash`, ...) are ignored.
Values are unique per key (each send sends a new one); keys compare as text, since JSON
object keys are strings.

One pass reads every record: (key, offset, value) as acknowledged by a send or returned by a
poll. Then, with Jepsen's names:

- lost-write: an acknowledged send's value that no poll returned, although polls read the key
  at or past its offset;
- duplicate: one value at two offsets of a key;
- inconsistent-offsets: two values at one offset of a key;
- poll-skip: a consumer whose successive reads of a key (within a poll or across polls, with
  no rebalance between) jump from offset a to b > a + 1 over offsets that some other record
  shows hold a value;
- nonmonotonic-poll: a consumer reading offset b after a, with b <= a and no rebalance between;
- nonmonotonic-send: a producer whose successive acknowledged sends to one key got offsets
  that do not increase.

Everything is a pass over the records plus a sort of each key's offsets: n log n.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import attrs

from invariants.budget import Budget, BudgetSpent, MalformedOperation
from invariants.history import OK, Operation, kind_of
from invariants.verdict import Verdict, passed, unknown, violated

INVARIANT = "kafka-log"
LOG_FS = ("send", "poll", "txn")
REBALANCE_FS = ("assign", "subscribe")
ANOMALIES = ("lost-write", "duplicate", "inconsistent-offsets", "poll-skip",
             "nonmonotonic-poll", "nonmonotonic-send")
_SHOWN = 5  # anomalies of each kind spelled out in the explanation; the witness has them all
_SKIPPED_SHOWN = 10  # skipped offsets listed per poll-skip


class MalformedLog(MalformedOperation):
    """A send/poll/txn op whose value the checker cannot read."""


@attrs.frozen
class _Send:
    op: Operation
    key: str
    value: Any
    offset: int | None  # None: not acknowledged with an offset


@attrs.frozen
class _Poll:
    op: Operation
    reads: dict[str, list[tuple[int, Any]]]


def check_log(ops: list[Operation], max_seconds: float | None = None,
              max_steps: int | None = None) -> Verdict:
    """Check a Kafka-style history for the anomalies in ANOMALIES.

    Raises MalformedLog for a send/poll/txn whose value is not micro-ops of the documented
    shape. The budget covers reading the micro-ops and every search; spent, it is `unknown`.
    """
    budget = Budget(max_seconds, max_steps)
    try:
        return _check(ops, budget)
    except BudgetSpent as spent:
        return unknown(INVARIANT, f"{spent} before the log was checked: no verdict")


def _check(ops: list[Operation], budget: Budget) -> Verdict:
    ordered = sorted(ops, key=lambda op: op.call)
    budget.spend(len(ordered))
    steps: list[tuple[Operation, list]] = []  # per op in order: its sends, polls, rebalances
    sends: list[_Send] = []
    polls: list[_Poll] = []
    sent: dict[tuple[str, Any], Operation] = {}
    for op in ordered:
        if op.f in REBALANCE_FS:
            steps.append((op, ["rebalance"]))
        elif op.f in LOG_FS:
            items = _read_op(op, budget)
            for item in items:
                if isinstance(item, _Send):
                    first = sent.setdefault((item.key, item.value), op)
                    if first is not op:
                        raise MalformedLog(op, False, f"value {item.value!r} is sent to key "
                                           f"{item.key!r} again (first by operation "
                                           f"#{first.id}): values must be unique per key")
                    sends.append(item)
                else:
                    polls.append(item)
            steps.append((op, items))
    log = _Records(budget)
    for send in sends:
        if send.offset is not None:
            log.add(send.key, send.offset, send.value, send.op, "send")
    for poll in polls:
        for key, pairs in poll.reads.items():
            for offset, value in pairs:
                log.add(key, offset, value, poll.op, "poll")
    known = {key: sorted(offsets) for key, offsets in log.at.items()}
    budget.spend(sum(len(offsets) for offsets in known.values()))
    found = (_lost_writes(sends, log, budget) + _duplicates(log, budget)
             + _inconsistent(log, budget) + _consumer_anomalies(steps, log, known, budget)
             + _nonmonotonic_sends(steps, budget))
    counts = (f"{len(sends)} send(s), {len(polls)} poll(s), {log.records} record(s) on "
              f"{len(known)} key(s)")
    if found:
        return violated(INVARIANT, _explain(found, counts), found)
    return passed(INVARIANT, f"no lost, duplicated, inconsistent, skipped or reordered records "
                             f"({counts})")


# -- reading the micro-ops -----------------------------------------------------------------

def _read_op(op: Operation, budget: Budget) -> list:
    """The op's micro-ops as _Send and _Poll items (one _Poll per ok poll micro-op)."""
    invoked = _micro_ops(op, op.args, False)
    for i, mop in enumerate(invoked):  # the invocation whole before its completion
        if mop[0] == "send":
            _key(op, False, i, mop[1])
            _scalar(op, False, i, mop[2], "a sent value")
    completed = _micro_ops(op, op.result, True) if op.status == OK else None
    if completed is not None and len(completed) != len(invoked):
        raise MalformedLog(op, True, f"expected {len(invoked)} micro-op(s), as invoked, found "
                                     f"{len(completed)}")
    budget.spend(len(invoked))
    items: list = []
    for i, mop in enumerate(invoked):
        done = None if completed is None else completed[i]
        if mop[0] == "send":
            items.append(_read_send(op, i, mop, done))
        elif done is not None:
            if done[0] != "poll" or len(done) != 2:
                raise MalformedLog(op, True, f"micro-op {i}: expected ['poll', {{key: "
                                             f"[[offset, value], ...]}}], found {done!r}")
            items.append(_Poll(op, _read_poll(op, i, done[1], budget)))
    return items


def _micro_ops(op: Operation, value: Any, in_completion: bool) -> list[tuple]:
    if not isinstance(value, (list, tuple)):
        raise MalformedLog(op, in_completion, f"expected a list of micro-ops, found "
                                              f"{kind_of(value)}")
    mops = []
    for i, mop in enumerate(value):
        if not isinstance(mop, (list, tuple)) or not mop:
            raise MalformedLog(op, in_completion, f"micro-op {i}: expected a list such as "
                                                  f"['send', key, value] or ['poll'], found "
                                                  f"{kind_of(mop)}")
        name = mop[0]
        if name == "send" and len(mop) != 3:
            raise MalformedLog(op, in_completion, f"micro-op {i}: expected ['send', key, "
                                                  f"value], found {len(mop)} element(s)")
        if name == "poll" and (len(mop) > 2 or (not in_completion and len(mop) == 2
                                                 and mop[1] is not None)):
            expected = "['poll', {key: pairs}]" if in_completion else "['poll']"
            raise MalformedLog(op, in_completion, f"micro-op {i}: expected {expected}, found "
                                                  f"{len(mop)} element(s)")
        if name not in ("send", "poll"):
            raise MalformedLog(op, in_completion, f"micro-op {i} is {name!r}, which this "
                                                  f"checker does not interpret: expected "
                                                  f"'send' or 'poll'")
        mops.append(tuple(mop))
    return mops


def _read_send(op: Operation, i: int, mop: tuple, done: tuple | None) -> _Send:
    key, value = _key(op, False, i, mop[1]), _scalar(op, False, i, mop[2], "a sent value")
    offset = None
    if done is not None:
        if done[0] != "send" or _key(op, True, i, done[1]) != key:
            raise MalformedLog(op, True, f"micro-op {i}: expected ['send', {key!r}, [offset, "
                                         f"value]] as invoked, found {done!r}")
        acked = done[2]
        if isinstance(acked, (list, tuple)):
            if len(acked) != 2:
                raise MalformedLog(op, True, f"micro-op {i}: expected [offset, value], found "
                                             f"{len(acked)} element(s)")
            offset, acked = _offset(op, i, acked[0]), acked[1]
        if acked != value:
            raise MalformedLog(op, True, f"micro-op {i}: expected the sent value {value!r}, "
                                         f"found {acked!r}")
    return _Send(op, key, value, offset)


def _read_poll(op: Operation, i: int, reads: Any, budget: Budget
               ) -> dict[str, list[tuple[int, Any]]]:
    if reads is None:
        return {}
    if isinstance(reads, frozenset):  # a frozen map (e.g. a map inside a set): its items
        reads = dict(reads)
    if not isinstance(reads, Mapping):
        raise MalformedLog(op, True, f"micro-op {i}: expected a map from keys to [[offset, "
                                     f"value], ...], found {kind_of(reads)}")
    result: dict[str, list[tuple[int, Any]]] = {}
    for raw_key, pairs in reads.items():
        key = _key(op, True, i, raw_key)
        if not isinstance(pairs, (list, tuple)):
            raise MalformedLog(op, True, f"micro-op {i}: key {key!r}: expected a list of "
                                         f"[offset, value] pairs, found {kind_of(pairs)}")
        budget.spend(len(pairs) + 1)
        read = result.setdefault(key, [])
        for pair in pairs:
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise MalformedLog(op, True, f"micro-op {i}: key {key!r}: expected an [offset, "
                                             f"value] pair, found {pair!r}")
            read.append((_offset(op, i, pair[0]), _scalar(op, True, i, pair[1], "a value")))
    return result


def _key(op: Operation, in_completion: bool, i: int, key: Any) -> str:
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise MalformedLog(op, in_completion, f"micro-op {i}: expected a key (a name or an "
                                              f"integer), found {kind_of(key)}")
    return str(key)


def _scalar(op: Operation, in_completion: bool, i: int, value: Any, what: str) -> Any:
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        raise MalformedLog(op, in_completion, f"micro-op {i}: expected {what} that is not a "
                                              f"collection, found {kind_of(value)}")
    return value


def _offset(op: Operation, i: int, offset: Any) -> int:
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise MalformedLog(op, True, f"micro-op {i}: expected an offset (an integer >= 0), "
                                     f"found {offset!r}")
    return offset


# -- the records ---------------------------------------------------------------------------

class _Records:
    """Every (key, offset, value), with the first op that showed each, both ways round."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.at: dict[str, dict[int, dict[Any, tuple[Operation, str]]]] = defaultdict(dict)
        self.where: dict[str, dict[Any, dict[int, tuple[Operation, str]]]] = defaultdict(dict)
        self.polled: dict[str, set] = defaultdict(set)  # values some poll returned
        self.highest: dict[str, tuple[int, Operation]] = {}  # highest polled offset, its poll
        self.records = 0

    def add(self, key: str, offset: int, value: Any, op: Operation, how: str) -> None:
        self.budget.spend()
        self.records += 1
        self.at[key].setdefault(offset, {}).setdefault(value, (op, how))
        self.where[key].setdefault(value, {}).setdefault(offset, (op, how))
        if how == "poll":
            self.polled[key].add(value)
            if key not in self.highest or offset > self.highest[key][0]:
                self.highest[key] = (offset, op)


def _record(key: str, offset: int, value: Any, op: Operation, how: str) -> dict:
    return {"key": key, "offset": offset, "value": value, "op": op.id, "by": how}


def _op(op: Operation) -> dict:
    return {"id": op.id, "process": op.process, "f": op.f, "status": op.status}


def _lost_writes(sends: list[_Send], log: _Records, budget: Budget) -> list[dict]:
    found = []
    budget.spend(len(sends))
    for send in sends:
        if send.offset is None or send.op.status != OK or send.value in log.polled[send.key]:
            continue
        highest = log.highest.get(send.key)
        if highest is None or highest[0] < send.offset:
            continue
        reader = highest[1]
        found.append({
            "anomaly": "lost-write", "key": send.key, "value": send.value,
            "offset": send.offset, "highest_polled": highest[0],
            "records": [_record(send.key, send.offset, send.value, send.op, "send")],
            "ops": [_op(send.op), _op(reader)],
            "why": f"operation #{send.op.id} ({send.op.process}) sent {send.value!r} to key "
                   f"{send.key!r} and was acknowledged at offset {send.offset}, but no poll "
                   f"returned it, although operation #{reader.id} ({reader.process}) polled "
                   f"offset {highest[0]} of that key"})
    return found


def _duplicates(log: _Records, budget: Budget) -> list[dict]:
    found = []
    for key, values in log.where.items():
        budget.spend(len(values))
        for value, offsets in values.items():
            if len(offsets) > 1:
                records = [_record(key, o, value, op, how) for o, (op, how) in
                           sorted(offsets.items())]
                shown = ", ".join(f"offset {r['offset']} (by {r['by']} #{r['op']})"
                                  for r in records)
                found.append({"anomaly": "duplicate", "key": key, "value": value,
                              "offsets": sorted(offsets), "records": records,
                              "ops": _ops_of(offsets.values()),
                              "why": f"value {value!r} of key {key!r} is at {len(offsets)} "
                                     f"offsets: {shown}"})
    return found


def _inconsistent(log: _Records, budget: Budget) -> list[dict]:
    found = []
    for key, offsets in log.at.items():
        budget.spend(len(offsets))
        for offset in sorted(o for o, values in offsets.items() if len(values) > 1):
            values = offsets[offset]
            records = [_record(key, offset, v, op, how) for v, (op, how) in values.items()]
            shown = ", ".join(f"{r['value']!r} (by {r['by']} #{r['op']})" for r in records)
            found.append({"anomaly": "inconsistent-offsets", "key": key, "offset": offset,
                          "values": list(values), "records": records,
                          "ops": _ops_of(values.values()),
                          "why": f"offset {offset} of key {key!r} holds {len(values)} values: "
                                 f"{shown}"})
    return found


def _ops_of(sources: Any) -> list[dict]:
    ops: dict[int, Operation] = {}
    for op, _ in sources:
        ops.setdefault(op.id, op)
    return [_op(op) for op in ops.values()]


def _consumer_anomalies(steps: list[tuple[Operation, list]], log: _Records,
                        known: dict[str, list[int]], budget: Budget) -> list[dict]:
    """poll-skip and nonmonotonic-poll, following each consumer's reads of each key."""
    found = []
    last: dict[str, dict[str, tuple[int, Any, Operation]]] = defaultdict(dict)
    for op, items in steps:
        for item in items:
            if item == "rebalance":
                last.pop(op.process, None)
                continue
            if not isinstance(item, _Poll):
                continue
            seen = last[op.process]
            for key, pairs in item.reads.items():
                budget.spend(len(pairs))
                for offset, value in pairs:
                    before = seen.get(key)
                    seen[key] = (offset, value, op)
                    if before is None:
                        continue
                    prev_offset, prev_value, prev_op = before
                    if offset <= prev_offset:
                        found.append(_nonmonotonic_poll(key, before, offset, value, op))
                    elif offset > prev_offset + 1:
                        offsets = known.get(key, [])
                        lo = bisect.bisect_right(offsets, prev_offset)
                        hi = bisect.bisect_left(offsets, offset)
                        if hi > lo:
                            found.append(_poll_skip(key, before, offset, value, op,
                                                    offsets[lo:min(hi, lo + _SKIPPED_SHOWN)],
                                                    hi - lo, log))
    return found


def _within(prev_op: Operation, op: Operation) -> str:
    return "within one poll" if prev_op is op else f"from operation #{prev_op.id} to #{op.id}"


def _nonmonotonic_poll(key: str, before: tuple, offset: int, value: Any,
                       op: Operation) -> dict:
    prev_offset, prev_value, prev_op = before
    return {"anomaly": "nonmonotonic-poll", "key": key, "process": op.process,
            "from_offset": prev_offset, "to_offset": offset,
            "records": [_record(key, prev_offset, prev_value, prev_op, "poll"),
                        _record(key, offset, value, op, "poll")],
            "ops": _ops_of([(prev_op, ""), (op, "")]),
            "why": f"consumer {op.process} read offset {prev_offset} of key {key!r}, then "
                   f"offset {offset} ({_within(prev_op, op)}), going back with no rebalance "
                   f"between"}


def _poll_skip(key: str, before: tuple, offset: int, value: Any, op: Operation,
               skipped: list[int], count: int, log: _Records) -> dict:
    prev_offset, prev_value, prev_op = before
    shown = []
    sources = [(prev_op, ""), (op, "")]
    for o in skipped:
        v, (source, how) = next(iter(log.at[key][o].items()))
        shown.append(_record(key, o, v, source, how))
        sources.append((source, how))
    listed = ", ".join(f"{r['offset']} ({r['value']!r}, by {r['by']} #{r['op']})"
                       for r in shown)
    more = f" and {count - len(shown)} more" if count > len(shown) else ""
    return {"anomaly": "poll-skip", "key": key, "process": op.process,
            "from_offset": prev_offset, "to_offset": offset, "skipped": count,
            "records": [_record(key, prev_offset, prev_value, prev_op, "poll"),
                        _record(key, offset, value, op, "poll"), *shown],
            "ops": _ops_of(sources),
            "why": f"consumer {op.process} read offset {prev_offset} of key {key!r}, then "
                   f"offset {offset} ({_within(prev_op, op)}), skipping {count} offset(s) "
                   f"that hold values: {listed}{more}"}


def _nonmonotonic_sends(steps: list[tuple[Operation, list]], budget: Budget) -> list[dict]:
    found = []
    last: dict[tuple[str, str], _Send] = {}
    for op, items in steps:
        budget.spend(len(items))
        for item in items:
            if not isinstance(item, _Send) or item.offset is None:
                continue
            before = last.get((op.process, item.key))
            last[(op.process, item.key)] = item
            if before is not None and item.offset <= before.offset:
                found.append({
                    "anomaly": "nonmonotonic-send", "key": item.key, "process": op.process,
                    "from_offset": before.offset, "to_offset": item.offset,
                    "records": [_record(item.key, before.offset, before.value, before.op,
                                        "send"),
                                _record(item.key, item.offset, item.value, op, "send")],
                    "ops": _ops_of([(before.op, ""), (op, "")]),
                    "why": f"producer {op.process} sent {before.value!r} to key {item.key!r} "
                           f"(operation #{before.op.id}, offset {before.offset}), then "
                           f"{item.value!r} (operation #{op.id}), acknowledged at the "
                           f"offset {item.offset}, not after it"})
    return found


def _explain(found: list[dict], counts: str) -> str:
    by_kind: dict[str, list[dict]] = {}
    for anomaly in found:
        by_kind.setdefault(anomaly["anomaly"], []).append(anomaly)
    summary = ", ".join(f"{len(by_kind[kind])} {kind}" for kind in ANOMALIES if kind in by_kind)
    lines = [f"log anomalies: {summary} ({counts})"]
    for kind in ANOMALIES:
        for anomaly in by_kind.get(kind, [])[:_SHOWN]:
            lines.append(f"- {kind}: {anomaly['why']}")
        if len(by_kind.get(kind, [])) > _SHOWN:
            lines.append(f"- ... and {len(by_kind[kind]) - _SHOWN} more {kind}")
    return "\n".join(lines)
