"""A Mesa instance: one datacenter's copy of the table, as versioned deltas.

Mesa section 2.2. The instance keeps the table as deltas, each the aggregated rows of a version
range [v1, v2]:

- the *base* [0, B]: everything up to version B, the only delta starting at 0;
- *singletons* [v, v]: one per version loaded since B, kept so that any version from B on can
  be queried;
- *cumulative* deltas [B + 1, c], made by cumulative compaction, so that a query of a recent
  version combines a few deltas instead of one per version.

A query at version n combines a *spanning set*: the base, then at each step the longest delta
that starts right after the last one and ends at or before n — adjacent ranges, no overlap,
no gap. Compaction merges such a chain into one delta (the aggregate of its rows); base
compaction folds the chain up to a version into a new base, after which the deltas inside it
are garbage: versions before the base are no longer queryable, which is why the base stays
`Deployment.window` versions behind the committed version.

The instance loads versions in order (`Load` from the committer, a durable write before it
says `Loaded`), learns the committed version from the committer, and answers a query only at
a committed version it holds whole. The deltas and the committed version are durable: one
storage key each, so that a compaction replaces the delta list at once.
"""

from __future__ import annotations

from typing import Any

from checker.node import Context, Node
from implementations.mesa.deployment import Deployment
from implementations.mesa.messages import Committed, Load, Loaded, Query, QueryOk, Refused
from models.mesa import Rows, aggregate

COMPACT = 30  # ticks after a load before the instance compacts
CUMULATE = 2  # deltas after the base worth merging into one cumulative delta
BASE_STEP = 2  # versions the base must be able to advance by before base compaction

Range = tuple[int, int]


class MesaInstance(Node):
    """One datacenter's Mesa instance: its delta store, its queries, its compactions."""

    def __init__(self, node_id: str, deployment: Deployment) -> None:
        super().__init__(node_id)
        self.deployment = deployment

    def on_start(self, ctx: Context) -> None:
        ctx.storage.put("deltas", (((0, 0), ()),))  # the base of an empty table
        ctx.storage.put("committed", 0)
        self.on_recover(ctx)

    def on_recover(self, ctx: Context) -> None:
        self.deltas: dict[Range, Rows] = dict(ctx.storage.get("deltas"))
        self.committed: int = ctx.storage.get("committed")
        self.schedule_compaction(ctx)

    @property
    def base(self) -> int:
        return next(v2 for v1, v2 in self.deltas if v1 == 0)

    @property
    def loaded(self) -> int:
        return max(v2 for _, v2 in self.deltas)

    def save(self, ctx: Context) -> None:
        ctx.storage.put("deltas", tuple(sorted(self.deltas.items())))

    # --- loading ----------------------------------------------------------------------------

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case Load(version, rows, committed):
                self.learn_committed(ctx, committed)
                if version == self.loaded + 1:  # in order, once
                    self.deltas[(version, version)] = rows
                    self.save(ctx)
                    self.schedule_compaction(ctx)
                ctx.send(src, Loaded(self.loaded, self.committed))
            case Committed(version):
                self.learn_committed(ctx, version)
                ctx.send(src, Loaded(self.loaded, self.committed))
            case Query():
                self.on_query(ctx, src, msg)

    def learn_committed(self, ctx: Context, version: int) -> None:
        if version > self.committed:
            self.committed = version
            ctx.storage.put("committed", version)
            self.schedule_compaction(ctx)

    # --- queries ----------------------------------------------------------------------------

    def latest_queryable(self) -> int:
        """The newest version I may answer at: committed, and held whole."""
        return min(self.loaded, self.committed)

    def on_query(self, ctx: Context, client: str, msg: Query) -> None:
        version = self.latest_queryable() if msg.version is None else msg.version
        if version > self.latest_queryable():
            ctx.send(client, Refused(msg.req, f"version {version} not committed and loaded here"))
        elif version < self.base:
            ctx.send(client, Refused(msg.req, f"version {version} is older than the base"))
        else:
            rows = aggregate((self.deltas[r] for r in self.spanning_set(version)),
                             self.deployment.aggregate)
            ctx.send(client, QueryOk(msg.req, version, dict(rows).get(msg.key)))

    def spanning_set(self, version: int, start: int = 0) -> list[Range]:
        """Adjacent deltas from `start` to `version`: at each step the longest that fits."""
        chain: list[Range] = []
        reached = start - 1
        while reached < version:
            step = max((r for r in self.deltas if r[0] == reached + 1 and r[1] <= version),
                       key=lambda r: r[1])
            chain.append(step)
            reached = step[1]
        return chain

    # --- compaction -------------------------------------------------------------------------

    def schedule_compaction(self, ctx: Context) -> None:
        if self.base_target() >= self.base + BASE_STEP \
                or len(self.cumulative_inputs()) >= CUMULATE:
            ctx.set_timer("compact", COMPACT)

    def on_timer(self, ctx: Context, name: str) -> None:
        if name != "compact":
            return
        if self.base_target() >= self.base + BASE_STEP:
            self.base_compaction(ctx)
        elif len(self.cumulative_inputs()) >= CUMULATE:
            self.cumulative_compaction(ctx)
        self.schedule_compaction(ctx)

    def base_target(self) -> int:
        """How far the base may go: not into the queryable window below the committed
        version, and only over what is loaded."""
        return min(self.committed - self.deployment.window, self.loaded)

    def base_compaction(self, ctx: Context) -> None:
        """Fold everything up to the target into a new base; the deltas it covers are
        garbage (no query may ask for a version before the base)."""
        target = self.base_target()
        rows = aggregate((self.deltas[r] for r in self.spanning_set(target)),
                         self.deployment.aggregate)
        self.deltas = {r: d for r, d in self.deltas.items() if r[0] > target}
        self.deltas[(0, target)] = rows
        self.save(ctx)

    def cumulative_inputs(self) -> list[Range]:
        """The adjacent deltas after the base up to the newest loaded version."""
        return self.spanning_set(self.loaded, start=self.base + 1)

    def cumulative_compaction(self, ctx: Context) -> None:
        """Merge the inputs into the cumulative delta [base + 1, loaded]. The singletons stay:
        a query of a version inside the range still needs them."""
        inputs = self.cumulative_inputs()
        rows = aggregate((self.deltas[r] for r in inputs), self.deployment.aggregate)
        self.deltas[(self.base + 1, self.loaded)] = rows
        self.save(ctx)


# --- seeded bugs -----------------------------------------------------------------------------


class CompactionOverlap(MesaInstance):
    """Seeded bug: cumulative compaction merges every delta after the base, not a chain of
    adjacent ones.

    Breaks: the last cumulative delta overlaps the singletons it was made from; merging both
    counts those batches twice, and every query through the new delta over-counts.
    Caught by: compaction-preserves-answers. Teaches: Mesa section 2.2, deltas are merged only
    over adjacent, non-overlapping version ranges.
    """

    def cumulative_inputs(self) -> list[Range]:
        return sorted(r for r in self.deltas if r[0] > self.base)


class ServesUncommitted(MesaInstance):
    """Seeded bug: the instance answers at the newest version it has loaded, committed or not.

    Breaks: a query sees a batch the committer has not committed yet; another instance,
    asked a moment later, answers at the committed version without it. Caught by:
    answers-at-committed-versions. Teaches: Mesa section 3.2, queries go to the committed
    version, which every instance that holds it answers the same.
    """

    def latest_queryable(self) -> int:
        return self.loaded
