"""Quorum intersection, proved with z3 rather than by listing subsets.

A quorum system over `nodes` is described by predicates on a *candidate set*: one z3 Bool per
node, true when that node is in the set. A predicate returns a z3 formula meaning "this set is
a quorum". Two predicates are kept, `first` and `second`, because the property that protocols
need is cross-intersection: every quorum of kind 1 meets every quorum of kind 2. For plain
majorities both kinds are the same; for read/write quorums, flexible Paxos (phase-1 vs
phase-2) or joint consensus (old and new configuration at once) they differ.

`prove_intersection` asks z3 for a counterexample — two sets, one of each kind, with no common
member. "unsat" is a proof for every such pair; "sat" comes with the disjoint pair.

Systems: `majority`, `read_write`, `weighted`, `weighted_read_write`, `flexible_paxos`, `grid`,
`joint_consensus`. Dynamo's sloppy quorums depend on which nodes are down when each request
runs, so they have their own prover, `prove_sloppy_intersection`, whose counterexample also
names the two failure sets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import attrs
import z3

from invariants.verdict import Verdict, passed, unknown, violated

INVARIANT = "quorum-intersection"

Members = list[z3.BoolRef]
QuorumPredicate = Callable[[Members], z3.BoolRef]


@attrs.frozen
class QuorumSystem:
    """Two kinds of quorum over the same nodes; any quorum of one kind must meet any of the other.

    `describe` completes the sentence "... are quorums of <describe>", e.g. "4 nodes with
    threshold 2". `first_kind`/`second_kind` name the kinds in explanations ("read quorum").
    """

    name: str
    nodes: tuple[str, ...]
    first: QuorumPredicate
    second: QuorumPredicate
    describe: str
    first_kind: str = "quorum"
    second_kind: str = "quorum"


def weight_at_least(members: Members, weights: Sequence[int], threshold: int) -> z3.BoolRef:
    """The members in the set carry at least `threshold` total weight (a pseudo-boolean bound)."""
    return z3.PbGe(list(zip(members, weights)), threshold)


def size_at_least(members: Members, threshold: int) -> z3.BoolRef:
    """The set has at least `threshold` members."""
    return weight_at_least(members, [1] * len(members), threshold)


def size_at_most(members: Members, bound: int) -> z3.BoolRef:
    """The set has at most `bound` members."""
    return z3.PbLe([(member, 1) for member in members], bound)


def majority(nodes: Sequence[str], threshold: int | None = None) -> QuorumSystem:
    """Any `threshold` nodes form a quorum; the default is a strict majority, len // 2 + 1."""
    nodes = _checked_nodes(nodes)
    if threshold is None:
        threshold = len(nodes) // 2 + 1
    return _two_thresholds(f"threshold-{threshold}-of-{len(nodes)}", nodes, [1] * len(nodes),
                           (threshold, threshold),
                           f"{len(nodes)} nodes with threshold {threshold}", ("quorum", "quorum"))


def read_write(nodes: Sequence[str], r: int, w: int) -> QuorumSystem:
    """Reads ask any `r` nodes, writes any `w`: a read must see the latest write."""
    nodes = _checked_nodes(nodes)
    return _two_thresholds(f"read-{r}-write-{w}-of-{len(nodes)}", nodes, [1] * len(nodes),
                           (r, w), f"{len(nodes)} nodes with reads of {r} and writes of {w}",
                           ("read quorum", "write quorum"))


def weighted(weights: Mapping[str, int], threshold: int | None = None) -> QuorumSystem:
    """Weighted voting: a set is a quorum when its weights sum to at least `threshold`.

    The default threshold is a strict majority of the total weight, total // 2 + 1.
    """
    nodes, votes = _checked_weights(weights)
    if threshold is None:
        threshold = sum(votes) // 2 + 1
    return _two_thresholds(f"weighted-{threshold}-of-{sum(votes)}", nodes, votes,
                           (threshold, threshold),
                           f"weights {_weights_text(weights)} with threshold {threshold}",
                           ("quorum", "quorum"))


def weighted_read_write(weights: Mapping[str, int], r: int, w: int) -> QuorumSystem:
    """Gifford's weighted voting: reads gather `r` votes, writes `w`; r + w > total suffices."""
    nodes, votes = _checked_weights(weights)
    return _two_thresholds(f"weighted-read-{r}-write-{w}-of-{sum(votes)}", nodes, votes, (r, w),
                           f"weights {_weights_text(weights)} with reads of {r} and "
                           f"writes of {w} votes", ("read quorum", "write quorum"))


def flexible_paxos(nodes: Sequence[str], phase1: int, phase2: int) -> QuorumSystem:
    """Flexible Paxos (Howard et al.): only phase-1 and phase-2 quorums must meet.

    Any `phase1` nodes may elect a leader and any `phase2` nodes may accept its values; the
    condition is phase1 + phase2 > n, so phase-2 quorums can be small if phase 1 is large.
    """
    nodes = _checked_nodes(nodes)
    return _two_thresholds(f"flexible-paxos-{phase1}-{phase2}-of-{len(nodes)}", nodes,
                           [1] * len(nodes), (phase1, phase2),
                           f"{len(nodes)} nodes with phase-1 quorums of {phase1} and "
                           f"phase-2 quorums of {phase2}", ("phase-1 quorum", "phase-2 quorum"))


GRID_KINDS = {"read": "read quorum", "write": "write quorum"}


def grid(rows: int, columns: int, first: str = "read", second: str = "write") -> QuorumSystem:
    """Nodes `r<i>c<j>` in a rows x columns grid; compare quorums of kinds `first`, `second`.

    A read quorum contains a full column. A write quorum contains a full column and at least
    one node of every column, so it meets every read quorum (it has a node in the read's
    column) and every other write quorum, while reads need only `rows` nodes. Two reads need
    not meet: ("read", "read") is refuted when there are two columns.
    """
    if rows < 1 or columns < 1:
        raise ValueError(f"a grid needs at least one row and one column, not {rows}x{columns}")
    for kind in (first, second):
        _check_kind(kind, GRID_KINDS)
    cells = [[f"r{i}c{j}" for j in range(1, columns + 1)] for i in range(1, rows + 1)]
    nodes = tuple(node for row in cells for node in row)
    index = {node: k for k, node in enumerate(nodes)}
    column_cells = [[index[row[j]] for row in cells] for j in range(columns)]

    def predicate(kind: str) -> QuorumPredicate:
        def is_quorum(members: Members) -> z3.BoolRef:
            full_column = z3.Or([z3.And([members[k] for k in col]) for col in column_cells])
            if kind == "read":
                return full_column
            return z3.And(full_column, *[z3.Or([members[k] for k in col])
                                         for col in column_cells])
        return is_quorum

    return QuorumSystem(
        name=f"grid-{rows}x{columns}-{first}-{second}",
        nodes=nodes,
        first=predicate(first),
        second=predicate(second),
        describe=f"a {rows}x{columns} grid (reads take a full column; writes a full column "
                 f"and a node of every column)",
        first_kind=GRID_KINDS[first],
        second_kind=GRID_KINDS[second],
    )


JOINT_KINDS = {
    "old": "quorum of the old configuration",
    "new": "quorum of the new configuration",
    "joint": "joint quorum",
}


def joint_consensus(old: Sequence[str], new: Sequence[str], first: str = "joint",
                    second: str = "joint") -> QuorumSystem:
    """Raft's joint consensus when changing from configuration `old` to `new`.

    Kinds: "old" (a majority of old), "new" (a majority of new), "joint" (a majority of old
    AND a majority of new). Joint quorums meet old-only and new-only quorums, which is why a
    cluster can pass through the joint configuration safely; ("old", "new") shows why it must
    not switch directly: the two majorities can miss each other.
    """
    old, new = _checked_nodes(old), _checked_nodes(new)
    for kind in (first, second):
        _check_kind(kind, JOINT_KINDS)
    nodes = old + tuple(node for node in new if node not in old)
    in_old = [node in old for node in nodes]
    in_new = [node in new for node in nodes]

    def majority_of(members: Members, within: list[bool], size: int) -> z3.BoolRef:
        return weight_at_least(members, [int(inside) for inside in within], size // 2 + 1)

    def predicate(kind: str) -> QuorumPredicate:
        def is_quorum(members: Members) -> z3.BoolRef:
            parts = []
            if kind in ("old", "joint"):
                parts.append(majority_of(members, in_old, len(old)))
            if kind in ("new", "joint"):
                parts.append(majority_of(members, in_new, len(new)))
            return z3.And(parts)
        return is_quorum

    return QuorumSystem(
        name=f"joint-{first}-{second}",
        nodes=nodes,
        first=predicate(first),
        second=predicate(second),
        describe=f"the change from {_as_set(list(old))} to {_as_set(list(new))} (a joint "
                 f"quorum is a majority of each)",
        first_kind=JOINT_KINDS[first],
        second_kind=JOINT_KINDS[second],
    )


def prove_intersection(qs: QuorumSystem, timeout_ms: int = 10_000) -> Verdict:
    """Prove that every `first` quorum meets every `second` quorum, or show a disjoint pair."""
    set_a = _candidate_set("a", qs.nodes)
    set_b = _candidate_set("b", qs.nodes)
    solver = _solver(timeout_ms)
    solver.add(qs.first(set_a), qs.second(set_b))
    solver.add(*[z3.Not(z3.And(in_a, in_b)) for in_a, in_b in zip(set_a, set_b)])
    result = solver.check()
    if result == z3.sat:
        return _disjoint_pair(qs, solver, set_a, set_b)
    if result == z3.unsat:
        return passed(INVARIANT, _proof_in_words(qs, timeout_ms))
    return unknown(INVARIANT, f"z3 gave up on {qs.name} ({solver.reason_unknown()}); "
                              f"intersection is neither proved nor refuted")


@attrs.frozen
class SloppyQuorums:
    """Dynamo's sloppy quorums for one key.

    `ring` lists the nodes clockwise from the key's position. With no failures the key lives
    on the first `n` nodes (its preference list); while some nodes are down, a request goes to
    the first `n` *healthy* nodes instead, fallbacks standing in for the missing home nodes.
    A write needs `w` acknowledgements from its list and a read `r` answers from its own list;
    the write and the read each happen while up to `max_failures` nodes are down, not
    necessarily the same ones. r + w > n makes strict quorums meet; sloppy ones need not.
    """

    ring: tuple[str, ...]
    n: int
    r: int
    w: int
    max_failures: int

    def preference_list(self, down: set[str] | frozenset[str]) -> list[str]:
        """The first `n` healthy nodes clockwise from the key."""
        return [node for node in self.ring if node not in down][:self.n]

    def describe(self) -> str:
        return (f"a ring of {len(self.ring)} nodes with N={self.n}, R={self.r}, W={self.w} "
                f"and up to {self.max_failures} node(s) down at a time")


def sloppy_quorums(ring: Sequence[str], n: int, r: int, w: int,
                   max_failures: int) -> SloppyQuorums:
    """Sloppy quorums on `ring` (clockwise from the key) with N=`n`, R=`r`, W=`w`."""
    if not 0 < n <= len(ring):
        raise ValueError(f"N must be between 1 and the ring size {len(ring)}, not {n}")
    return SloppyQuorums(_checked_nodes(ring), n, r, w, max_failures)


def prove_sloppy_intersection(sq: SloppyQuorums, timeout_ms: int = 10_000) -> Verdict:
    """Prove that every sloppy read quorum meets every sloppy write quorum, or show how not.

    The counterexample names both failure sets, both preference lists and both quorums.
    """
    write_down, write_quorum, write_ok = _sloppy_request("write", sq, sq.w)
    read_down, read_quorum, read_ok = _sloppy_request("read", sq, sq.r)
    solver = _solver(timeout_ms)
    solver.add(write_ok, read_ok)
    solver.add(*[z3.Not(z3.And(in_w, in_r)) for in_w, in_r in zip(write_quorum, read_quorum)])
    result = solver.check()
    if result == z3.sat:
        variables = write_down + write_quorum + read_down + read_quorum
        values = _canonical_assignment(solver, variables, prefer=False)
        return _sloppy_counterexample(sq, values)
    if result == z3.unsat:
        return passed(INVARIANT, f"every sloppy read quorum meets every sloppy write quorum on "
                                 f"{sq.describe()}: z3 found no disjoint pair")
    return unknown(INVARIANT, f"z3 gave up on sloppy quorums ({solver.reason_unknown()}); "
                              f"intersection is neither proved nor refuted")


def _sloppy_request(kind: str, sq: SloppyQuorums, acks: int) -> tuple[Members, Members,
                                                                       z3.BoolRef]:
    """Variables for one request — which nodes are down, which answer — and their constraint.

    A node is on the request's preference list when it is up and fewer than `n` nodes before it
    on the ring are up; the quorum is at least `acks` nodes of that list.
    """
    down = _candidate_set(f"{kind}-down", sq.ring)
    quorum = _candidate_set(f"{kind}-quorum", sq.ring)
    up = [z3.Not(d) for d in down]
    on_list = [z3.And(up[i], z3.PbLe([(u, 1) for u in up[:i]], sq.n - 1))
               for i in range(len(sq.ring))]
    constraint = z3.And(size_at_most(down, sq.max_failures), size_at_least(quorum, acks),
                        *[z3.Implies(q, listed) for q, listed in zip(quorum, on_list)])
    return down, quorum, constraint


def _sloppy_counterexample(sq: SloppyQuorums, values: list[bool]) -> Verdict:
    m = len(sq.ring)
    write_down, write_quorum, read_down, read_quorum = (
        [node for node, inside in zip(sq.ring, values[k * m:(k + 1) * m]) if inside]
        for k in range(4))
    witness = {
        "write_down": write_down, "write_list": sq.preference_list(set(write_down)),
        "write_quorum": write_quorum,
        "read_down": read_down, "read_list": sq.preference_list(set(read_down)),
        "read_quorum": read_quorum,
    }
    words = (f"while {_down_text(write_down)}, a write is acknowledged by "
             f"{_as_set(write_quorum)} from its preference list {_as_set(witness['write_list'])}"
             f"; later, while {_down_text(read_down)}, a read is answered by "
             f"{_as_set(read_quorum)} from {_as_set(witness['read_list'])}: they share no "
             f"member, so the read misses the write on {sq.describe()}")
    if sq.r + sq.w > sq.n:
        words += f", although R + W = {sq.r + sq.w} > N = {sq.n}"
    return violated(INVARIANT, words, witness)


def _down_text(down: list[str]) -> str:
    return f"{_as_set(down)} {'is' if len(down) == 1 else 'are'} down" if down \
        else "no node is down"


def _two_thresholds(name: str, nodes: tuple[str, ...], weights: Sequence[int],
                    thresholds: tuple[int, int], describe: str,
                    kinds: tuple[str, str]) -> QuorumSystem:
    first, second = thresholds
    return QuorumSystem(
        name=name,
        nodes=nodes,
        first=lambda members: weight_at_least(members, weights, first),
        second=lambda members: weight_at_least(members, weights, second),
        describe=describe,
        first_kind=kinds[0],
        second_kind=kinds[1],
    )


def _checked_weights(weights: Mapping[str, int]) -> tuple[tuple[str, ...], list[int]]:
    nodes = _checked_nodes(list(weights))
    votes = [weights[node] for node in nodes]
    if any(not isinstance(vote, int) or vote < 0 for vote in votes):
        raise ValueError(f"weights must be non-negative integers: {dict(weights)}")
    return nodes, votes


def _weights_text(weights: Mapping[str, int]) -> str:
    return "{" + ", ".join(f"{node}:{vote}" for node, vote in weights.items()) + "}"


def _check_kind(kind: str, kinds: Mapping[str, str]) -> None:
    if kind not in kinds:
        raise ValueError(f"unknown quorum kind {kind!r}; expected one of {', '.join(kinds)}")


def _checked_nodes(nodes: Sequence[str]) -> tuple[str, ...]:
    nodes = tuple(nodes)
    if not nodes:
        raise ValueError("a quorum system needs at least one node")
    if len(set(nodes)) != len(nodes):
        raise ValueError(f"node names must be distinct: {nodes}")
    return nodes


def _candidate_set(prefix: str, nodes: tuple[str, ...]) -> Members:
    return [z3.Bool(f"{prefix}:{node}") for node in nodes]


def _solver(timeout_ms: int) -> z3.Solver:
    solver = z3.Solver()
    solver.set("timeout", timeout_ms)
    return solver


def _canonical_assignment(solver: z3.Solver, variables: Members,
                          prefer: bool = True) -> list[bool]:
    """The satisfying assignment that gives each variable in turn the `prefer`red value if it can.

    With prefer=True that is the lexicographically greatest assignment (maximal sets, in node
    order); with False, the least (minimal sets: the shortest story). z3's own model depends
    on the solver's history within the process, so the same question can get a different
    witness; fixing each variable in turn gives one answer always. Each step keeps the
    constraints satisfiable, so the solver's first model is the fallback only if a step times
    out.
    """
    fallback = solver.model()
    values = []
    for var in variables:
        preferred = var if prefer else z3.Not(var)
        answer = solver.check(preferred)
        if answer == z3.unknown:
            return [z3.is_true(fallback.eval(v, model_completion=True)) for v in variables]
        values.append(prefer if answer == z3.sat else not prefer)
        solver.add(preferred if answer == z3.sat else z3.Not(preferred))
    return values


def _disjoint_pair(qs: QuorumSystem, solver: z3.Solver, set_a: Members,
                   set_b: Members) -> Verdict:
    in_pair = _canonical_assignment(solver, set_a + set_b)
    n = len(qs.nodes)
    quorum_a = sorted(node for node, inside in zip(qs.nodes, in_pair[:n]) if inside)
    quorum_b = sorted(node for node, inside in zip(qs.nodes, in_pair[n:]) if inside)
    shown_a, shown_b = _as_set(quorum_a), _as_set(quorum_b)
    if qs.first_kind == qs.second_kind:
        words = (f"{shown_a} and {shown_b} are both {qs.first_kind}s of {qs.describe} "
                 f"and share no member")
    else:
        words = (f"{shown_a} is a {qs.first_kind} and {shown_b} is a {qs.second_kind} "
                 f"of {qs.describe}, and they share no member")
    return violated(INVARIANT, words, {"quorum_a": quorum_a, "quorum_b": quorum_b})


def _proof_in_words(qs: QuorumSystem, timeout_ms: int) -> str:
    if qs.first_kind == qs.second_kind:
        claim = f"every two {qs.first_kind}s of {qs.describe} share a member"
    else:
        claim = (f"every {qs.first_kind} and every {qs.second_kind} of {qs.describe} "
                 f"share a member")
    words = f"{claim}: z3 found no disjoint pair"
    vacuous_kinds = [kind for kind, predicate in ((qs.first_kind, qs.first),
                                                  (qs.second_kind, qs.second))
                     if not _some_set_satisfies(predicate, qs.nodes, timeout_ms)]
    if vacuous_kinds:
        kinds = " or ".join(dict.fromkeys(vacuous_kinds))
        words += f" (vacuously: no set of nodes is a {kinds})"
    return words


def _some_set_satisfies(predicate: QuorumPredicate, nodes: tuple[str, ...],
                        timeout_ms: int) -> bool:
    """False only when z3 proves no quorum of this kind exists; a passing proof is then empty."""
    solver = _solver(timeout_ms)
    solver.add(predicate(_candidate_set("q", nodes)))
    return solver.check() != z3.unsat


def _as_set(nodes: list[str]) -> str:
    return "{" + ",".join(nodes) + "}"
