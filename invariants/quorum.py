"""Quorum intersection, proved with z3 rather than by listing subsets.

A quorum system over `nodes` is described by predicates on a *candidate set*: one z3 Bool per
node, true when that node is in the set. A predicate returns a z3 formula meaning "this set is
a quorum". Two predicates are kept, `first` and `second`, because the property that protocols
need is cross-intersection: every quorum of kind 1 meets every quorum of kind 2. For plain
majorities both kinds are the same; for read/write quorums, flexible Paxos (phase-1 vs
phase-2) or joint consensus (old and new configuration at once) they differ.

`prove_intersection` asks z3 for a counterexample — two sets, one of each kind, with no common
member. "unsat" is a proof for every such pair; "sat" comes with the disjoint pair.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

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


def majority(nodes: Sequence[str], threshold: int | None = None) -> QuorumSystem:
    """Any `threshold` nodes form a quorum; the default is a strict majority, len // 2 + 1."""
    nodes = _checked_nodes(nodes)
    if threshold is None:
        threshold = len(nodes) // 2 + 1

    def is_quorum(members: Members) -> z3.BoolRef:
        return size_at_least(members, threshold)

    return QuorumSystem(
        name=f"threshold-{threshold}-of-{len(nodes)}",
        nodes=nodes,
        first=is_quorum,
        second=is_quorum,
        describe=f"{len(nodes)} nodes with threshold {threshold}",
    )


def read_write(nodes: Sequence[str], r: int, w: int) -> QuorumSystem:
    """Reads ask any `r` nodes, writes any `w`: a read must see the latest write."""
    nodes = _checked_nodes(nodes)
    return QuorumSystem(
        name=f"read-{r}-write-{w}-of-{len(nodes)}",
        nodes=nodes,
        first=lambda members: size_at_least(members, r),
        second=lambda members: size_at_least(members, w),
        describe=f"{len(nodes)} nodes with reads of {r} and writes of {w}",
        first_kind="read quorum",
        second_kind="write quorum",
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


def _canonical_assignment(solver: z3.Solver, variables: Members) -> list[bool]:
    """The lexicographically greatest satisfying assignment (True first, in node order).

    z3's own model depends on the solver's history within the process, so the same question
    can get a different disjoint pair; fixing each variable in turn gives one answer always.
    Each step keeps the constraints satisfiable, so the solver's first model is the fallback
    only if a step times out.
    """
    fallback = solver.model()
    values = []
    for var in variables:
        answer = solver.check(var)
        if answer == z3.unknown:
            return [z3.is_true(fallback.eval(v, model_completion=True)) for v in variables]
        values.append(answer == z3.sat)
        solver.add(var if answer == z3.sat else z3.Not(var))
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
