"""Weighted, grid, flexible-Paxos, joint and sloppy quorums, cross-checked by brute force."""

from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invariants.quorum import (
    flexible_paxos,
    grid,
    joint_consensus,
    prove_intersection,
    prove_sloppy_intersection,
    sloppy_quorums,
    weighted,
    weighted_read_write,
)

FEW = settings(max_examples=40, derandomize=True, deadline=None)


def names(n: int) -> list[str]:
    return [f"n{i}" for i in range(1, n + 1)]


def subsets(nodes):
    return [frozenset(c) for k in range(len(nodes) + 1) for c in combinations(nodes, k)]


def disjoint_pair_exists(nodes, is_first, is_second) -> bool:
    """Brute force; quorum kinds are upward closed, so the complement is the best partner."""
    everything = frozenset(nodes)
    return any(is_first(a) and is_second(everything - a) for a in subsets(nodes))


def assert_agrees(qs, is_first, is_second):
    """The prover's verdict matches brute force, and a counterexample is a real disjoint pair."""
    verdict = prove_intersection(qs)
    assert verdict.violated == disjoint_pair_exists(qs.nodes, is_first, is_second)
    if verdict.violated:
        a, b = set(verdict.witness["quorum_a"]), set(verdict.witness["quorum_b"])
        assert is_first(a) and is_second(b) and not a & b
    return verdict


# -- weighted voting ---------------------------------------------------------------------

def test_weighted_majority_lets_a_heavy_node_decide_with_anyone():
    verdict = prove_intersection(weighted({"a": 3, "b": 1, "c": 1, "d": 1}))
    assert verdict.ok
    assert "threshold 4" in verdict.explanation


def test_weighted_threshold_too_low_has_disjoint_quorums():
    verdict = prove_intersection(weighted({"a": 3, "b": 1, "c": 1, "d": 1}, threshold=3))
    assert verdict.violated
    assert verdict.explanation == ("{a} and {b,c,d} are both quorums of weights "
                                   "{a:3, b:1, c:1, d:1} with threshold 3 and share no member")


def test_negative_weights_are_rejected():
    with pytest.raises(ValueError):
        weighted({"a": -1, "b": 2})


weight_maps = st.lists(st.integers(0, 3), min_size=1, max_size=5).map(
    lambda votes: dict(zip(names(len(votes)), votes)))


def total(weights, members):
    return sum(weights[m] for m in members)


@FEW
@given(weight_maps, st.integers(0, 8), st.integers(0, 8))
def test_weighted_read_write_agrees_with_brute_force(weights, r, w):
    verdict = assert_agrees(weighted_read_write(weights, r, w),
                            lambda s: total(weights, s) >= r, lambda s: total(weights, s) >= w)
    assert verdict.violated == (r + w <= sum(weights.values()))


@FEW
@given(weight_maps)
def test_default_weighted_majorities_always_intersect(weights):
    assert prove_intersection(weighted(weights)).ok


# -- flexible Paxos ----------------------------------------------------------------------

def test_flexible_paxos_trades_phase_one_size_for_phase_two_size():
    assert prove_intersection(flexible_paxos(names(6), 5, 2)).ok
    verdict = prove_intersection(flexible_paxos(names(6), 4, 2))
    assert verdict.violated
    assert "is a phase-1 quorum" in verdict.explanation
    assert "is a phase-2 quorum" in verdict.explanation


@FEW
@given(st.integers(1, 6).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(0, n + 1), st.integers(0, n + 1))))
def test_flexible_paxos_holds_iff_q1_plus_q2_exceeds_n(n_q1_q2):
    n, q1, q2 = n_q1_q2
    verdict = assert_agrees(flexible_paxos(names(n), q1, q2),
                            lambda s: len(s) >= q1, lambda s: len(s) >= q2)
    assert verdict.ok == (q1 + q2 > n)


# -- grids -------------------------------------------------------------------------------

def grid_columns(rows, columns):
    return [{f"r{i}c{j}" for i in range(1, rows + 1)} for j in range(1, columns + 1)]


def grid_reference(rows, columns, kind):
    cols = grid_columns(rows, columns)

    def is_quorum(members):
        full_column = any(col <= members for col in cols)
        if kind == "read":
            return full_column
        return full_column and all(col & members for col in cols)
    return is_quorum


def test_grid_reads_meet_writes():
    verdict = prove_intersection(grid(3, 3))
    assert verdict.ok
    assert "every read quorum and every write quorum of a 3x3 grid" in verdict.explanation


def test_grid_reads_need_not_meet_each_other():
    verdict = prove_intersection(grid(2, 2, "read", "read"))
    assert verdict.violated
    assert verdict.witness == {"quorum_a": ["r1c1", "r2c1"], "quorum_b": ["r1c2", "r2c2"]}


def test_unknown_grid_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown quorum kind"):
        grid(2, 2, "read", "scan")


@FEW
@given(st.integers(1, 3), st.integers(1, 3), st.sampled_from(["read", "write"]),
       st.sampled_from(["read", "write"]))
def test_grid_agrees_with_brute_force(rows, columns, first, second):
    verdict = assert_agrees(grid(rows, columns, first, second),
                            grid_reference(rows, columns, first),
                            grid_reference(rows, columns, second))
    assert verdict.ok == ("write" in (first, second) or columns == 1)


# -- joint consensus ---------------------------------------------------------------------

def joint_reference(old, new, kind):
    def is_quorum(members):
        old_ok = len(members & set(old)) > len(old) / 2
        new_ok = len(members & set(new)) > len(new) / 2
        return {"old": old_ok, "new": new_ok, "joint": old_ok and new_ok}[kind]
    return is_quorum


def test_switching_configurations_directly_can_split_the_cluster():
    verdict = prove_intersection(joint_consensus(["a", "b", "c"], ["c", "d", "e"], "old", "new"))
    assert verdict.violated
    assert verdict.explanation.startswith("{a,b,c} is a quorum of the old configuration and "
                                          "{d,e} is a quorum of the new configuration")


@pytest.mark.parametrize("first, second", [("joint", "joint"), ("joint", "old"),
                                           ("joint", "new"), ("old", "joint")])
def test_joint_quorums_meet_both_configurations(first, second):
    assert prove_intersection(joint_consensus(["a", "b", "c"], ["c", "d", "e"], first,
                                              second)).ok


configurations = st.lists(st.sampled_from(names(6)), min_size=1, max_size=4, unique=True)
kinds = st.sampled_from(["old", "new", "joint"])


@FEW
@given(configurations, configurations, kinds, kinds)
def test_joint_consensus_agrees_with_brute_force(old, new, first, second):
    assert_agrees(joint_consensus(old, new, first, second), joint_reference(old, new, first),
                  joint_reference(old, new, second))


# -- sloppy quorums ----------------------------------------------------------------------

def preference(ring, n, down):
    healthy = [node for node in ring if node not in down]
    return healthy[:n]


def sloppy_disjoint_exists(ring, n, r, w, f) -> bool:
    lists = [preference(ring, n, set(down))
             for k in range(f + 1) for down in combinations(ring, k)]
    return any(len(set(read_list) - set(write_quorum)) >= r
               for write_list in lists for write_quorum in combinations(write_list, w)
               for read_list in lists)


def assert_sloppy_witness_is_real(sq, witness):
    for kind, acks in (("write", sq.w), ("read", sq.r)):
        down, quorum = witness[f"{kind}_down"], witness[f"{kind}_quorum"]
        assert len(down) <= sq.max_failures
        assert witness[f"{kind}_list"] == preference(sq.ring, sq.n, set(down))
        assert set(quorum) <= set(witness[f"{kind}_list"]) and len(quorum) >= acks
    assert not set(witness["write_quorum"]) & set(witness["read_quorum"])


def test_sloppy_quorums_miss_each_other_after_a_failure():
    sq = sloppy_quorums(names(5), n=3, r=2, w=2, max_failures=1)
    verdict = prove_sloppy_intersection(sq)
    assert verdict.violated
    assert verdict.witness == {
        "write_down": [], "write_list": ["n1", "n2", "n3"], "write_quorum": ["n2", "n3"],
        "read_down": ["n3"], "read_list": ["n1", "n2", "n4"], "read_quorum": ["n1", "n4"],
    }
    assert "while {n3} is down, a read is answered by {n1,n4}" in verdict.explanation
    assert verdict.explanation.endswith("although R + W = 4 > N = 3")


def test_sloppy_quorums_without_failures_are_strict():
    assert prove_sloppy_intersection(sloppy_quorums(names(5), 3, 2, 2, 0)).ok


def test_sloppy_quorums_without_fallback_nodes_are_strict():
    assert prove_sloppy_intersection(sloppy_quorums(names(3), 3, 2, 2, 2)).ok


def test_preference_list_size_is_checked():
    with pytest.raises(ValueError):
        sloppy_quorums(names(3), 4, 2, 2, 1)


@FEW
@given(st.integers(1, 5).flatmap(lambda size: st.tuples(
    st.just(size), st.integers(1, size), st.integers(0, 4), st.integers(0, 4),
    st.integers(0, 2))))
def test_sloppy_prover_agrees_with_brute_force(params):
    size, n, r, w, f = params
    sq = sloppy_quorums(names(size), n, r, w, f)
    verdict = prove_sloppy_intersection(sq)
    assert verdict.violated == sloppy_disjoint_exists(sq.ring, n, r, w, f)
    if verdict.violated:
        assert_sloppy_witness_is_real(sq, verdict.witness)
