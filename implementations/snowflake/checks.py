"""The properties: what a variant makes of a script must refine the model (`models.snowflake`).

A script is run once per variant on a fresh account (`Run`), and the model runs beside it:
every write applied to the model's table, every query answered by its naive scan of the
version the query reads. Each query of the script is run twice in a row, the second time on
warm caches. Then, over every version the script committed, the run probes what a client was
promised: a full scan (twice, cold and warm), a point lookup of every value of every row
the version holds (`col = value`, or `col IS NULL`), then every such value compared by the
other operators (`col < value`, ...) and every WHERE clause of the script, each through
pruning and the warehouse like any query.

The properties are checked in this order, and a script's verdict is the first one broken.
None asks the implementation whether it is right: answers and versions are compared with the
model's rows, zone maps judged by the model's covering rule against the rows of their file,
files and caches against what was put in the store, pruning against the model's reading of
the zone maps the metadata keeps.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs

from checker.properties import property_invariant
from checker.system import Invariant
from implementations.snowflake.cases import COLUMNS, Case, open_account
from implementations.snowflake.services import Parts, QueryResult
from implementations.snowflake.storage import FileMeta
from models import snowflake as model
from models import snowflake_sql as sql

MODEL_COLUMNS = tuple((column.name, column.collation) for column in COLUMNS)


@attrs.frozen
class Query:
    label: str  # the SQL, and how it came to be run
    pred: Any
    version: int  # the version it reads, as the model counts them
    result: QueryResult
    expected: tuple


class Run:
    """One variant's run of one script, with the model beside it."""

    def __init__(self, parts: Parts, case: Case) -> None:
        self.parts, self.case = parts, case
        self.account = open_account(parts, case)
        self.table = model.Table(MODEL_COLUMNS)
        self.queries: list[Query] = []
        self.warm: list[tuple[Query, Query]] = []  # each script query, cold then warm
        self.cache_problems: list[str] = []  # after each statement
        for number, stmt in enumerate(case.statements):
            self._execute(stmt)
            self._check_caches(f"after statement {number}")
        versions = range(len(self.table.versions))
        for version in versions:
            self._probe(version)
        for version in versions:  # after every point lookup, which reads simplest in a report
            self._probe_wider(version)
        self._check_caches("after the probes")

    def _execute(self, stmt: tuple) -> None:
        kind = stmt[0]
        if kind == "select":
            text = sql.statement(stmt)
            self.warm.append((self._query(stmt[1], stmt[2], text),
                              self._query(stmt[1], stmt[2], f"{text} (again, warm)")))
            return
        self.account.execute(stmt)
        if kind == "insert":
            self.table.insert([row for batch in stmt[1] for row in batch])
        elif kind in ("delete", "update"):
            getattr(self.table, kind)(*stmt[1:])

    def _query(self, version: int | None, pred: Any, label: str) -> Query:
        read = self.table.current if version is None else version
        if version is None:
            label = f"{label} (reading version {read})"
        query = Query(label, pred, read, self.account.select(version, pred),
                      tuple(self.table.select(read, pred)))
        self.queries.append(query)
        return query

    def _probe(self, version: int) -> None:
        """A full scan, twice (cold, then warm), then a point lookup of every value the
        version holds."""
        text = sql.select(version, None)
        self.warm.append((self._query(version, None, f"{text} (probe)"),
                          self._query(version, None, f"{text} (probe, again, warm)")))
        lookups = dict.fromkeys(
            ("is null", name) if value is None else ("cmp", "=", name, value)
            for row in self.table.rows(version) for (name, _), value in zip(MODEL_COLUMNS, row))
        for pred in lookups:
            self._query(version, pred, f"{sql.select(version, pred)} (probe)")

    def _probe_wider(self, version: int) -> None:
        """Every value the version holds compared by every other operator (`col < value`,
        ...: a boundary is where a comparison or a pruning rule is off by one), then every
        predicate the script uses, at this version too."""
        bounds = dict.fromkeys(("cmp", op, name, value)
                               for row in self.table.rows(version)
                               for (name, _), value in zip(MODEL_COLUMNS, row)
                               if value is not None
                               for op in model.COMPARISONS if op != "=")
        for pred in [*bounds, *dict.fromkeys(_predicates(self.case))]:
            self._query(version, pred, f"{sql.select(version, pred)} (probe)")

    def _check_caches(self, when: str) -> None:
        store = self.account.store.files
        for worker in self.account.warehouse.workers.values():
            for name, cached in worker.cache.items():
                if store.get(name) != cached:
                    self.cache_problems.append(
                        f"{when}, worker {worker.name} caches {name} with rows "
                        f"{_rows(cached.rows())}, but the store holds "
                        f"{_rows(store[name].rows()) if name in store else 'no such file'}")

    def files(self) -> list[FileMeta]:
        """Every file some version lists, once, in the order versions first list them."""
        seen: dict[str, FileMeta] = {}
        for version in self.account.metadata.versions:
            for meta in version.files:
                seen.setdefault(meta.name, meta)
        return list(seen.values())


_LATEST: list[Run] = []  # the properties of one script share its run


def run(parts: Parts, case: Case) -> Run:
    if not (_LATEST and _LATEST[0].parts is parts and _LATEST[0].case is case):
        _LATEST[:] = [Run(parts, case)]
    return _LATEST[0]


def wrong_answer(the_run: Run) -> str | None:
    """Every query -- the script's, at the current version or by time travel, and the probes:
    a full scan, a point lookup of every value of every version, that value compared by
    every other operator, and every WHERE clause of the script at every version -- returns
    exactly the rows the naive scan of that version returns, after pruning, through the
    warehouse's caches."""
    for query in the_run.queries:
        problem = model.answer_problem(query.result.rows, query.expected)
        if problem:
            return f"{query.label} returned {problem}{_pruned(query)}"
    return None


def wrong_version(the_run: Run) -> str | None:
    """Every write commits one new version, and each version, read file by file from the
    store as the metadata lists them, holds exactly the model's rows for it: the current one
    and every older one time travel may read."""
    committed, expected = the_run.account.metadata.versions, the_run.table.versions
    if len(committed) != len(expected):
        return f"the metadata holds {len(committed)} versions, the script made {len(expected)}"
    store = the_run.account.store.files
    for number, (version, rows) in enumerate(zip(committed, expected)):
        missing = [name for name in version.names() if name not in store]
        if missing:
            return f"version {number} lists {missing[0]}, which is not in the store"
        held = [row for name in version.names() for row in store[name].rows()]
        if problem := model.version_problem(number, held, rows):
            return problem
    return None


def uncovered_rows(the_run: Run) -> str | None:
    """The zone maps the metadata keeps for a file cover the file's rows: every value within
    [min, max] under its column's collation, NULLs counted when there are any, values counted
    when there are any, the file's row count."""
    for meta in the_run.files():
        partition = the_run.account.store.files.get(meta.name)
        if partition is None:
            continue  # `versions` says so
        for (name, collation), zone, values in zip(MODEL_COLUMNS, meta.zone_maps,
                                                   partition.columns):
            problem = model.covering_problem((zone.min, zone.max, zone.null_count), values,
                                             collation, meta.row_count)
            if problem:
                return f"{meta.name}, column {name}: {problem}"
    return None


def rewritten_file(the_run: Run) -> str | None:
    """Files are immutable: no name is ever put in the store twice, so a name read -- by any
    version, from any cache -- always means the same rows."""
    puts = Counter(the_run.account.store.puts)
    twice = sorted(name for name, count in puts.items() if count > 1)
    return f"{twice[0]} was put in the store {puts[twice[0]]} times" if twice else None


def stale_cache(the_run: Run) -> str | None:
    """After every statement, every file in every worker's cache is the file the store holds
    under that name: a new version names new files, so no cache is ever stale."""
    return the_run.cache_problems[0] if the_run.cache_problems else None


def missed_pruning(the_run: Run) -> str | None:
    """A query whose predicate is one atom (a comparison, BETWEEN, IN, IS [NOT] NULL) prunes
    every file whose zone map rules the atom out: no value the zone map allows -- NULL when it
    counts NULLs, any value in [min, max] when it counts values -- makes the atom TRUE."""
    collations = dict(MODEL_COLUMNS)
    for query in the_run.queries:
        pred = query.pred
        if pred is None or pred[0] not in model.ATOMS:
            continue
        name = pred[2] if pred[0] == "cmp" else pred[1]
        index = [column for column, _ in MODEL_COLUMNS].index(name)
        for scan in query.result.scans:
            zone = scan.meta.zone_maps[index]
            if model.excluded(pred, (zone.min, zone.max, zone.null_count), collations[name],
                              scan.meta.row_count):
                return f"{query.label} read {scan.meta.name}, whose zone map for {name} " \
                       f"({_zone(zone)}) rules the predicate out"
    return None


def cold_cache(the_run: Run) -> str | None:
    """A query run again at once, on the same warehouse, reads every file from its worker's
    cache when that worker's share of the files fits in its cache: consistent hashing sends
    each file to the same worker both times, and the worker kept what it read."""
    capacity = the_run.case.cache_files
    for cold, warm in the_run.warm:
        share = Counter(scan.worker for scan in cold.result.scans)
        for scan in warm.result.scans:
            if not scan.hit and share[scan.worker] <= capacity:
                return f"{warm.label}: worker {scan.worker} read {scan.meta.name} from the " \
                       f"store, though its {share[scan.worker]} file(s) of the first run fit " \
                       f"its cache of {capacity}"
    return None


def _pruned(query: Query) -> str:
    if query.pred is None or not query.result.pruned:
        return ""
    names = _columns_of(query.pred)
    indexes = [i for i, (name, _) in enumerate(MODEL_COLUMNS) if name in names]
    shown = [meta.name + " (" + "; ".join(_zone(meta.zone_maps[i], MODEL_COLUMNS[i][0])
                                          for i in indexes) + ")"
             for meta in query.result.pruned]
    return f"; it pruned {', '.join(shown)}"


def _columns_of(pred: Any) -> set[str]:
    if pred[0] in ("not", "and", "or"):
        return set().union(*(_columns_of(p) for p in pred[1:]))
    return {pred[2] if pred[0] == "cmp" else pred[1]}


def _predicates(case: Case) -> list[Any]:
    """The WHERE clauses of the script's queries, deletes and updates, in script order."""
    where = {"select": 2, "delete": 1, "update": 3}
    return [stmt[where[stmt[0]]] for stmt in case.statements
            if stmt[0] in where and stmt[where[stmt[0]]] is not None]


def _zone(zone: Any, name: str = "") -> str:
    bounds = "no values" if zone.min is None else \
        f"min {sql.literal(zone.min)}, max {sql.literal(zone.max)}"
    return f"{name + ': ' if name else ''}{bounds}, nulls {zone.null_count}"


def _rows(rows: list) -> str:
    return ", ".join(model.show_row(row) for row in rows)


def _property(name: str, problem: Callable[[Run], str | None]) -> Invariant:
    """The property `name`: `problem` of the variant's run of the script."""
    return property_invariant(name, problem.__doc__ or "")(
        lambda parts, case: problem(run(parts, case)))


PROPERTIES = tuple(_property(name, problem) for name, problem in (
    ("answers", wrong_answer), ("versions", wrong_version), ("zone-maps", uncovered_rows),
    ("immutable-files", rewritten_file), ("fresh-caches", stale_cache),
    ("pruning-effective", missed_pruning), ("warm-cache", cold_cache)))
