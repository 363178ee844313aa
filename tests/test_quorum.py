from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invariants.quorum import majority, prove_intersection, read_write


def names(n: int) -> list[str]:
    return [f"n{i}" for i in range(1, n + 1)]


def some_disjoint_pair_exists(n: int, size_a: int, size_b: int) -> bool:
    """Brute force: is there a set of >= size_a nodes and a disjoint one of >= size_b?"""
    nodes = range(n)
    subsets = [set(c) for k in range(n + 1) for c in combinations(nodes, k)]
    return any(len(a) >= size_a and len(b) >= size_b and not a & b
               for a in subsets for b in subsets)


@pytest.mark.parametrize("n", [3, 4, 5])
def test_majorities_intersect(n):
    verdict = prove_intersection(majority(names(n)))
    assert verdict.ok
    assert verdict.invariant == "quorum-intersection"
    assert "z3 found no disjoint pair" in verdict.explanation


def test_half_threshold_on_four_nodes_has_disjoint_quorums():
    verdict = prove_intersection(majority(names(4), threshold=2))
    assert verdict.violated
    quorum_a, quorum_b = verdict.witness["quorum_a"], verdict.witness["quorum_b"]
    assert len(quorum_a) >= 2 and len(quorum_b) >= 2
    assert not set(quorum_a) & set(quorum_b)
    assert set(quorum_a) | set(quorum_b) <= set(names(4))
    assert quorum_a == sorted(quorum_a) and quorum_b == sorted(quorum_b)
    assert verdict.explanation == ("{n1,n2} and {n3,n4} are both quorums of 4 nodes with "
                                   "threshold 2 and share no member")


def test_verdict_is_deterministic():
    first = prove_intersection(majority(names(4), threshold=2))
    assert prove_intersection(majority(names(4), threshold=2)) == first


def test_read_write_quorums_that_overlap_in_count_intersect():
    assert prove_intersection(read_write(names(5), r=2, w=4)).ok


def test_read_write_quorums_too_small_miss_each_other():
    verdict = prove_intersection(read_write(names(5), r=2, w=3))
    assert verdict.violated
    reads, writes = verdict.witness["quorum_a"], verdict.witness["quorum_b"]
    assert len(reads) >= 2 and len(writes) >= 3 and not set(reads) & set(writes)
    assert "is a read quorum" in verdict.explanation


def test_impossible_quorums_pass_only_vacuously():
    verdict = prove_intersection(majority(names(3), threshold=4))
    assert verdict.ok
    assert "vacuously" in verdict.explanation


def test_duplicate_node_names_are_rejected():
    with pytest.raises(ValueError):
        majority(["n1", "n1", "n2"])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(0, n + 1), st.integers(0, n + 1))))
def test_z3_agrees_with_brute_force(n_r_w):
    n, r, w = n_r_w
    verdict = prove_intersection(read_write(names(n), r, w))
    assert verdict.violated == some_disjoint_pair_exists(n, r, w)
    assert verdict.violated == (r + w <= n)
