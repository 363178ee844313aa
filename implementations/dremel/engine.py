"""Dremel as one object, what each variant hands the properties: its column striper, its
record assembler, and the serving tree that answers queries over striped tablets.

The seeded bugs swap in a striper that overrides one method (`striping.py`); the rest is
shared."""

from __future__ import annotations

import attrs

from checker.sim import Simulation
from implementations.dremel import query as q
from implementations.dremel.assembly import Assembler
from implementations.dremel.serving import Answer, ServingTree, answer_given
from implementations.dremel.striping import Columns, Striper


@attrs.frozen
class Dremel:
    striper: Striper = attrs.field(factory=Striper)
    assembler: Assembler = attrs.field(factory=Assembler)
    tree: type[ServingTree] = ServingTree

    def stripe(self, schema: list[dict], records: list[dict]) -> Columns:
        return self.striper.stripe(schema, records)

    def assemble(self, schema: list[dict], columns: Columns,
                 paths: list[str] | None = None) -> list[dict]:
        return self.assembler.assemble(schema, columns, paths)

    def query(self, query: q.Query, columns: Columns) -> list[list]:
        """A query over one set of columns: one leaf's scan, finished at once."""
        return q.final(query.aggregate, q.scan(query, columns))

    def serve(self, schema: list[dict], query: q.Query, tablets: list[list[dict]],
              slow: frozenset[int], leaves: int, fanout: int, percent: int | None = None,
              schedule: int = 0) -> Answer | None:
        """The answer the serving tree's user gets (None if none): see `serving_run`."""
        return answer_given(self.serving_run(schema, query, tablets, slow, leaves, fanout,
                                             percent, schedule))

    def serving_run(self, schema: list[dict], query: q.Query, tablets: list[list[dict]],
                    slow: frozenset[int], leaves: int, fanout: int,
                    percent: int | None = None, schedule: int = 0) -> Simulation:
        """Stripe each tablet's records and run a serving tree of `leaves` leaf servers,
        `fanout` to an intermediate server, on the simulation engine, the order of its
        messages and timers drawn from `schedule`: the run, trace and history."""
        striped = [self.stripe(schema, records) for records in tablets]
        return self.tree(leaves, fanout).run(query, striped, slow, percent, schedule)
