"""`deepdives check FILE`: check a history recorded outside deepdives.

`--model M` checks linearizability against a named sequential model; `--consistency LEVEL`
checks a transactional (Elle-style) history against an isolation level; `--log` checks a
Kafka-style history of sends and polls for lost, duplicated, inconsistent, skipped or
reordered records (invariants/logs.py). Exit codes: 0 ok,
1 violated, 2 bad input, 3 unknown (a budget ran out). `--html OUT` also writes the history
timeline (`checker.timeline`).

Histories written by other tools follow their own conventions, so each model comes with the
rules that read recorded ops as its calls (docs/history-format.md lists them): an `ok`
completion that just repeats its invocation's value, as Jepsen records writes, means "it took
effect" and stands for the model's success result; a set read compares as a set; Jepsen's
independent-key tuples are unpacked for `kv`; a lock op without a value is by its process.

The file is outside text: every problem with it is bad input (exit 2, one line saying where),
and every output, on the terminal or in Markdown, shows its strings escaped (`printable`), so
that no name or value can start a line, a terminal escape sequence or HTML.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import click

from checker import timeline
from checker.badinput import BadInput
from checker.historyio import (
    FORMATS,
    HistoryFile,
    HistoryFileError,
    hashable,
    load_history,
    printable,
)
from invariants.budget import MalformedOperation
from invariants.history import INFO, INVOKE, OK, Event, Operation, pair
from invariants.linearizability import search_linearization
from invariants.logs import LOG_FS, check_log
from invariants.transactions import LEVELS, TXN, check_transactions
from invariants.verdict import OK as PASSED
from invariants.verdict import VIOLATED, Verdict
from models.appendkv import AppendKV
from models.collections import Counter, Lock, Log, Queue, Set
from models.kv import KV
from models.sequential import Register, SequentialModel

EXIT_CODES = {PASSED: 0, VIOLATED: 1}
EXIT_UNKNOWN = 3
_SHOWN_OPS = 12  # ops listed in the witness summary


@attrs.frozen
class ModelSpec:
    """A named model, and how ops recorded by other tools read as its calls.

    `echoes`: for these f, an ok completion whose value repeats the invocation's value means
    the model's result given here. `adapt`: any further rewriting of an op for this model.
    """

    make: Callable[[], SequentialModel]
    echoes: Mapping[str, Any] = attrs.field(factory=dict)
    adapt: Callable[[Operation], Operation] | None = None
    keyed: bool = False  # reads a `key` field beside the value (`with_event_keys`)


def _read_as_set(op: Operation) -> Operation:
    """A set read's result is a set, whatever collection recorded it."""
    if op.f == "read" and isinstance(op.result, (tuple, frozenset)):
        return attrs.evolve(op, result=frozenset(op.result))
    return op


def _unpack_independent(op: Operation) -> Operation:
    """Jepsen's independent keys: read [k, nil] -> [k, v] and cas [k, [old, new]] for kv.

    The kv model's own calls are read [k] -> v and cas [k, old, new]; writes [k, v] agree.
    """
    args = op.args
    if op.f == "read" and isinstance(args, tuple) and len(args) == 2:
        result = op.result
        if isinstance(result, tuple) and len(result) == 2 and result[0] == args[0]:
            result = result[1]
        return attrs.evolve(op, args=args[:1], result=result)
    if op.f == "cas" and isinstance(args, tuple) and len(args) == 2 \
            and isinstance(args[1], tuple) and len(args[1]) == 2:
        return attrs.evolve(op, args=(args[0], *args[1]))
    return op


def _get_of_append_kv(op: Operation) -> Operation:
    """A get is by its key alone ([k] or [k, nil]); it reads a missing key as "" (nil too),
    and Jepsen's independent form [k, v] as v."""
    if op.f != "get" or not isinstance(op.args, tuple) or not op.args:
        return op
    result = op.result
    if isinstance(result, tuple) and len(result) == 2 and result[0] == op.args[0]:
        result = result[1]
    return attrs.evolve(op, args=op.args[:1], result="" if result is None else result)


def with_event_keys(ops: list[Operation], history: HistoryFile) -> list[Operation]:
    """Ops whose events carry a `key` field, their key put before their value: `append` with
    key k and value v is the call append(k, v), as if the value had been [k, v]. An ok whose
    value repeats v is an echo (`as_model_calls`)."""
    keyed = []
    for op in ops:
        key = history.keys[op.call]
        if key is None and op.ret is not None:
            key = history.keys[op.ret]
        if key is not None:
            op = attrs.evolve(op, args=(key,) if op.args is None else (key, op.args))
        keyed.append(op)
    return keyed


def _lock_by_process(op: Operation) -> Operation:
    """Jepsen lock ops carry no value: the client is the process."""
    return attrs.evolve(op, args=op.process) if op.args is None else op


MODELS: dict[str, ModelSpec] = {
    "register": ModelSpec(Register, {"write": None, "cas": True}),
    "kv": ModelSpec(KV, {"write": None, "cas": True}, _unpack_independent, keyed=True),
    "set": ModelSpec(Set, {"add": None}, _read_as_set),
    "log": ModelSpec(Log, {"append": None}),
    "queue": ModelSpec(Queue, {"enqueue": None}),
    "lock": ModelSpec(Lock, {"acquire": True, "release": True}, _lock_by_process),
    "counter": ModelSpec(Counter, {"add": None}),
    "append-kv": ModelSpec(AppendKV, {"put": None, "append": None}, _get_of_append_kv,
                           keyed=True),
}


def as_model_calls(ops: list[Operation], spec: ModelSpec) -> list[Operation]:
    """The recorded ops rewritten as the model's calls (values made hashable first)."""
    calls = []
    for op in ops:
        op = attrs.evolve(op, args=hashable(op.args), result=hashable(op.result))
        if op.status == OK and op.f in spec.echoes and _repeats_invocation(op, spec):
            op = attrs.evolve(op, result=spec.echoes[op.f])
        calls.append(spec.adapt(op) if spec.adapt else op)
    return calls


def _repeats_invocation(op: Operation, spec: ModelSpec) -> bool:
    """Whether an ok's value is its invocation's: the same, or for a keyed model the value
    after the key ([k, v] completed with v, as when the key is a field of its own)."""
    if op.result == op.args:
        return True
    return spec.keyed and isinstance(op.args, tuple) and len(op.args) == 2 \
        and op.result == op.args[1]


def _positive_seconds(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """A budget must be a positive, finite number: NaN compares false with everything (it
    would switch the budget off) and infinity never runs out."""
    if not (math.isfinite(value) and value > 0):
        raise _bad_input(f"--budget-seconds: expected a positive, finite number of seconds, "
                         f"found {value}")
    return value


@click.command("check")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--model", type=click.Choice(sorted(MODELS)),
              help="Check linearizability against this sequential model.")
@click.option("--consistency", "level", type=click.Choice(list(LEVELS)),
              help="Check transactions (f = txn) against this isolation level.")
@click.option("--log", "log", is_flag=True,
              help="Check a Kafka-style log history (send/poll) for lost, duplicated, "
                   "inconsistent, skipped or reordered records.")
@click.option("--format", "fmt", type=click.Choice(FORMATS),
              help="History format (default: from the extension: .jsonl/.json/.ndjson, .edn).")
@click.option("--budget-seconds", type=float, default=60.0, callback=_positive_seconds,
              show_default=True, help="Give up with 'unknown' (exit 3) after this long.")
@click.option("--markdown", "markdown_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the verdict and its witness as Markdown to this file.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the history timeline, a self-contained HTML page, to this "
                   "file: a lane per process, a bar per operation, the order found or the "
                   "cycle's edges drawn on them.")
@click.option("--process-order", is_flag=True,
              help="With --consistency: add process (session) order edges, making "
                   "snapshot-isolation and serializable their strong-session variants.")
@click.option("--initial-value", "initial", default="nil", show_default=True,
              help="With --consistency: a register's value before any write (nil or an "
                   "integer).")
@click.option("--writes-follow-reads", is_flag=True,
              help="With --consistency: a register written after being read in one "
                   "transaction got the version after the one read (Elle's default: off).")
@click.option("--sequential-keys", is_flag=True,
              help="With --consistency: each register is sequentially consistent, so a "
                   "process sees its versions in order (Elle's default: off).")
def check_command(file: Path, model: str | None, level: str | None, log: bool,
                  fmt: str | None, budget_seconds: float, markdown_out: Path | None,
                  html_out: Path | None, **txn_options: Any) -> None:
    """Check the history in FILE: linearizability (--model), isolation (--consistency) or a
    Kafka-style log (--log).

    Exits 0 ok, 1 violated, 2 bad input, 3 unknown (budget spent).
    """
    if (model is not None) + (level is not None) + log != 1:
        raise BadInput("give exactly one of --model, --consistency or --log")
    history, ops = _load_ops(file, fmt, level, log)
    warnings = _reopened(history) if level is not None else []
    linearization, sequential = None, None
    if log:
        verdict = _readable(history, lambda: check_log(ops, max_seconds=budget_seconds))
        subject = "as a Kafka-style log"
    elif model is not None:
        spec, ops = MODELS[model], _keys_read(ops, history, model)
        calls, sequential = as_model_calls(ops, spec), spec.make()
        _check_shapes(calls, sequential, history)
        linearization = search_linearization(calls, sequential, max_steps=None,
                                             max_seconds=budget_seconds)
        verdict = linearization.verdict
        subject = f"against the `{model}` model"
    else:
        level, options = _txn_level(level, **txn_options)
        verdict = _readable(history, lambda: check_transactions(
            ops, level, max_seconds=budget_seconds, **options))
        subject = f"at `{level}`"
    summary = witness_summary(verdict, ops)
    click.echo(f"{verdict.invariant}: {verdict.status}")
    click.echo(printable_lines(verdict.explanation))
    for line in warnings + summary:
        click.echo(printable(line))
    if markdown_out is not None:
        heading = (f"{_code_span(str(file))} ({len(history.events)} events, {len(ops)} "
                   f"operations) {subject}")
        _write(markdown_out, markdown(verdict, heading, summary))
    if html_out is not None:
        _write(html_out, timeline.check_page(
            printable(str(file)), ops, verdict, linearization=linearization, model=sequential,
            transactions=level is not None, named=_named_op_ids(verdict.witness)))
    sys.exit(EXIT_CODES.get(verdict.status, EXIT_UNKNOWN))


def _bad_input(message: str) -> BadInput:
    """Bad input, its message made printable: it names outside things (paths, values)."""
    return BadInput(printable(message))


def _load_ops(file: Path, fmt: str | None, level: str | None,
              log: bool = False) -> tuple[HistoryFile, list[Operation]]:
    """The file's history and operations; a history with nothing to check is bad input."""
    try:
        history = load_history(file, fmt)
    except HistoryFileError as exc:
        raise _bad_input(str(exc)) from None
    ops = pair(history.events)
    if level is not None and not any(op.f == TXN for op in ops):
        ops = completion_only_ops(history.events)
    if level is not None and not any(op.f == TXN for op in ops):
        raise _bad_input(f"{file}: no {TXN} operations to check at {level}")
    if log and not any(op.f in LOG_FS for op in ops):
        raise _bad_input(f"{file}: no {', '.join(LOG_FS)} operations to check as a log")
    if not ops:
        raise _bad_input(f"{file}: no operations to check ({len(history.events)} events, none "
                         f"of them an invocation)")
    return history, ops


def _keys_read(ops: list[Operation], history: HistoryFile, model: str) -> list[Operation]:
    """The ops with their events' keys, for a model that reads keys; a `key` field is bad
    input for any other (ignoring it would check every key as one object)."""
    if not history.keys:
        return ops
    if not MODELS[model].keyed:
        line = history.lines[next(i for i, key in enumerate(history.keys) if key is not None)]
        keyed = ", ".join(name for name, spec in MODELS.items() if spec.keyed)
        raise _bad_input(f"{history.source}, line {line}: the event has a key field, which the "
                         f"{model} model does not read (models with keys: {keyed})")
    return with_event_keys(ops, history)


def _readable(history: HistoryFile, check: Callable[[], Verdict]) -> Verdict:
    """Run a check; an operation it cannot read is bad input, named by its line."""
    try:
        return check()
    except MalformedOperation as exc:
        op = exc.op
        in_completion = exc.in_completion or op.call < 0  # a completion-only op
        part = "completion" if in_completion else "invocation"
        where = history.where(op.ret if in_completion else op.call)
        raise _bad_input(f"{where}: operation #{op.id} (the {part} of a {op.f} by process "
                         f"{op.process}): {exc.problem}") from None


def completion_only_ops(events: list[Event]) -> list[Operation]:
    """A history of completions only (Elle's README style), one operation per completion.

    Nothing says when such an operation began, so it is read as begun before everything
    (`call` -1): it precedes nothing in real time, and real time adds no edge.
    """
    return [Operation(position, event.process, event.f, event.value,
                      event.value if event.type == OK else None, event.type, -1,
                      None if event.type == INFO else position, event.time, event.time)
            for position, event in enumerate(events) if event.type != INVOKE]


def _reopened(history: HistoryFile) -> list[str]:
    """A warning for each invocation made while its process still had one open: the earlier
    one is then read as `info` (unknown outcome), as Jepsen reads it. Shown after the
    verdict's explanation, so that the verdict stays the first line."""
    open_: dict[str, int] = {}
    warnings = []
    for position, event in enumerate(history.events):
        if event.type == INVOKE and event.process in open_:
            first = history.events[open_[event.process]]
            warnings.append(f"warning: {history.where(position)}: process {event.process} "
                            f"invoked {event.f} while its {first.f} invoked on line "
                            f"{history.lines[open_[event.process]]} was still open; the "
                            f"earlier one is read as info (unknown outcome)")
        if event.type == INVOKE:
            open_[event.process] = position
        else:
            open_.pop(event.process, None)
    return warnings


def _txn_level(level: str, process_order: bool, initial: str, writes_follow_reads: bool,
               sequential_keys: bool) -> tuple[str, dict[str, Any]]:
    """The level to check and the checker's options, from the command line's."""
    options: dict[str, Any] = {"writes_follow_reads": writes_follow_reads,
                               "sequential_keys": sequential_keys}
    if initial not in ("nil", "null"):
        try:
            options["initial"] = int(initial)
        except ValueError:
            raise _bad_input(f"--initial-value: expected nil or an integer, found "
                             f"{initial!r}") from None
    if process_order:
        if f"strong-session-{level}" in LEVELS:
            level = f"strong-session-{level}"
        else:
            options["process_order"] = True
    return level, options


def _check_shapes(calls: list[Operation], model: SequentialModel, history: HistoryFile) -> None:
    """Every call's arguments have a shape the model can take (`kv` needs [key, ...], ...).

    Models unpack their arguments whatever the state, so trying each call once on the initial
    state finds a misfit before the search would trip over it.
    """
    for call in calls:
        try:
            model.apply(model.initial(), call.f, call.args)
        except (TypeError, ValueError, IndexError) as exc:
            raise _bad_input(f"{history.where(call.call)}: operation #{call.id} "
                             f"({call.describe()}) does not fit the {model.name} model: "
                             f"{exc}") from None


def witness_summary(verdict: Verdict, ops: list[Operation]) -> list[str]:
    """The ops the witness names, described one per line (the words are in the explanation)."""
    by_id = {op.id: op for op in ops}
    named = [i for i in dict.fromkeys(_named_op_ids(verdict.witness)) if i in by_id]
    if not named:
        return []
    lines = [f"witness: {len(named)} operation(s)"]
    lines += [f"  #{i} {by_id[i].describe()}" for i in named[:_SHOWN_OPS]]
    if len(named) > _SHOWN_OPS:
        lines.append(f"  ... and {len(named) - _SHOWN_OPS} more (see --markdown)")
    return lines


def _named_op_ids(witness: Any) -> list[int]:
    """Op ids a witness names, in order.

    A linearizability failure names its stuck ops and the last few it linearized before them;
    a transactional anomaly its transactions (`ops` or `txns`).
    """
    if isinstance(witness, list):
        return [i for item in witness for i in _named_op_ids(item)]
    if not isinstance(witness, dict):
        return []
    if "stuck" in witness:
        return [*witness.get("linearized", [])[-3:], *witness["stuck"]]
    if "ops" in witness:
        return [op["id"] for op in witness["ops"] if isinstance(op, dict) and "id" in op]
    return [i for i in witness.get("txns", []) if isinstance(i, int)]


def printable_lines(text: str) -> str:
    """Lines written by a checker, each made printable: the checker's own line breaks stay,
    nothing else can break a line, start an escape sequence or fail to encode."""
    return "\n".join(printable(line) for line in text.split("\n"))


def markdown(verdict: Verdict, heading: str, summary: list[str]) -> str:
    """The verdict, its explanation, the ops it names and the full witness as JSON.

    `heading` is Markdown (outside text in it must be in code spans); everything else from
    the history goes into code blocks, where no HTML or Markdown is interpreted.
    """
    lines = [f"# `{verdict.invariant}`: {verdict.status}", "", f"Checked {heading}.", "",
             "## Explanation", "", *_fenced(printable_lines(verdict.explanation), "text"), ""]
    if summary:
        lines += ["## Operations named by the witness", "",
                  *_fenced(printable_lines("\n".join(summary)), "text"), ""]
    if verdict.witness is not None:
        lines += ["## Witness", "", *_fenced(_json_by_entry(verdict.witness), "json"), ""]
    return "\n".join(lines)


def _json_by_entry(witness: Any) -> str:
    """JSON with each top-level entry on a line of its own: tall enough to scan, no taller."""
    def dump(value: Any) -> str:
        return json.dumps(value, default=repr)

    if isinstance(witness, list) and witness:
        return "[\n " + ",\n ".join(dump(item) for item in witness) + "\n]"
    if isinstance(witness, dict) and witness:
        return "{\n " + ",\n ".join(f"{dump(str(k))}: {dump(v)}"
                                     for k, v in witness.items()) + "\n}"
    return dump(witness)


def _fenced(text: str, language: str) -> list[str]:
    """A code block whose fence is longer than any run of backticks inside it."""
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    return [f"{fence}{language}", text, fence]


def _code_span(text: str) -> str:
    """`text` (made printable) as inline code: delimited by more backticks than any run
    inside, padded with a space where it starts or ends with one (CommonMark's rule)."""
    text = printable(text)
    fence = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall("`+", text)), default=0)


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _bad_input(f"cannot write {path}: {exc}") from None
