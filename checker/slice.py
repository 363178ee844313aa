"""The causal slice of a counterexample: the steps the violation depends on.

A shrunk trace is 1-minimal in its choices, yet still holds steps that change nothing the
violation depends on: a heartbeat answered on another node, a timeout that re-arms itself.
The slice keeps a step when the violation depends on it, through

- messages: a delivery (or drop, or duplicate) depends on the step that sent its message,
  and a timer's firing on the step that set it;
- node-local order: a step at a node depends on the node's earlier steps that changed it
  (its state, its storage, its being up; a fault always counts). A step that left its node
  as it was -- a heartbeat that refreshed nothing -- cannot influence the node's later steps,
  only, through what it sent, other nodes'. A step that changed nothing, sent nothing and
  recorded nothing (a periodic tick that only re-armed itself) is looked through: what
  depends on it depends on what it depended on;
- the state the invariant reads: a state invariant reads the nodes its explanation or
  witness names (all of them when it names none), so the last step that changed each of
  them before the check counts, as does the step after which the check fired; a history
  invariant reads the client operations of its violating sub-history, so the steps that
  recorded their invocations and completions count, and, when one of them never returned,
  the last step that changed each server (such an operation's fate is the state the run
  ended in).

Where a step happens is `checker.recording.places`. Computed backwards from the last step,
over the steps that ran before the violation was seen.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

import attrs

from checker.recording import Recording, observe
from checker.run import RunResult
from checker.sim import MESSAGE_KINDS, Step
from checker.system import System
from invariants.history import Operation


@attrs.frozen
class CausalSlice:
    """`steps`: trace indices in the slice; `end`: how many steps ran before the violation
    was seen (the slice is within them)."""

    steps: frozenset[int]
    end: int

    def chosen(self, result: RunResult) -> tuple[int, int]:
        """(chosen events, chosen events in the slice)."""
        chosen = {id(step) for step in result.sim.chosen_steps()}
        indices = [i for i, step in enumerate(result.sim.trace) if id(step) in chosen]
        return len(indices), sum(1 for i in indices if i in self.steps)


def of_run(system: System, result: RunResult,
           operations: list[Operation]) -> tuple[RunResult, CausalSlice]:
    """Replay the run, recording, and slice it; the replayed result is the run.
    `operations`: the violating sub-history (what a history invariant reads)."""
    observed = observe(system, result)
    return observed.result, causal_slice(system, observed.result, observed.recording,
                                         operations)


def causal_slice(system: System, result: RunResult, recording: Recording,
                 operations: list[Operation]) -> CausalSlice:
    trace = result.sim.trace
    end = violation_end(result)
    depends = _dependencies(trace[:end], recording)
    seeds = _seeds(system, result, recording, end, operations)
    reached: set[int] = set()
    stack = [seed for seed in seeds if 0 <= seed < end]
    while stack:
        step = stack.pop()
        if step not in reached:
            reached.add(step)
            stack.extend(depends[step])
    return CausalSlice(frozenset(reached), end)


def violation_end(result: RunResult) -> int:
    """How many steps had run when the violation was seen: a state invariant's check fires
    after a step (its witness says which), a history invariant's at the end of the run."""
    witness = result.verdict.witness
    if isinstance(witness, dict) and isinstance(witness.get("step"), int):
        return min(witness["step"], len(result.sim.trace))
    return len(result.sim.trace)


def _dependencies(trace: list[Step], recording: Recording) -> list[list[int]]:
    """For each step, the steps it directly depends on, looking through idle steps."""
    senders = set(recording.sender.values())
    changed_at: dict[str, int] = {}  # node -> the last step that changed it
    set_at: dict[tuple[str, str], int] = {}  # timer -> the last step that set it
    depends: list[list[int]] = []
    idle: set[int] = set()
    for i, step in enumerate(trace):
        direct = [changed_at[node] for node in recording.places[i] if node in changed_at]
        kind = step.event[0]
        if kind in MESSAGE_KINDS and tuple(step.event[1:]) in recording.sender:
            direct.append(recording.sender[tuple(step.event[1:])])
        if kind == "fire" and tuple(step.event[1:]) in set_at:
            direct.append(set_at[tuple(step.event[1:])])
        depends.append(sorted({k for j in direct for k in (depends[j] if j in idle else [j])}))
        if not recording.changed[i] and i not in senders and not _recorded_history(recording, i):
            idle.add(i)
        changed_at.update(dict.fromkeys(recording.changed[i], i))
        set_at.update(dict.fromkeys(recording.timers_set[i], i))
    return depends


def _recorded_history(recording: Recording, step: int) -> bool:
    before = recording.history_after[step - 1] if step else recording.history_before
    return recording.history_after[step] > before


def _seeds(system: System, result: RunResult, recording: Recording, end: int,
           operations: list[Operation]) -> list[int]:
    if not _is_history_invariant(system, result.verdict.invariant):
        read = named_nodes(result) or set(result.sim.nodes)
        return [end - 1, *_last_changes(recording, end, read)]
    seeds = _steps_of_operations(operations, recording)
    if any(op.ret is None for op in operations):  # its fate is the state the run ended in
        seeds += _last_changes(recording, end, set(result.sim.servers))
    return seeds


def _last_changes(recording: Recording, end: int, nodes: set[str]) -> list[int]:
    """The last step before `end` that changed each of `nodes` (if any did)."""
    changed_at: dict[str, int] = {}
    for i in range(end):
        changed_at.update(dict.fromkeys(recording.changed[i], i))
    return [changed_at[node] for node in sorted(nodes) if node in changed_at]


def _is_history_invariant(system: System, name: str) -> bool:
    return any(inv.name == name and inv.kind == "history" for inv in system.invariants)


def named_nodes(result: RunResult) -> set[str]:
    """The nodes the verdict's explanation or witness names, as whole words."""
    verdict = result.verdict
    words = verdict.explanation + " " + json.dumps(verdict.witness, default=repr)
    return {node for node in result.sim.nodes
            if re.search(rf"(?<![\w]){re.escape(node)}(?![\w])", words)}


def _steps_of_operations(operations: list[Operation], recording: Recording) -> list[int]:
    """The steps that recorded the operations' invocations and completions."""
    positions: Iterable[int | None] = (
        position for op in operations for position in (op.call, op.ret))
    steps = (recording.step_of_history_event(p) for p in positions if p is not None)
    return [step for step in steps if step is not None]
