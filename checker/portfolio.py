"""A strategy portfolio for hunts: each run draws, from its seed alone, how it explores.

- a swarm-tested random walk (`RandomWalk`), the broadest;
- PCT with bug depth d = 1, 2 or 3 (`checker.pct.PCT`), for orderings a random walk seldom
  makes: one message held back while others run ahead;
- a bounded exhaustive search (`checker.explore.explore`) from the run's seed, where the
  system builds few nodes (`small`): every schedule of the first few events, with at most one
  fault of one kind (drawn from the seed, as swarm testing draws fault kinds), each schedule
  ending in the deterministic quiescence. A search costs as much as dozens of walks: it is
  drawn seldom, and stops after `EXHAUSTIVE_STATES` states.

Hypothesis is not part of the mix: per second, it finds the seeded bugs far more slowly than
a walk (`benchmarks/RESULTS.md`, "Strategies: SYSTEM").

`portfolio_strategy(seed, config, searchable)` is the strategy of one run when its plan is a walk
or PCT; `portfolio_run(...)` runs any plan, the exhaustive one included.
"""

from __future__ import annotations

import hashlib
import random

import attrs

from checker.explore import ExploreResult, explore
from checker.pct import PCT
from checker.run import RunResult, execute
from checker.strategies import RandomWalk, Replay, Strategy
from checker.system import Config, System

SMALL_NODES = 5  # configurations of at most this many nodes (servers and clients) are small
EXHAUSTIVE_STATES = 150  # the budget of one exhaustive plan
RANDOM_SHARE, PCT_SHARE = 0.55, 0.43  # of the runs; exhaustive searches take the rest


@attrs.frozen
class Plan:
    strategy: str  # "random", "pct" or "exhaustive"
    depth: int = 0  # PCT's bug depth d, or the exhaustive search's depth bound
    fault: str | None = None  # the one fault kind an exhaustive search injects, if any


def plan(seed: int, config: Config, searchable: bool) -> Plan:
    """Of every 100 runs, about: 55 random walks; 43 PCT runs, d = 1, 2 or 3 alike; and, when
    the configuration is `searchable` (see `small`), 2 exhaustive searches (random walks
    otherwise)."""
    draw = _uniform(f"plan/{seed}")
    if draw < RANDOM_SHARE:
        return Plan("random")
    if draw < RANDOM_SHARE + PCT_SHARE:
        return Plan("pct", 1 + int(3 * (draw - RANDOM_SHARE) / PCT_SHARE))
    if not searchable:
        return Plan("random")
    kinds = search_faults(config)
    fault = kinds[int(_uniform(f"fault/{seed}") * len(kinds))]
    return Plan("exhaustive", 4 if _uniform(f"depth/{seed}") < 0.5 else 6, fault)


def search_faults(config: Config) -> list[str | None]:
    """The fault kinds an exhaustive plan may inject, one at most; None: no fault."""
    return [None, *sorted(kind for kind, most in config.faults.items() if most > 0)]


def small(system: System, config: Config) -> bool:
    """Whether a configuration is small enough for exhaustive search: at most `SMALL_NODES`
    nodes, counted as the system builds them (a configuration's `servers` may count one
    group's replicas, and systems add nodes of their own: a lock service, a master). A search
    of a larger one costs dozens of walks and reaches no deeper than a few events."""
    key = (system.name, repr(config))
    if key not in _NODES:
        cluster = system.build(config, system.variant("correct").impl, random.Random(0))
        _NODES[key] = len(cluster.servers) + len(cluster.clients)
    return _NODES[key] <= SMALL_NODES


_NODES: dict[tuple[str, str], int] = {}  # (system, config) -> nodes, as `small` counts them


def portfolio_strategy(seed: int, config: Config, searchable: bool) -> Strategy | None:
    """The strategy of run `seed`, or None when its plan is an exhaustive search."""
    return _walk_of(plan(seed, config, searchable), seed, config)


def _walk_of(chosen: Plan, seed: int, config: Config) -> Strategy | None:
    if chosen.strategy == "exhaustive":
        return None
    return run_strategy(chosen.strategy, seed, config, chosen.depth)


def run_strategy(name: str, seed: int, config: Config, depth: int = 0) -> Strategy:
    """The strategy of one run of a hunt with `--strategy random` or `pct`; PCT's bug depth
    is drawn from the seed (1, 2 or 3 alike) unless given."""
    if name == "random":
        return RandomWalk(seed, max_pause=config.max_pause)
    if name == "pct":
        depth = depth or 1 + int(3 * _uniform(f"pct-depth/{seed}"))
        return PCT(seed, depth=depth, steps=pct_steps(config), max_pause=config.max_pause)
    raise ValueError(f"no per-run strategy named {name!r}")


def pct_steps(config: Config) -> int:
    """PCT's estimate of a run's length in scheduling decisions: runs mostly end, their
    workload done, well before the step bound."""
    return int(config.params.get("pct_steps", max(1, config.max_steps // 3)))


@attrs.frozen
class PortfolioRun:
    plan: Plan
    result: RunResult | None  # the run; for a search, its counterexample replayed (if any)
    search: ExploreResult | None = None

    @property
    def violated(self) -> bool:
        return self.result is not None and self.result.violated

    @property
    def events(self) -> int:
        return self.search.transitions if self.search else len(self.result.sim.trace)


def portfolio_run(system: System, variant: str, config: Config, seed: int) -> PortfolioRun:
    chosen = plan(seed, config, small(system, config))
    strategy = _walk_of(chosen, seed, config)
    if strategy is not None:
        return PortfolioRun(chosen, execute(system, variant, config, seed, strategy))
    search = explore(system, variant, config, seed, max_depth=chosen.depth,
                     faults={chosen.fault: 1} if chosen.fault else {},
                     max_states=EXHAUSTIVE_STATES)
    replayed = execute(system, variant, config, seed, Replay(search.choices)) \
        if search.violated else None
    return PortfolioRun(chosen, replayed, search)


def _uniform(name: str) -> float:
    """A number in [0, 1) drawn from a name (made of the seed), independent of hashing."""
    digest = hashlib.blake2b(f"portfolio/{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2 ** 64
