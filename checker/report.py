"""Counterexample reports: numbered trace, sequence diagram, sub-history, the checker's words.

Everything shown is escaped for its medium: messages and values come from the simulated
system, and names, paths and config names from replay files and the command line, so any of
them may hold any character. `printable` makes a string one line that cannot start a terminal
escape; the Markdown helpers add what Markdown and Mermaid need. Plain names pass unchanged.
"""

from __future__ import annotations

import html
import re
import urllib.parse
from pathlib import Path
from typing import Any

from checker import slice as causal
from checker.historyio import printable
from checker.run import RunResult
from checker.sim import Step
from checker.system import System
from invariants.history import Operation


def describe_step(step: Step) -> str:
    """One trace step in words (plain text: callers escape for their medium)."""
    kind, *args = step.event
    match kind:
        case "deliver":
            return f"{args[0]} → {args[1]}: {step.detail!r}"
        case "drop":
            return f"drop {args[0]} → {args[1]}: {step.detail!r}"
        case "duplicate":
            return f"duplicate {args[0]} → {args[1]}: {step.detail!r}"
        case "fire":
            return f"{args[0]}: timer {args[1]!r} fires"
        case "invoke":
            f, op_args = step.detail
            return f"{args[0]} invokes {f}{_call_args(op_args)}"
        case "crash":
            lost = f" (lost {step.detail} unsynced writes)" if step.detail else ""
            return f"crash {args[0]}{lost}"
        case "restart":
            return f"restart {args[0]} (recovers from storage)"
        case "partition":
            return f"partition: {{{', '.join(args[0])}}} cut off from the rest"
        case "heal":
            return "heal the partition"
        case "pause":
            return f"pause {args[0]} for {args[1]} ticks"
        case "skew":
            return f"skew {args[0]}'s clock to offset {args[1]:+d}"
        case "drift":
            pace = "fast" if args[1] > 0 else "slow" if args[1] < 0 else "true"
            return f"{args[0]}'s clock drifts: it runs {pace}, {args[1]:+d}‰ (within ±epsilon)"
        case "reset":
            lost = f" (lost {step.detail} in flight)" if step.detail else ""
            return f"reset the connection {args[0]} ↔ {args[1]}{lost}"
    return repr(step.event)


def trace_lines(steps: list[Step], start: int = 1) -> list[str]:
    """Numbered lines, each printable; timers that fired only because time had to pass are
    folded into one."""
    return [_group_line(number, group) for number, group in enumerate(_folded(steps), start)]


def _group_line(number: int, group: list[Step]) -> str:
    first = group[0]
    if first.phase == "implied":
        return printable(f"{number:3}. t={first.time:<5} {_time_passes(group)}")
    return printable(f"{number:3}. t={first.time:<5} "
                     f"{'(ending) ' if first.phase == 'quiesce' else ''}{describe_step(first)}")


def _folded(steps: list[Step]) -> list[list[Step]]:
    """Each step alone, except that a run of implied steps is one group."""
    return [[steps[i] for i in group] for group in folded_indices(steps)]


def folded_indices(steps: list[Step]) -> list[list[int]]:
    """The steps' indices in groups: each alone, except a run of implied steps."""
    groups: list[list[int]] = []
    for i, step in enumerate(steps):
        if step.phase == "implied" and groups and steps[groups[-1][0]].phase == "implied":
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def sliced_lines(steps: list[Step], in_slice: set[int]) -> tuple[list[str], list[str]]:
    """Numbered lines of the folded steps, numbered by their place among all of them: the
    groups holding a step of the slice (indices into `steps`), and the others."""
    shown: list[str] = []
    folded: list[str] = []
    for number, group in enumerate(folded_indices(steps), 1):
        line = _group_line(number, [steps[i] for i in group])
        (shown if in_slice.intersection(group) else folded).append(line)
    return shown, folded


def slice_section(steps: list[Step], in_slice: set[int], chosen: tuple[int, int]) -> list[str]:
    """The causal slice of `steps` in a code block, the other steps folded in a <details>."""
    shown, folded = sliced_lines(steps, in_slice)
    if not folded:
        head = (f"All {len(shown)} steps are in the causal slice: the violation depends on "
                "each of them.")
        return [head, "", "```text", *shown, "```"]
    head = (f"**The causal slice** ({CAUSAL_SLICE}): {len(shown)} of {len(shown) + len(folded)} "
            f"steps, {chosen[1]} of the {chosen[0]} chosen events. Steps keep their numbers; "
            f"the other {len(folded)} are folded below.")
    return [head, "", "```text", *shown, "```", "",
            f"<details><summary>The other {len(folded)} steps: the violation does not depend "
            "on them</summary>", "", "```text", *folded, "```", "", "</details>"]


def _time_passes(group: list[Step]) -> str:
    counts: dict[str, int] = {}
    for step in group:
        name = f"{step.event[1]} {step.event[2]!r}"
        counts[name] = counts.get(name, 0) + 1
    timers = ", ".join(name + (f" ×{n}" if n > 1 else "") for name, n in counts.items())
    return f"time passes to t={group[-1].time}: {timers}"


def violating_ops(result: RunResult) -> list[Operation]:
    """The operations the witness names, or the whole history when it names none."""
    ops = result.sim.operations()
    witness = result.verdict.witness
    named = _witness_op_ids(witness)
    chosen = [op for op in ops if op.id in named] if named else ops
    return chosen or ops


def _witness_op_ids(witness: Any) -> set[int]:
    if isinstance(witness, dict):
        ids: set[int] = set()
        for key in ("linearized", "stuck"):
            ids.update(i for i in witness.get(key, []) if isinstance(i, int))
        for op in witness.get("ops", []):
            if isinstance(op, dict) and isinstance(op.get("id"), int):
                ids.add(op["id"])
        for part in witness.get("partitions", []):
            ids |= _witness_op_ids(part)
        return ids
    if isinstance(witness, list):
        return {op["id"] for op in witness if isinstance(op, dict) and "id" in op}
    return set()


CAUSAL_SLICE = ("the steps the violation depends on, through messages, each node's own "
                "changes and the state the invariant reads")


def markdown(result: RunResult, system: System, replay_path: str,
             shrunk_from: int | None = None, viewer: str | None = None,
             timeline: str | None = None) -> str:
    """The report. `viewer`, `timeline`: the names of the trace viewer's and the history
    timeline's files beside it, to link."""
    result, cut = causal.of_run(system, result, violating_ops(result))
    variant = system.variant(result.variant)
    verdict = result.verdict
    cause = variant.breaks or f"the {variant.name} variant"
    lines = [
        f"# {_md(system.name)}:{_md(result.variant)} — `{_code(verdict.invariant)}` "
        f"{_md(verdict.status)}",
        "",
        f"**What broke.** {_md(cause)}: {_md(verdict.explanation)}",
        "",
    ]
    if variant.teaches:
        lines += [f"**Teaches.** {_md(variant.teaches)}", ""]
    size = len(result.choices)
    lines += [f"Seed {result.seed}, config `{_code(result.config.name)}`; {size} chosen events"
              + (f" (shrunk from {shrunk_from})" if shrunk_from is not None else "") + ".", ""]
    if viewer is not None:
        lines += [f"[Step through it in the trace viewer]({urllib.parse.quote(viewer)}): every "
                  "node's state, the messages in flight and the timers at each step.", ""]
    if timeline is not None:
        lines += [f"[See the history on a timeline]({urllib.parse.quote(timeline)}): a lane "
                  "per client, the longest linearizable prefix drawn on the operations and "
                  "the one that cannot take effect next.", ""]
    lines += ["## Trace", ""] + _trace_section(result, cut) + [""]
    lines += ["## Sequence diagram", "", "The causal slice's steps (of those shown above the "
              "fold).", "", "```mermaid", *mermaid(result, cut.steps), "```", ""]
    lines += ["## The violating history", ""]
    lines += [f"- `{_code(op.describe())}`" for op in violating_ops(result)] or ["(empty)"]
    lines += ["", "## Replay", "", "```", printable(f"deepdives replay {replay_path}"), "```", ""]
    return "\n".join(lines)


def _trace_section(result: RunResult, cut: causal.CausalSlice) -> list[str]:
    steps = result.sim.trace[:cut.end]
    return slice_section(steps, set(cut.steps), cut.chosen(result))


def key_steps(result: RunResult) -> list[Step]:
    """The steps a reader needs: when a state invariant broke, every step up to that point;
    otherwise the chosen steps plus the steps of the ending that a client takes part in."""
    return [result.sim.trace[i] for i in key_indices(result)]


def key_indices(result: RunResult) -> list[int]:
    """The trace indices of `key_steps`."""
    witness = result.verdict.witness
    trace = result.sim.trace
    if isinstance(witness, dict) and isinstance(witness.get("step"), int):
        return list(range(min(witness["step"], len(trace))))
    clients = set(result.sim.clients)
    return [i for i, s in enumerate(trace)
            if s.phase != "quiesce" or clients.intersection(a for a in s.event[1:3]
                                                            if isinstance(a, str))]


def mermaid(result: RunResult, only: frozenset[int] | None = None) -> list[str]:
    """The key steps as a sequence diagram; `only`: just these trace indices among them."""
    sim = result.sim
    keys = set(key_indices(result))
    lines = ["sequenceDiagram"]
    lines += [f"    participant {_mermaid_id(node)}" for node in sim.clients + sim.servers]
    for indices in folded_indices(sim.trace):  # grouped as the numbered trace groups them
        group = [sim.trace[i] for i in indices if i in keys]
        if not group or (only is not None and only.isdisjoint(indices)):
            continue
        if group[0].phase == "implied":
            nodes = list(dict.fromkeys(_mermaid_id(step.event[1]) for step in group))
            span = nodes[0] if len(nodes) == 1 else f"{nodes[0]},{nodes[-1]}"
            lines.append(f"    Note over {span}: {_mermaid_text(_time_passes(group))}")
        else:
            lines += _mermaid_step(group[0])
    return lines


def _mermaid_step(step: Step) -> list[str]:
    kind, *args = step.event
    text = _mermaid_text(describe_step(step))
    args = [_mermaid_id(arg) if isinstance(arg, str) else arg for arg in args]
    match kind:
        case "deliver":
            return [f"    {args[0]}->>{args[1]}: {_mermaid_text(repr(step.detail))}"]
        case "drop":
            return [f"    {args[0]}-x{args[1]}: dropped {_mermaid_text(repr(step.detail))}"]
        case "fire" | "crash" | "restart" | "pause" | "skew" | "drift" | "invoke":
            return [f"    Note over {args[0]}: {text}"]
        case "reset":
            return [f"    Note over {args[0]},{args[1]}: {text}"]
    return []  # partition, heal, duplicate: in the numbered trace


def _mermaid_id(node: str) -> str:
    """A node's name as a Mermaid participant: a plain name as it is; any other spelled out
    in letters, digits and _ (in a diagram, punctuation would end the name, a line break the
    statement)."""
    if re.fullmatch(r"\w+", node, re.ASCII):
        return node
    return "".join(ch if ch.isascii() and ch.isalnum() else f"_{ord(ch):x}_" for ch in node)


def _mermaid_text(text: str) -> str:
    """Mermaid message text: printable, and its own entity codes for ; # and HTML."""
    codes = {"#": "#35;", ";": "#59;", "<": "#60;", ">": "#62;", "&": "#38;"}
    return "".join(codes.get(ch, ch) for ch in printable(text[:160]))


def _md(text: str) -> str:
    """Markdown text: no HTML, and no character that could start a line or an escape beyond
    the line breaks the text already has."""
    return html.escape("\n".join(printable(line) for line in text.split("\n")), quote=False)


def _code(text: str) -> str:
    """The inside of a code span: one printable line without backticks."""
    return printable(text).replace("`", "'")


def _call_args(args: Any) -> str:
    if isinstance(args, tuple):
        return "(" + ", ".join(repr(a) for a in args) + ")"
    return f"({args!r})"


def write_markdown(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
