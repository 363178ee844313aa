"""Every anomaly class the transactional checker names: a history written for it, reported at
the weakest level that forbids it (and at every level above), tolerated below; a clean history
passes everywhere. Levels follow the hierarchy in docs/history-format.md."""

import json

import pytest

from invariants.history import FAIL
from invariants.transactions import LEVELS, check_transactions, txn_op

t = txn_op

ORDER = ["read-uncommitted", "read-committed", "cursor-stability", "read-atomic",
         "repeatable-read", "snapshot-isolation", "serializable", "strict-serializable"]
STRONGER = {  # level -> the levels of ORDER that imply it
    "read-uncommitted": ORDER,
    "read-committed": ORDER[1:],
    "cursor-stability": ["cursor-stability", "repeatable-read", "snapshot-isolation",
                         "serializable", "strict-serializable"],
    "read-atomic": ["read-atomic", "snapshot-isolation", "serializable", "strict-serializable"],
    "repeatable-read": ["repeatable-read", "serializable", "strict-serializable"],
    "snapshot-isolation": ["snapshot-isolation", "serializable", "strict-serializable"],
    "serializable": ["serializable", "strict-serializable"],
}

NONADJACENT = [  # T1 -rw-> T2 -wr-> T3 -rw-> T4 -wr-> T1: no two rw edges in a row
    t(1, [["r", "x", []], ["r", "w", [1]]]),
    t(2, [["append", "x", 1], ["append", "y", 1]]),
    t(3, [["r", "y", [1]], ["r", "z", []]]),
    t(4, [["append", "z", 1], ["append", "w", 1]]),
    t(5, [["r", "x", [1]], ["r", "z", [1]]]),
]
CASES = {  # anomaly -> (history, the weakest level(s) of ORDER forbidding it)
    "G0": ([t(1, [["append", "x", 1], ["append", "y", 1]]),
            t(2, [["append", "x", 2], ["append", "y", 2]]),
            t(3, [["r", "x", [1, 2]], ["r", "y", [2, 1]]])], "read-uncommitted"),
    "garbage-read": ([t(1, [["r", "x", [7]]])], "read-uncommitted"),
    "duplicate-elements": ([t(1, [["append", "x", 1]]), t(2, [["r", "x", [1, 1]]])],
                           "read-uncommitted"),
    "G1a": ([t(1, [["append", "x", 1]], status=FAIL), t(2, [["r", "x", [1]]])],
            "read-committed"),
    "G1b": ([t(1, [["append", "x", 1], ["append", "x", 2]]), t(2, [["r", "x", [1]]]),
             t(3, [["r", "x", [1, 2]]])], "read-committed"),
    "G1c": ([t(1, [["append", "x", 1], ["r", "y", [2]]]),
             t(2, [["append", "y", 2], ["r", "x", [1]]])], "read-committed"),
    "dirty-update": ([t(1, [["append", "x", 1]], status=FAIL), t(2, [["append", "x", 2]]),
                      t(3, [["r", "x", [1, 2]]])], "read-committed"),
    "incompatible-order": ([t(1, [["append", "x", 1]]), t(2, [["append", "x", 2]]),
                            t(3, [["r", "x", [1]]]), t(4, [["r", "x", [2]]])],
                           "read-committed"),
    "future-read": ([t(1, [["r", "x", [1]], ["append", "x", 1]])], "read-committed"),
    "lost-update": ([t(1, [["r", "x", None], ["w", "x", 1]]),
                     t(2, [["r", "x", None], ["w", "x", 2]])], "cursor-stability"),
    "internal": ([t(1, [["r", "x", []], ["r", "x", [2]]]), t(2, [["append", "x", 2]])],
                 "read-atomic"),
    "G-single-item": ([t(1, [["append", "x", 1], ["append", "y", 1]]),
                       t(2, [["r", "x", []], ["r", "y", [1]]]),
                       t(3, [["r", "x", [1]], ["r", "y", [1]]])],
                      ("snapshot-isolation", "repeatable-read")),
    "G-nonadjacent-item": (NONADJACENT, ("snapshot-isolation", "repeatable-read")),
    "G2-item": ([t(1, [["r", "x", []], ["r", "y", []], ["append", "x", 1]]),
                 t(2, [["r", "x", []], ["r", "y", []], ["append", "y", 2]]),
                 t(3, [["r", "x", [1]], ["r", "y", [2]]])], "repeatable-read"),
}
CLEAN = [t(1, [["r", "x", []], ["append", "x", 1]], call=0, ret=1),
         t(2, [["r", "x", [1]], ["append", "x", 2], ["r", "x", [1, 2]]], call=2, ret=3),
         t(3, [["append", "y", 3], ["r", "x", [1, 2]], ["w", "z", 5]], call=4, ret=5),
         t(4, [["r", "y", [3]], ["r", "x", [1, 2]], ["r", "z", 5]], call=6, ret=7)]


def types(verdict):
    json.dumps(verdict.witness)
    return {anomaly["type"] for anomaly in verdict.witness or []}


@pytest.mark.parametrize("anomaly", CASES)
def test_each_anomaly_is_reported_exactly_where_it_is_forbidden(anomaly):
    ops, weakest = CASES[anomaly]
    forbidding = {level for name in ([weakest] if isinstance(weakest, str) else weakest)
                  for level in STRONGER[name]}
    for level in ORDER:
        verdict = check_transactions(ops, level)
        if level in forbidding:
            assert anomaly in types(verdict), (level, verdict.explanation)
            assert anomaly in LEVELS[level]
        else:
            assert anomaly not in types(verdict), (level, verdict.explanation)
            assert anomaly not in LEVELS[level]


@pytest.mark.parametrize("level", LEVELS)
def test_a_clean_history_passes_every_level(level):
    verdict = check_transactions(CLEAN, level)
    assert verdict.ok, verdict.explanation


def test_g_nonadjacent_breaks_snapshot_isolation_with_no_g_single_present():
    verdict = check_transactions(NONADJACENT, "snapshot-isolation")
    assert types(verdict) == {"G-nonadjacent-item"}
    [cycle] = verdict.witness
    assert [edge["type"] for edge in cycle["edges"]] == ["rw", "wr", "rw", "wr"]
    assert check_transactions(NONADJACENT, "read-committed").ok


SAME_PROCESS_STALE = [t(1, [["append", "x", 1]], process="p", call=0, ret=1),
                      t(2, [["r", "x", []]], process="p", call=2, ret=3)]
OTHER_PROCESS_STALE = [t(1, [["append", "x", 1]], process="p", call=0, ret=1),
                       t(2, [["r", "x", []]], process="q", call=2, ret=3)]


def test_process_and_realtime_variants_at_the_strong_levels():
    assert check_transactions(SAME_PROCESS_STALE, "snapshot-isolation").ok
    session = check_transactions(SAME_PROCESS_STALE, "strong-session-snapshot-isolation")
    assert types(session) == {"G-single-item-process"}
    assert types(check_transactions(SAME_PROCESS_STALE, "strong-session-serializable")) == {
        "G-single-item-process"}
    assert check_transactions(OTHER_PROCESS_STALE, "strong-session-snapshot-isolation").ok
    strong = check_transactions(OTHER_PROCESS_STALE, "strong-snapshot-isolation")
    assert types(strong) == {"G-single-item-realtime"}
    assert types(check_transactions(SAME_PROCESS_STALE, "strict-serializable")) == {
        "G-single-item-realtime"}


def test_every_type_present_is_reported_not_one_per_component():
    """One component with both a G-single-item and a G2-item, beside a G0 and a G1c."""
    def shifted(ops, by):
        return [t(op.id + by, [[f, f"{key}{by}", v] for f, key, v in op.result]) for op in ops]
    g0, g1c = CASES["G0"][0], CASES["G1c"][0]
    both = [t(1, [["append", "x", 1], ["append", "y", 1], ["r", "z", []]]),
            t(2, [["r", "x", []], ["r", "y", [1]], ["append", "z", 2]]),
            t(3, [["r", "x", [1]], ["r", "y", [1]], ["r", "z", [2]]])]
    ops = both + shifted(g0, 10) + shifted(g1c, 20)
    verdict = check_transactions(ops, "serializable", max_cycles=1)
    assert verdict.explanation.splitlines()[0] == (
        "not serializable: G0 x1, G1c x1, G-single-item x1, G2-item x1")
    assert len(verdict.witness) == 1


def test_incompatible_order_does_not_hide_a_cycle_beside_it():
    ops = [t(1, [["append", "x", 1]]), t(2, [["append", "x", 2]]),
           t(3, [["r", "x", [1]], ["append", "y", 3], ["r", "z", [4]]]),
           t(4, [["r", "x", [2]], ["append", "z", 4], ["r", "y", [3]]])]
    assert types(check_transactions(ops, "read-committed")) == {"incompatible-order", "G1c"}


def test_register_options_infer_version_orders_as_elle_does():
    read_then_write = [t(1, [["w", "x", 1]]),
                       t(2, [["r", "x", 1], ["w", "x", 2], ["w", "y", 1]]),
                       t(3, [["r", "x", 1], ["r", "y", 1]])]
    # T3 saw T2's y but x=1, which T2 overwrote (known only with writes-follow-reads)
    assert check_transactions(read_then_write).ok
    assert types(check_transactions(read_then_write, writes_follow_reads=True)) == {
        "G-single-item"}
    sequential = [t(1, [["w", "x", 1]], process="a"), t(2, [["w", "x", 2]], process="a"),
                  t(3, [["r", "x", 2], ["w", "y", 1]], process="b"),
                  t(4, [["r", "y", 1], ["r", "x", 1]], process="c")]
    assert check_transactions(sequential).ok
    assert types(check_transactions(sequential, sequential_keys=True)) == {"G-single-item"}


def test_a_register_that_starts_at_zero():
    ops = [t(1, [["r", "x", 0]]), t(2, [["w", "x", 1]])]
    assert types(check_transactions(ops)) == {"garbage-read"}
    assert check_transactions(ops, initial=0).ok
