"""The history timeline: one self-contained HTML page that draws a checked history.

`deepdives check FILE --html OUT` writes it, and `deepdives hunt --html` for a run whose history
is not linearizable. One lane per process; each operation a bar from its call to its return,
an `info` one open-ended (it may take effect at any later time, or never), a `fail` one
hatched. For linearizability, the order the search found is drawn on the bars: each op that
took effect gets a point inside its bar, numbered, the points of one partition joined by a
line, and hovering an op shows the model state after it. For a violation that is the longest
linearizable prefix, and the ops that could have gone next but cannot take effect are marked,
each with why. For a transactional check, each anomaly's transactions are marked and a cycle's
edges (ww, wr, rw, process, realtime) are drawn between their bars.

The x axis is the history's order (event positions): that is real time for the checkers
(docs/history-format.md); times only label events. A point inside each bar, at the later of
its call and the previous point, is a valid place for the op to take effect: the order found
respects real time, so no op comes after one that was called after it returned.

Safety and size as in the trace viewer (`checker.viewer.fill`): the data is script-safe JSON
and the page shows every string as text; only the bars in view exist in the page. Model states
are described once per distinct state, each shown up to `_STATE_CHARS` characters; describing
stops after `_STATES_BUDGET` characters in all (a log's state grows with every append).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checker.timeline_page import TEMPLATE
from checker.viewer import fill, write
from invariants.history import FAIL, INFO, OK, Operation
from invariants.linearizability import INVARIANT, WOULD_FIT, Linearization
from invariants.transactions import TXN
from models.sequential import SequentialModel

if TYPE_CHECKING:
    from checker.run import RunResult

_VALUE_CHARS = 300  # of an op's arguments or result
_STATE_CHARS = 600  # of one model state
_STATES_BUDGET = 2_000_000  # characters of model states described, in all
_ANOMALIES = 100  # anomalies of a transactional witness drawn
NOT_DESCRIBED = -1  # a state index: the state was not described (budget spent, or unknown)


def check_page(title: str, ops: list[Operation], verdict: Any, *,
               linearization: Linearization | None = None,
               model: SequentialModel | None = None, transactions: bool = False,
               named: Iterable[int] = ()) -> str:
    """The timeline of a history checked by `deepdives check`: `linearization` and `model`
    for a linearizability check; for a `transactions` check, the anomalies its verdict's
    witness lists; `named`: the ops the witness names, marked (for any other check)."""
    data = _history(title, ops, verdict, named)
    if linearization is not None and model is not None:
        data.update(_searched_orders(linearization, model))
    elif transactions and isinstance(verdict.witness, list):
        data["anomalies"] = anomalies(verdict.witness)
    return fill(TEMPLATE, title, data)


def run_page(result: RunResult) -> str | None:
    """The timeline of a simulated run whose history is not linearizable (None for any other
    verdict): the prefix and the stuck ops from the verdict's witness, which describes only
    the state after the prefix."""
    verdict = result.verdict
    failure = linearizability_failure(verdict)
    if failure is None:
        return None
    title = f"{result.system}:{result.variant} seed {result.seed}"
    data = _history(title, result.sim.operations(), verdict, ())
    data.update(_witnessed_order(failure))
    return fill(TEMPLATE, title, data)


def write_beside(report_path: Path, result: RunResult) -> str | None:
    """Write a run's timeline beside its report (`hunt --html`) if its history is not
    linearizable; the name of the file written, or None."""
    text = run_page(result)
    if text is None:
        return None
    path = report_path.with_suffix(".timeline.html")
    write(path, text)
    return path.name


def linearizability_failure(verdict: Any) -> dict | None:
    """The witness of a violated linearizability check (its failing partition), else None."""
    witness = verdict.witness
    if verdict.invariant != INVARIANT or not verdict.violated or not isinstance(witness, list) \
            or not witness or not isinstance(witness[0], dict) or "stuck" not in witness[0]:
        return None
    return witness[0]


def _history(title: str, ops: list[Operation], verdict: Any, named: Iterable[int]) -> dict:
    """What every timeline has: the ops in lanes, the verdict, the ops it names."""
    processes = list(dict.fromkeys(op.process for op in sorted(ops, key=_first_event)))
    lanes = {process: lane for lane, process in enumerate(processes)}
    end = max((max(op.call, op.ret or 0) for op in ops), default=0) + 1
    return {
        "title": title,
        "verdict": {"invariant": verdict.invariant, "status": verdict.status,
                    "explanation": verdict.explanation},
        "processes": processes,
        "end": end,
        "ops": [_op_row(op, lanes[op.process]) for op in ops],
        "named": sorted(set(named)),
        "partitions": [], "states": [], "anomalies": [],
    }


def _first_event(op: Operation) -> int:
    """An op's first event: its call, or for a completion-only op (call -1) its completion."""
    return op.call if op.call >= 0 else op.ret or 0


def _op_row(op: Operation, lane: int) -> list:
    """[id, lane, call, ret, status, label, call time, return time]; call None: unknown (a
    completion-only op), ret None: never returned."""
    return [op.id, lane, op.call if op.call >= 0 else None, op.ret, op.status, label(op),
            op.call_time if op.call >= 0 else None, op.ret_time]


def label(op: Operation) -> str:
    """What a bar says: the call and its outcome; a transaction, its micro-ops as completed
    (as invoked unless it completed ok)."""
    if op.f == TXN and isinstance(op.args, (list, tuple)):
        mops = op.result if op.status == OK and isinstance(op.result, (list, tuple)) \
            else op.args
        call = f"T{op.id} " + shown(" ".join(_micro_op(mop) for mop in mops), raw=True)
    else:
        call = op.f + _arguments(op.args)
    outcome = {OK: "" if op.f == TXN else f" \u2192 {shown(op.result)}",
               FAIL: " \u2717 failed", INFO: " ? unknown outcome"}
    return call + outcome.get(op.status, "")


def _micro_op(mop: Any) -> str:
    if isinstance(mop, (list, tuple)):
        return "[" + " ".join(v if isinstance(v, str) and i == 0 else repr(v)
                              for i, v in enumerate(mop)) + "]"
    return repr(mop)


def _arguments(args: Any) -> str:
    if isinstance(args, (tuple, list)):
        return "(" + shown(", ".join(repr(a) for a in args), raw=True) + ")"
    return "(" + shown(args) + ")"


def shown(value: Any, *, raw: bool = False, limit: int = _VALUE_CHARS) -> str:
    """A value as the checkers show it (its repr; `raw`: a string as it is), cut to `limit`."""
    text = value if raw else repr(value)
    return text if len(text) <= limit else text[:limit] + f"\u2026 ({len(text) - limit} more)"


# -- linearizability -------------------------------------------------------------------------

def _searched_orders(linearization: Linearization, model: SequentialModel) -> dict:
    """Each searched partition's order, with the state after each op described."""
    states = _StateTexts(model)
    partitions = [{"status": part.status, "order": list(part.order),
                   "states": [states.index(state) for state in part.states],
                   "stuck": [list(pair) for pair in _misfits_first(part.stuck)]}
                  for part in linearization.partitions]
    return {"partitions": partitions, "states": states.texts}


def _misfits_first(stuck: tuple[tuple[int, str], ...]) -> list[tuple[int, str]]:
    """The ops that cannot go next, those that do not fit the state first: the page goes to
    the first, and an op that would fit but only puts the misfit off is not the violation."""
    return sorted(stuck, key=lambda pair: pair[1] in WOULD_FIT)


def _witnessed_order(failure: dict) -> dict:
    """The failing partition as a violation's witness tells it: the prefix, the state after
    its last op (the only one the witness describes), the ops that could not go next."""
    order = list(failure.get("linearized", []))
    indices = [NOT_DESCRIBED] * len(order)
    texts = []
    if order and isinstance(failure.get("state"), str):
        indices[-1] = 0
        texts.append(shown(failure["state"], raw=True, limit=_STATE_CHARS))
    return {"partitions": [{"status": "violated", "order": order, "states": indices,
                            "stuck": [[i, None] for i in failure["stuck"]]}],
            "states": texts}


class _StateTexts:
    """Model states described once each (equal states share one text), within the budget."""

    def __init__(self, model: SequentialModel) -> None:
        self.model = model
        self.texts: list[str] = []
        self.indices: dict[Hashable, int] = {}
        self.spent = 0

    def index(self, state: Hashable) -> int:
        found = self.indices.get(state)
        if found is not None:
            return found
        if self.spent >= _STATES_BUDGET:
            return NOT_DESCRIBED
        text = self.model.describe_state(state)
        self.spent += len(text)
        self.indices[state] = len(self.texts)
        self.texts.append(shown(text, raw=True, limit=_STATE_CHARS))
        return self.indices[state]


# -- transactions ----------------------------------------------------------------------------

def anomalies(witness: list) -> list[dict]:
    """The anomalies of a transactional witness as the page draws them: type, words, the
    transactions (a cycle's in order) and a cycle's edges with their kinds."""
    drawn = []
    for anomaly in witness[:_ANOMALIES]:
        if not isinstance(anomaly, dict) or "type" not in anomaly:
            continue
        txns = anomaly.get("cycle") or [op["id"] for op in anomaly.get("ops", [])
                                        if isinstance(op, dict) and "id" in op]
        edges = [{"from": edge["from"], "to": edge["to"], "type": edge["type"],
                  "key": shown(edge.get("key")), "why": edge.get("why", "")}
                 for edge in anomaly.get("edges", [])]
        drawn.append({"type": str(anomaly["type"]), "why": str(anomaly.get("why", "")),
                      "txns": list(dict.fromkeys(txns)), "edges": edges})
    return drawn
