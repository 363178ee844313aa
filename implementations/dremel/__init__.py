"""Dremel (Melnik et al., VLDB 2010): nested records stored as columns, and a serving tree.

Records follow a schema of required, optional and repeated fields, atomic or groups of
fields. Each atomic field becomes a *column* of entries (value, r, d), the value NULL when
the field is missing:

- the *repetition level* r says at which repeated field of the path the value repeated (0:
  it starts a new record); at most the number of repeated fields on the path;
- the *definition level* d says how many of the path's optional and repeated fields are
  present; at most their number, reached only by a value.

With both levels the columns alone determine the records: `striping.py` splits records into
columns (the paper's DissectRecord over a tree of field writers, a NULL placeholder for
every missing field), `assembly.py` puts them back together with the paper's finite-state
machine, from all the columns or from any subset of them (partial assembly: the records
projected on those fields). `query.py` answers aggregations (COUNT, SUM, MIN, MAX, AVG,
optionally GROUP BY a field that does not repeat) from the columns alone, as partial
aggregates that combine; `serving.py` is the serving tree — root, intermediate servers,
leaf servers over tablets — with aggregation pushed down to the leaves and stragglers
handled by backups, answering exactly or, after a given percentage of the tablets,
approximately with the fraction it covers. The tree's servers are nodes on the simulation
engine, run inside a property: the case's `schedule` seeds the order of their messages and
timers.

This is a property system (`checker.properties`): nothing is scheduled. Hypothesis draws
cases (`cases.py`: a schema, records, columns to assemble, a query, tablets, slow tablets,
a tree) and the properties (`checks.py`) hold the code to the model, `models/dremel.py`.
"""

from __future__ import annotations

from checker.properties import PropertySystem
from checker.system import Config, Variant
from implementations.dremel import cases
from implementations.dremel.checks import PROPERTIES
from implementations.dremel.engine import Dremel
from implementations.dremel.striping import DefinitionWrongAncestor, NoMissingPlaceholder

CONFIGS = {
    "default": Config("default", params={"max_fields": 6, "max_depth": 3, "max_records": 5,
                                         "max_repeat": 3, "max_tablets": 4,
                                         "max_servers": 4}),
    "small": Config("small", params={"max_fields": 3, "max_depth": 2, "max_records": 2,
                                     "max_repeat": 2, "max_tablets": 2, "max_servers": 2}),
}

VARIANTS = {
    "correct": Variant("correct", Dremel()),
    "no-missing-placeholder": Variant(
        "no-missing-placeholder", Dremel(striper=NoMissingPlaceholder()),
        breaks="a missing optional or repeated field writes no NULL into its columns, so "
               "the columns lose count of records and later values move into earlier ones",
        caught_by="roundtrip",
        teaches="Dremel, section 4.2 ('Splitting records into columns'): every column holds "
                "an entry for every record, a NULL where the field is missing"),
    "definition-wrong-ancestor": Variant(
        "definition-wrong-ancestor", Dremel(striper=DefinitionWrongAncestor()),
        breaks="a missing field's NULL is defined down to the missing field itself instead "
               "of to its parent: it claims more of its path than the record holds, as deep "
               "as a value, or down into a group that is not there",
        caught_by="roundtrip",
        teaches="Dremel, section 4.1 ('Repetition and definition levels'): d counts the "
                "optional and repeated fields of the path that are present, up to the "
                "deepest ancestor the record actually holds"),
}

SYSTEM = PropertySystem(
    name="dremel",
    paper="Melnik et al., Dremel: Interactive Analysis of Web-Scale Datasets (VLDB 2010)",
    summary="nested columns with repetition and definition levels, record assembly by FSM, "
            "a serving tree with aggregation pushdown and stragglers",
    invariants=PROPERTIES,
    configs=CONFIGS,
    variants=VARIANTS,
    inputs=cases.inputs,
    to_json=cases.to_json,
    from_json=cases.from_json,
    size=cases.size,
    show=cases.show,
)
