"""Delivery guarantees over message ids: at-least-once, at-most-once, exactly-once.

The input is two lists: what producers handed to the system (`InputRecord`s) and what it
emitted (`OutputRecord`s), matched by id. Four things can go wrong:

- lost: an acknowledged input id never appears among the outputs (breaks at-least-once and
  exactly-once). An input the producer never saw acknowledged may be lost under any mode.
- duplicated: an id is output more than once (breaks at-most-once and exactly-once).
- unexpected: an output whose id no input has: the system invented it (breaks every mode).
- altered: an output whose `value` differs from the `value` its input expects (breaks every
  mode). This is how a pipeline is checked against a reference run: the inputs are what the
  same job computes once, in order, without failures (a window's count, a click joined with
  its query, a row's final content), keyed by what identifies each result; the outputs are
  what the system committed. An input whose value is None expects any value.

Several input records with one id are one logical input sent several times (a producer's
retries); it counts as acknowledged if any of them was. Each problem is reported with the
records that show it: their position in the list, time and source.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import attrs

from invariants.verdict import Verdict, passed, unknown, violated

MODES = ("exactly-once", "at-least-once", "at-most-once")
_SHOWN = 5  # problems of each kind spelled out in the explanation; the witness has them all


@attrs.frozen
class InputRecord:
    """An input handed to the system. `acked`: the producer was told it was accepted."""

    id: Hashable
    time: int | None = None
    source: str | None = None
    acked: bool = True
    value: Any = None  # what its output must hold; None: anything


@attrs.frozen
class OutputRecord:
    """An output the system emitted; `source` is the consumer or sink that saw it."""

    id: Hashable
    time: int | None = None
    source: str | None = None
    value: Any = None


def check_delivery(inputs: list[InputRecord], outputs: list[OutputRecord],
                   mode: str = "exactly-once", *, quiesced: bool = True) -> Verdict:
    """Check `outputs` against `inputs` under `mode` (one of MODES).

    Losses are only certain once nothing is in flight: with `quiesced=False` a missing output
    makes the verdict unknown instead of violated (duplicates and unexpected outputs are
    violations either way).
    """
    if mode not in MODES:
        raise ValueError(f"unknown delivery mode {mode!r}; expected one of {', '.join(MODES)}")
    invariant = f"delivery:{mode}"
    sent = _by_id(inputs, "input")
    received = _by_id(outputs, "output")
    problems = {
        "lost": [] if mode == "at-most-once" else _lost(sent, received, inputs),
        "duplicated": [] if mode == "at-least-once" else _duplicated(sent, received),
        "unexpected": _unexpected(sent, received),
        "altered": _altered(inputs, outputs),
    }
    counts = f"{len(inputs)} input record(s) with {len(sent)} id(s), {len(outputs)} output(s)"
    if any(problems[kind] for kind in ("duplicated", "unexpected", "altered")) \
            or (problems["lost"] and quiesced):
        return violated(invariant, _explain(mode, problems), {"mode": mode, **problems})
    if problems["lost"]:
        lost = problems["lost"]
        return unknown(invariant, f"{len(lost)} acknowledged input(s) not output yet, e.g. "
                                  f"{_describe(lost[0])}; the system had not quiesced, so they "
                                  f"may still be in flight ({counts})", {"mode": mode, **problems})
    return passed(invariant, f"every acknowledged input delivered {mode} ({counts})")


def _by_id(records: list, kind: str) -> dict[Hashable, list[dict]]:
    """Each id's records, in list order, as JSON-able dicts saying where they came from."""
    grouped: dict[Hashable, list[dict]] = {}
    for index, record in enumerate(records):
        grouped.setdefault(record.id, []).append(
            {"kind": kind, "index": index, "time": record.time, "source": record.source})
    return grouped


def _lost(sent: dict, received: dict, inputs: list[InputRecord]) -> list[dict]:
    acked = {record.id for record in inputs if record.acked}
    return [{"problem": "lost", "id": id_, "inputs": records}
            for id_, records in sent.items() if id_ in acked and id_ not in received]


def _duplicated(sent: dict, received: dict) -> list[dict]:
    return [{"problem": "duplicated", "id": id_, "outputs": records,
             "inputs": sent.get(id_, [])}
            for id_, records in received.items() if len(records) > 1]


def _unexpected(sent: dict, received: dict) -> list[dict]:
    return [{"problem": "unexpected", "id": id_, "outputs": records}
            for id_, records in received.items() if id_ not in sent]


def _altered(inputs: list[InputRecord], outputs: list[OutputRecord]) -> list[dict]:
    """Outputs whose value is not the one their id's input expects (the first input of the
    id that names a value: retries carry the same content)."""
    expected: dict[Hashable, Any] = {}
    for record in inputs:
        if record.value is not None:
            expected.setdefault(record.id, record.value)
    return [{"problem": "altered", "id": record.id, "expected": expected[record.id],
             "value": record.value, "output": index}
            for index, record in enumerate(outputs)
            if record.id in expected and record.value != expected[record.id]]


def _explain(mode: str, problems: dict[str, list[dict]]) -> str:
    summary = ", ".join(f"{len(found)} {kind}" for kind, found in problems.items() if found)
    lines = [f"not {mode}: {summary}"]
    for found in problems.values():
        lines += [f"- {_describe(problem)}" for problem in found[:_SHOWN]]
        if len(found) > _SHOWN:
            lines.append(f"- ... and {len(found) - _SHOWN} more {found[0]['problem']}")
    return "\n".join(lines)


def _describe(problem: dict) -> str:
    id_ = problem["id"]
    if problem["problem"] == "lost":
        return f"{id_!r} was lost: {_records(problem['inputs'])}, never output"
    if problem["problem"] == "altered":
        return f"{id_!r} came out as {problem['value']!r} (output #{problem['output']}), " \
               f"but the reference run gives {problem['expected']!r}"
    if problem["problem"] == "unexpected":
        return f"{id_!r} was never input but came out: {_records(problem['outputs'])}"
    sent = f" (sent as {_records(problem['inputs'])})" if problem["inputs"] else ""
    return f"{id_!r} came out {len(problem['outputs'])} times: " \
           f"{_records(problem['outputs'])}{sent}"


def _records(records: list[dict]) -> str:
    return ", ".join(_record(record) for record in records)


def _record(record: dict[str, Any]) -> str:
    words = f"{record['kind']} #{record['index']}"
    if record["time"] is not None:
        words += f" at t={record['time']}"
    if record["source"] is not None:
        words += f" {'from' if record['kind'] == 'input' else 'by'} {record['source']}"
    return words
