"""Cycle search over a transaction dependency graph, by anomaly type (Adya's, as Elle names them).

The graph is `succ[a][b] = kinds`, a bit set of the edge types from a to b: ww, wr, rw (data
dependencies) and process, realtime (order). A cycle's type comes from its edges:

| type | cycle |
|---|---|
| G0 | ww edges only |
| G1c | ww and wr edges, at least one wr |
| G-single-item | exactly one rw edge |
| G-nonadjacent-item | two or more rw edges, no two of them consecutive (around the cycle) |
| G2-item | two or more rw edges, some two consecutive |

and a `-process` suffix if it needs a process edge, `-realtime` if it needs a real-time edge.
Snapshot isolation forbids exactly the cycles without two consecutive rw edges (G0, G1c,
G-single-item, G-nonadjacent-item); serializability forbids all.

Each strongly connected component is searched for every forbidden type (so that every type
present is reported, each with a short witness), then, if no typed search found a forbidden
cycle, by an exact test for the level's whole class of forbidden cycles: the ww (or ww+wr)
subgraph's components, or for snapshot isolation a product graph whose states remember
whether the last edge was rw, so that its cycles are exactly the walks without consecutive rw
edges. The verdict rests on the exact test; the typed searches only name what else is there.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator

from invariants.budget import Budget

WW, WR, RW, PROCESS, REALTIME = 1, 2, 4, 8, 16
DATA = WW | WR | RW
ORDER = PROCESS | REALTIME
KIND_NAMES = {WW: "ww", WR: "wr", RW: "rw", PROCESS: "process", REALTIME: "realtime"}
PREFERENCE = (WW, WR, PROCESS, REALTIME, RW)  # the kind shown when an edge has several

G0, G1C, G_SINGLE, G_NONADJACENT, G2 = ("G0", "G1c", "G-single-item", "G-nonadjacent-item",
                                        "G2-item")
CYCLE_BASES = (G0, G1C, G_SINGLE, G_NONADJACENT, G2)  # from the most to the least severe
SUFFIXES = ("", "-process", "-realtime")
_SUFFIX_KINDS = {"": 0, "-process": PROCESS, "-realtime": PROCESS | REALTIME}
_BASE_KINDS = {G0: WW, G1C: WW | WR, G_SINGLE: DATA, G_NONADJACENT: DATA, G2: DATA}
_WITNESS_TRIES = 10  # anchor edges tried per typed search
_MAX_REACH_NODES = 20_000  # the exact G-single-item search keeps a bitset per node

Succ = dict[int, dict[int, int]]
Cycle = tuple[str, list[int], list[int]]  # type, transactions, the kind of each edge


def cycle_type(kinds: list[int]) -> str:
    """The type of a cycle whose edges, in order, have these (single) kinds."""
    anti = [kind == RW for kind in kinds]
    count = sum(anti)
    if count == 0:
        base = G1C if WR in kinds else G0
    elif count == 1:
        base = G_SINGLE
    elif any(anti[i] and anti[i - 1] for i in range(len(anti))):
        base = G2
    else:
        base = G_NONADJACENT
    if REALTIME in kinds:
        return base + "-realtime"
    return base + ("-process" if PROCESS in kinds else "")


def base_of(kind: str) -> str:
    return kind.removesuffix("-realtime").removesuffix("-process")


class ComponentSearch:
    """The forbidden cycles of one strongly connected component."""

    def __init__(self, succ: Succ, nodes: set[int], budget: Budget, present: int) -> None:
        self.succ, self.nodes, self.budget = succ, nodes, budget
        self.present = present  # the kinds of edge the graph has

    def forbidden_cycles(self, bases: tuple[str, ...]) -> list[Cycle]:
        """One witness per forbidden type found; at least one if any forbidden cycle exists
        (`bases` must be a prefix of CYCLE_BASES: what a level forbids always is)."""
        found: dict[str, Cycle] = {}
        for base in bases:
            for suffix in SUFFIXES:
                wanted = _SUFFIX_KINDS[suffix]
                if (wanted & self.present) != wanted or base + suffix in found:
                    continue
                cycle = self._typed(base, suffix)
                if cycle is not None:
                    found.setdefault(cycle[0], cycle)
        if not found:
            cycle = self._exact(bases[-1])
            if cycle is not None:
                found[cycle[0]] = cycle
        return list(found.values())

    # -- typed searches: an anchor edge, then a constrained shortest path back ---------------

    def _typed(self, base: str, suffix: str) -> Cycle | None:
        allowed = _BASE_KINDS[base] | (_SUFFIX_KINDS[suffix] & self.present)
        if base == G_SINGLE and not suffix:
            return self._single_rw()
        anchor = (REALTIME if suffix == "-realtime" else PROCESS if suffix == "-process"
                  else RW if allowed & RW else WR if base == G1C else WW)
        return self._typed_by_anchors(base, suffix, allowed, anchor)

    def _typed_by_anchors(self, base: str, suffix: str, allowed: int, anchor: int
                          ) -> Cycle | None:
        """The shortest cycle of the type closed by one of the first few anchor edges that
        lie within a strongly connected component of the `allowed` subgraph."""
        parts = self._part_of(allowed)
        best: Cycle | None = None
        tries = 0
        for a, b in self._edges(anchor):
            if parts[a] != parts[b] or parts[a] < 0:
                continue
            tries += 1
            cycle = self._closing_path(a, b, anchor, allowed, base, suffix)
            if cycle is not None and (best is None or len(cycle[1]) < len(best[1])):
                best = cycle
            if tries >= _WITNESS_TRIES or (best is not None and len(best[1]) == 2):
                break
        return best

    def _single_rw(self) -> Cycle | None:
        """A cycle with exactly one rw edge a -> b, found exactly: b must reach a without rw
        edges. Reachability over the condensation of the rw-free subgraph, one bitset per
        sub-component, answers this for every rw edge at once."""
        if len(self.nodes) > _MAX_REACH_NODES:
            return self._typed_by_anchors(G_SINGLE, "", DATA, RW)
        def successors(a: int) -> Iterator[int]:
            return (b for b, kinds in self.succ.get(a, {}).items()
                    if kinds & (WW | WR) and b in self.nodes)
        parts = strong_components(self.nodes, successors, self.budget)
        part = {a: c for c, members in enumerate(parts) for a in members}
        reach: list[int] = []
        for c, members in enumerate(parts):  # each after every part it reaches
            later = {part[b] for a in members for b in successors(a)} - {c}
            self.budget.spend(len(later) + 1)
            bits = 1 << c
            for d in later:
                bits |= reach[d]
            reach.append(bits)
        for a, b in self._edges(RW):
            if reach[part[b]] >> part[a] & 1:
                cycle = self._cycle_through(a, b, WW | WR, closing=RW)
                return cycle_type(cycle[2]), cycle[1], cycle[2]
        return None

    def _closing_path(self, a: int, b: int, anchor: int, allowed: int, base: str,
                      suffix: str) -> Cycle | None:
        """The shortest path b -> a (plus the anchor a -> b) whose cycle has the type wanted.

        Breadth-first over (transaction, state), the state holding what the type depends on:
        the number of rw edges (0, 1, 2+), whether the last edge was rw, whether two
        consecutive rw edges were seen, and which kinds (wr, process, realtime) were used.
        """
        start = _step(_INITIAL, anchor)
        parent: dict[tuple[int, int], tuple[tuple[int, int], int] | None] = {(b, start): None}
        queue = deque([(b, start)])
        while queue:
            node, state = queue.popleft()
            if node == a and _accepts(state, anchor, base, suffix):
                return self._unwound(parent, (node, state), anchor)
            out = self.succ.get(node, {})
            self.budget.spend(len(out) + 1)
            for nxt, kinds in out.items():
                if nxt not in self.nodes:
                    continue
                for kind in _bits(kinds & allowed):
                    after = _step(state, kind)
                    if _hopeless(after, base) or (nxt, after) in parent:
                        continue
                    parent[(nxt, after)] = ((node, state), kind)
                    queue.append((nxt, after))
        return None

    def _unwound(self, parent: dict, end: tuple[int, int], anchor: int) -> Cycle | None:
        nodes, kinds = [], []
        at = end
        while parent[at] is not None:
            previous, kind = parent[at]
            nodes.append(at[0])
            kinds.append(kind)
            at = previous
        nodes.append(at[0])  # b
        nodes.reverse()
        kinds.reverse()
        cycle = [nodes[-1], *nodes[:-1]]  # a, b, ...
        if len(set(cycle)) != len(cycle):
            return None  # a walk through some transaction twice: not a simple cycle
        kinds = [anchor, *kinds]
        return cycle_type(kinds), cycle, kinds

    # -- the exact test for a level's whole class of forbidden cycles ------------------------

    def _exact(self, weakest: str) -> Cycle | None:
        """Some cycle of a forbidden type, if one exists: forbidden are the cycles of type
        `weakest` or more severe, with any order edges the graph has."""
        order = self.present & ORDER
        if weakest in (G0, G1C):
            allowed = _BASE_KINDS[weakest] | order
            parts = self._part_of(allowed)
            for a, b in self._edges(allowed):
                if parts[a] == parts[b] >= 0:
                    return self._cycle_through(a, b, allowed)
            return None
        if weakest == G2:
            a, b = next(self._edges(DATA | order))
            return self._cycle_through(a, b, DATA | order)
        return self._without_consecutive_rw(DATA | order)

    def _cycle_through(self, a: int, b: int, allowed: int, closing: int = 0) -> Cycle:
        """The shortest cycle through the edge a -> b within `allowed` kinds (one exists);
        with `closing`, the path b -> a is within `allowed` and the edge a -> b has that kind."""
        parent: dict[int, int | None] = {b: None}
        queue = deque([b])
        while a not in parent:
            node = queue.popleft()
            out = self.succ.get(node, {})
            self.budget.spend(len(out) + 1)
            for nxt, kinds in out.items():
                if kinds & allowed and nxt in self.nodes and nxt not in parent:
                    parent[nxt] = node
                    queue.append(nxt)
        path = [a]
        while path[-1] != b:
            path.append(parent[path[-1]])
        cycle = [a, *reversed(path[1:])]
        kinds = [_preferred(self.succ[x][y] & allowed)
                 for x, y in zip(cycle[1:], cycle[2:] + cycle[:1])]
        kinds.insert(0, closing or _preferred(self.succ[a][b] & allowed))
        return cycle_type(kinds), cycle, kinds

    def _without_consecutive_rw(self, allowed: int) -> Cycle | None:
        """A simple cycle with no two consecutive rw edges, if any closed walk has none.

        The product graph's states are (transaction, last edge was rw); an rw edge may only
        leave a state whose last edge was not rw. A closed walk in it splits, at a repeated
        transaction, into two shorter closed walks at least one of which still has no
        consecutive rw edges, so a simple such cycle exists whenever a walk does.
        """
        def successors(state: tuple[int, int]) -> Iterator[tuple[tuple[int, int], int]]:
            node, after_rw = state
            out = self.succ.get(node, {})
            self.budget.spend(len(out) + 1)
            for nxt, kinds in out.items():
                if nxt in self.nodes and kinds & allowed:
                    if kinds & allowed & ~RW:
                        yield (nxt, 0), _preferred(kinds & allowed & ~RW)
                    if kinds & RW and not after_rw:
                        yield (nxt, 1), RW

        states = [(node, flag) for node in self.nodes for flag in (0, 1)]
        parts = strong_components(states, lambda s: (t for t, _ in successors(s)), self.budget)
        for part in parts:
            members = set(part)
            for state in part:
                for nxt, kind in successors(state):
                    if nxt in members:
                        walk = _closed_walk(state, nxt, kind, members, successors)
                        return _simple_cycle(walk)
        return None

    # -- helpers -----------------------------------------------------------------------------

    def _edges(self, kinds: int) -> Iterator[tuple[int, int]]:
        """Edges within the component having one of `kinds`, in a stable order."""
        for a in sorted(self.nodes):
            out = self.succ.get(a, {})
            self.budget.spend(len(out) + 1)
            for b, have in out.items():
                if have & kinds and b in self.nodes:
                    yield a, b

    def _part_of(self, allowed: int) -> dict[int, int]:
        """Each transaction's strongly connected component in the `allowed` subgraph (-1 for
        one alone in its own)."""
        def successors(a: int) -> Iterator[int]:
            return (b for b, kinds in self.succ.get(a, {}).items()
                    if kinds & allowed and b in self.nodes)
        parts = dict.fromkeys(self.nodes, -1)
        for index, part in enumerate(strong_components(self.nodes, successors, self.budget)):
            if len(part) > 1:
                for node in part:
                    parts[node] = index
        return parts


_INITIAL = (0, 0, 0, 0)  # rw edges (capped at 2), last was rw, consecutive rw seen, kinds used


def _step(state: tuple[int, int, int, int], kind: int) -> tuple[int, int, int, int]:
    count, last_rw, adjacent, used = state
    if kind == RW:
        return min(count + 1, 2), 1, adjacent | last_rw, used
    return count, 0, adjacent, used | kind


def _hopeless(state: tuple[int, int, int, int], base: str) -> bool:
    """Whether no continuation can give the type: too many rw edges, or consecutive ones."""
    count, _, adjacent, _ = state
    if base in (G0, G1C):
        return count > 0
    if base == G_SINGLE:
        return count > 1
    return base == G_NONADJACENT and bool(adjacent)


def _accepts(state: tuple[int, int, int, int], anchor: int, base: str, suffix: str) -> bool:
    """Whether a cycle closed in `state` (its first edge of kind `anchor`) has the type."""
    count, last_rw, adjacent, used = state
    adjacent = adjacent or (last_rw and anchor == RW and count > 1)
    if suffix == "-realtime" and not used & REALTIME:
        return False
    if suffix == "-process" and (not used & PROCESS or used & REALTIME):
        return False
    if base == G0:
        return count == 0 and not used & WR
    if base == G1C:
        return count == 0 and bool(used & WR)
    if base == G_SINGLE:
        return count == 1
    return count == 2 and bool(adjacent) == (base == G2)


def _bits(kinds: int) -> Iterator[int]:
    for kind in PREFERENCE:
        if kinds & kind:
            yield kind


def _preferred(kinds: int) -> int:
    return next(_bits(kinds))


def _closed_walk(start: tuple[int, int], nxt: tuple[int, int], kind: int,
                 members: set[tuple[int, int]],
                 successors: Callable[[tuple[int, int]], Iterable[tuple[tuple[int, int], int]]]
                 ) -> list[tuple[int, int]]:
    """The edge start -> nxt, then a shortest path back to start within `members`: a closed
    walk as (transaction, kind of the edge leaving it)."""
    parent: dict[tuple[int, int], tuple[tuple[int, int], int] | None] = {nxt: None}
    queue = deque([nxt])
    while start not in parent:
        state = queue.popleft()
        for after, step_kind in successors(state):
            if after in members and after not in parent:
                parent[after] = (state, step_kind)
                queue.append(after)
    walk = []
    at = start
    while parent[at] is not None:
        previous, step_kind = parent[at]
        walk.append((previous[0], step_kind))
        at = previous
    walk.reverse()
    return [(start[0], kind), *walk]


def _simple_cycle(walk: list[tuple[int, int]]) -> Cycle:
    """A simple cycle without consecutive rw edges, cut out of such a closed walk."""
    while True:
        seen: dict[int, int] = {}
        for i, (node, _) in enumerate(walk):
            if node in seen:
                break
            seen[node] = i
        else:
            kinds = [kind for _, kind in walk]
            return cycle_type(kinds), [node for node, _ in walk], kinds
        j = seen[node]
        inner, outer = walk[j:i], walk[i:] + walk[:j]
        walk = inner if _no_consecutive_rw(inner) else outer


def _no_consecutive_rw(walk: list[tuple[int, int]]) -> bool:
    kinds = [kind for _, kind in walk]
    return not any(kinds[i] == RW and kinds[i - 1] == RW for i in range(len(kinds)))


def strong_components(nodes: Iterable, successors: Callable[[object], Iterable],
                      budget: Budget) -> list[list]:
    """The strongly connected components of the graph on `nodes` (Tarjan's algorithm, with
    an explicit stack: components can be as long as the history).

    Each component comes after every component it reaches (reverse topological order).
    `successors(a)` must stay within `nodes`; every edge followed is a step (spent as a node's
    edges are listed: each is followed exactly once).
    """
    index: dict = {}  # node -> when it was visited
    low: dict = {}  # node still on the stack -> the earliest visited node it reaches there
    stack: list = []
    components: list[list] = []

    def visit(node: object) -> tuple[object, Iterator]:
        index[node] = low[node] = len(index)
        stack.append(node)
        children = list(successors(node))
        budget.spend(len(children))
        return node, iter(children)

    for root in sorted(nodes):
        if root in index:
            continue
        work = [visit(root)]
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    work.append(visit(child))
                    break
                if child in low and index[child] < low[node]:
                    low[node] = index[child]
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    if low[node] < low[parent]:
                        low[parent] = low[node]
                if low[node] == index[node]:
                    components.append(_pop_component(stack, low, node))
    return components


def _pop_component(stack: list, low: dict, root: object) -> list:
    """The stack down to `root`, taken off it (top first)."""
    if stack[-1] == root:  # most components are one node
        del low[root]
        return [stack.pop()]
    component = []
    while not component or component[-1] != root:
        component.append(stack.pop())
        del low[component[-1]]
    return component
