"""Snowflake: immutable micro-partitions, zone maps and pruning, table versions and time travel,
virtual warehouses with consistent-hashing caches (Dageville et al., "The Snowflake Elastic
Data Warehouse", SIGMOD 2016).

Snowflake separates storage from compute. Tables live in an object store (S3) as immutable
files, the micro-partitions; the cloud services layer keeps the metadata (which files make up
each table version, and statistics for every file); queries run on a virtual warehouse, a
set of worker nodes that share nothing but cache the files they read.

| piece | here | what it is |
|---|---|---|
| micro-partition | `storage.py` | a batch of rows in a file of its own, columnar, written once |
| zone map | `storage.py` | per file and column: min, max (in the collation), null count |
| table version | `metadata.py` | a list of files; a write commits the next, old ones stay |
| pruning | `pruning.py` | skip the files whose zone maps rule the WHERE clause out |
| DML | `services.py` | copy-on-write: a file with matching rows is replaced by a new one |
| virtual warehouse | `warehouse.py` | workers own files by consistent hashing; LRU caches |

Files are immutable and a new version names new files, so caches are never invalidated, and
resizing a warehouse moves nothing: new owners read what they miss, LRU ages out the rest.

This is a property system (`checker.properties`): nothing is scheduled. Hypothesis draws
scripts of inserts, deletes, updates, queries (some by time travel) and warehouse resizes on
one table with an integer column and two string columns, one in binary order and one
case-insensitive (`cases.py`). The properties (`checks.py`) run each script on the variant
and compare with the model, `models/snowflake.py`: a naive scan of the table version a query
reads. `soundness.py` proves each pruning rule sound with z3 (`deepdives prove snowflake`).
Left out: semi-structured data, joins and their dynamic pruning, file stealing between
workers, clustering, the result cache, cloning, retention periods.
"""

from __future__ import annotations

from checker.properties import PropertySystem
from checker.system import Config, Variant
from implementations.snowflake import cases
from implementations.snowflake.checks import PROPERTIES
from implementations.snowflake.pruning import NullBlindPruner
from implementations.snowflake.services import InheritedStats, Parts
from implementations.snowflake.soundness import prove_pruning
from implementations.snowflake.storage import MinMaxOtherOrdering
from invariants.verdict import Verdict

CONFIGS = {
    "default": Config("default", params={
        "max_files": 2, "max_file_rows": 3, "max_statements": 7, "max_workers": 3,
        "max_cache_files": 3, "predicate_leaves": 4}),
    "small": Config("small", params={
        "max_files": 1, "max_file_rows": 2, "max_statements": 4, "max_workers": 2,
        "max_cache_files": 1, "predicate_leaves": 2}),
}

VARIANTS = {
    "correct": Variant("correct", Parts()),
    "minmax-other-ordering": Variant(
        "minmax-other-ordering", Parts(writer=MinMaxOtherOrdering),
        breaks="zone maps take min and max in byte order while a case-insensitive column's "
               "predicates compare without case, so pruning skips a file holding a match",
        caught_by="answers",
        teaches="Snowflake (SIGMOD'16) 3.3.3, pruning by min/max: statistics are only as "
                "good as the ordering they were taken in, which must be the predicate's "
                "(the column's collation)"),
    "null-blind-pruning": Variant(
        "null-blind-pruning", Parts(pruner=NullBlindPruner),
        breaks="pruning thinks a column with a min and a max holds no NULL, so IS NULL "
               "(and NOT ... IS NOT NULL) skips files holding NULLs among other values",
        caught_by="answers",
        teaches="Snowflake (SIGMOD'16) 3.3.3 and SQL's three-valued logic: pruning must "
                "read the null count, not infer it from the bounds"),
    "inherited-stats": Variant(
        "inherited-stats", Parts(services=InheritedStats),
        breaks="a file written by a delete or an update keeps the zone maps of the file it "
               "replaces, so a value the update moved out of [min, max] is pruned away",
        caught_by="answers",
        teaches="Snowflake (SIGMOD'16) 3.3.2, writes add and remove whole files: a new "
                "file is a new partition, whose statistics must be computed from its own "
                "rows"),
}


def proofs(config: Config, parts: Parts) -> list[Verdict]:
    """Every pruning rule is sound in three-valued logic (z3, one verdict per form)."""
    return prove_pruning(parts)


SYSTEM = PropertySystem(
    name="snowflake",
    paper="Dageville et al.: The Snowflake Elastic Data Warehouse (SIGMOD 2016)",
    summary="immutable micro-partitions with zone maps, pruning in three-valued logic, "
            "copy-on-write DML and time travel, virtual warehouses caching by consistent "
            "hashing",
    invariants=PROPERTIES,
    configs=CONFIGS,
    variants=VARIANTS,
    proofs=proofs,
    inputs=cases.inputs,
    to_json=cases.to_json,
    from_json=cases.from_json,
    size=cases.size,
    show=cases.show,
)
