"""The properties: what Dremel's code makes of a case must agree with the model
(`models.dremel`: records as nested values, columns as the paper defines their levels,
queries evaluated record by record).

They are checked in this order, and a case's verdict is the first one broken. None of them
asks the code whether it is right: records are compared with the generated records or
their projection, columns with the model's definition of every level, query answers with
the model's row-wise evaluation over the records the case put in each tablet, and the
dispatcher's backups with what the messages delivered to the root had told it.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from checker.properties import property_invariant
from implementations.dremel.cases import Case
from implementations.dremel.engine import Dremel
from implementations.dremel.schema import show_value
from implementations.dremel.serving import ROOT, Answer, Backup, Finished, Idle, Started, leaf_name
from implementations.dremel.striping import Columns
from models import dremel as model


def _levels(columns: Columns) -> dict[str, list[tuple]]:
    return {path: [(e.value, e.r, e.d) for e in entries] for path, entries in columns.items()}


def _column_text(entries: list[tuple]) -> str:
    return ", ".join(f"{show_value(v)} {r} {d}" for v, r, d in entries) or "(empty)"


def _columns_text(columns: Columns) -> str:
    return "; ".join(f"{path}: {_column_text(entries)}"
                     for path, entries in _levels(columns).items())


def _short(value: Any, most: int = 240) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= most else text[:most - 3] + "..."


def _mismatch(got: list[dict], expected: list[dict]) -> str:
    if len(got) != len(expected):
        return f"{len(got)} records where there were {len(expected)}" + \
            (f": {_short(got)}" if got else "")
    i = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
    return f"record {i + 1} comes back as {_short(got[i])}, not {_short(expected[i])}"


@property_invariant("roundtrip")
def roundtrip(dremel: Dremel, case: Case) -> str | None:
    """Assembling all the columns gives back the records striped into them:
    assemble(stripe(records)) == records, record for record."""
    columns = dremel.stripe(case.schema, case.records)
    back = dremel.assemble(case.schema, columns)
    if back == case.records:
        return None
    return f"assemble(stripe(records)): {_mismatch(back, case.records)}; the columns " \
           f"(value r d) were {_short(_columns_text(columns))}"


@property_invariant("partial-assembly")
def partial_assembly(dremel: Dremel, case: Case) -> str | None:
    """Assembling only some columns gives the records projected on those fields: every
    group that is present stays, holding only the fields that lead to a chosen column."""
    columns = dremel.stripe(case.schema, case.records)
    chosen = list(case.columns)
    back = dremel.assemble(case.schema, columns, chosen)
    expected = model.project(case.schema, case.records, chosen)
    if back == expected:
        return None
    return f"assembling {', '.join(chosen)}: {_mismatch(back, expected)}"


@property_invariant("levels")
def levels(dremel: Dremel, case: Case) -> str | None:
    """Every column obeys the rules of repetition and definition levels, and holds exactly
    the entries the paper's definitions give the records."""
    columns = _levels(dremel.stripe(case.schema, case.records))
    if problems := model.column_problems(case.schema, columns):
        return problems[0]
    for path, entries in model.stripe(case.schema, case.records).items():
        if columns[path] != entries:
            return f"column {path} is {_short(_column_text(columns[path]))}; the " \
                   f"definitions give {_short(_column_text(entries))}"
    return None


def _expected(case: Case, records: list[dict]) -> list[list[Any]]:
    query = {"aggregate": case.query.aggregate, "value": case.query.value,
             "group_by": case.query.group_by}
    return model.evaluate(case.schema, records, query)


@property_invariant("column-query")
def column_query(dremel: Dremel, case: Case) -> str | None:
    """A query evaluated over the columns answers what it answers record by record."""
    got = dremel.query(case.query, dremel.stripe(case.schema, case.records))
    expected = _expected(case, case.records)
    return None if got == expected else \
        f"{case.query} over the columns is {_short(got)}; record by record, {_short(expected)}"


def _answer(dremel: Dremel, case: Case, percent: int | None) -> Answer | str:
    """The tree's answer, or why there is none."""
    answer = dremel.serve(case.schema, case.query, case.tablets(), frozenset(case.slow),
                          case.leaves, case.fanout, percent, case.schedule)
    if answer is None:
        mode = "an exact" if percent is None else f"an approximate ({percent}%)"
        return f"the serving tree never gave its user {mode} answer"
    return answer


@property_invariant("serving-exact")
def serving_exact(dremel: Dremel, case: Case) -> str | None:
    """In exact mode the serving tree, stragglers and all, answers what the query answers
    over the whole table, having processed every tablet once."""
    answer = _answer(dremel, case, None)
    if isinstance(answer, str):
        return answer
    tablets = tuple(range(len(case.cuts) + 1))
    if answer.processed != tablets or answer.fraction != 1:
        return f"the exact answer covers tablets {list(answer.processed)} (fraction " \
               f"{answer.fraction}), not all of {list(tablets)}"
    expected = _expected(case, case.records)
    return None if answer.rows == expected else \
        f"the tree answers {_short(answer.rows)}; over the whole table, {_short(expected)}"


@property_invariant("serving-approximate")
def serving_approximate(dremel: Dremel, case: Case) -> str | None:
    """In approximate mode the root answers once the percentage asked for is processed: it
    states the fraction of tablets its answer covers, at least that percentage, and the
    answer is the query's over exactly those tablets."""
    answer = _answer(dremel, case, case.percent)
    if isinstance(answer, str):
        return answer
    tablets = case.tablets()
    processed = answer.processed
    if list(processed) != sorted(set(processed)) or \
            not all(0 <= t < len(tablets) for t in processed):
        return f"the answer claims tablets {list(processed)} of {len(tablets)}"
    if answer.fraction != Fraction(len(processed), len(tablets)):
        return f"the answer states fraction {answer.fraction} but covers " \
               f"{len(processed)} of {len(tablets)} tablets"
    if answer.fraction < Fraction(case.percent, 100):
        return f"asked for {case.percent}%, the answer covers only {answer.fraction}"
    expected = _expected(case, [r for t in processed for r in tablets[t]])
    return None if answer.rows == expected else \
        f"over tablets {list(processed)} the tree answers {_short(answer.rows)}; the " \
        f"query over their records, {_short(expected)}"


def _holders(tablet: int, leaves: int) -> set[str]:
    """The leaves holding a replica of a tablet, as the tree places them: its primary
    (tablet mod leaves) and the next one."""
    return {leaf_name(tablet % leaves), leaf_name((tablet + 1) % leaves)}


def first_missed_backup(trace: list, leaves: int) -> str | None:
    """The first dispatcher tick at which, by what the root had been told, an idle leaf held a
    replica of a tablet that had run a tick or more on another leaf without finishing; None
    if there was none. The root's knowledge is rebuilt from the messages delivered to it."""
    started: dict[int, tuple[str, int]] = {}  # tablet -> (leaf, told at)
    finished: set[int] = set()
    idle: set[str] = set()
    for step in trace:
        kind, *where = step.event
        if kind == "deliver" and where[1] == ROOT:
            src, msg = where[0], step.detail
            if isinstance(msg, Started):
                started.setdefault(msg.tablet, (src, step.time))
                idle.discard(src)
            elif isinstance(msg, Finished):
                finished.add(msg.tablet)
            elif isinstance(msg, Idle):
                idle.add(src)
        elif kind == "fire" and where[0] == ROOT:
            for leaf in sorted(idle):
                for tablet, (owner, since) in sorted(started.items()):
                    if tablet not in finished and owner != leaf and step.time - since >= 1 \
                            and leaf in _holders(tablet, leaves):
                        return f"at tick {step.time} the root had heard that {leaf} was " \
                               f"idle and that tablet {tablet} had run on {owner} since " \
                               f"tick {since} without finishing"
    return None


@property_invariant("serving-backups")
def serving_backups(dremel: Dremel, case: Case) -> str | None:
    """A straggler is backed up: once the dispatcher has been told that a leaf is idle while a
    tablet that leaf holds a replica of has run a tick or more elsewhere unfinished, some
    leaf is sent a `Backup` (this one, or another idle leaf, for this straggler or another).
    Read from the exact run's trace: the messages delivered to the root and its ticks."""
    sim = dremel.serving_run(case.schema, case.query, case.tablets(), frozenset(case.slow),
                             case.leaves, case.fanout, None, case.schedule)
    if any(isinstance(s.detail, Backup) for s in sim.trace if s.event[0] == "deliver"):
        return None
    missed = first_missed_backup(sim.trace, case.leaves)
    return None if missed is None else f"{missed}, yet no leaf was ever sent a backup"


PROPERTIES = (roundtrip, partial_assembly, levels, column_query, serving_exact,
              serving_backups, serving_approximate)
