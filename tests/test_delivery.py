import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invariants.delivery import MODES, InputRecord, OutputRecord, check_delivery
from invariants.verdict import UNKNOWN


def ins(*ids, acked=True):
    return [InputRecord(id_, time=i, source="p1", acked=acked) for i, id_ in enumerate(ids)]


def outs(*ids):
    return [OutputRecord(id_, time=10 + i, source=f"c{i % 2}") for i, id_ in enumerate(ids)]


def test_each_input_once_is_exactly_once():
    verdict = check_delivery(ins("a", "b"), outs("b", "a"))
    assert verdict.ok
    assert verdict.invariant == "delivery:exactly-once"


def test_loss_names_the_input_that_produced_it():
    verdict = check_delivery(ins("a", "b", "c"), outs("a", "c"))
    assert verdict.violated
    [lost] = verdict.witness["lost"]
    assert lost["id"] == "b"
    assert lost["inputs"] == [{"kind": "input", "index": 1, "time": 1, "source": "p1"}]
    assert "'b' was lost: input #1 at t=1 from p1, never output" in verdict.explanation
    json.dumps(verdict.witness)


def test_duplicate_names_every_copy():
    verdict = check_delivery(ins("a"), outs("a", "a"))
    assert verdict.violated
    [dup] = verdict.witness["duplicated"]
    assert [o["index"] for o in dup["outputs"]] == [0, 1]
    assert ("'a' came out 2 times: output #0 at t=10 by c0, output #1 at t=11 by c1 "
            "(sent as input #0 at t=0 from p1)") in verdict.explanation


def test_modes_forgive_what_they_allow():
    assert check_delivery(ins("a"), outs("a", "a"), "at-least-once").ok
    assert check_delivery(ins("a", "b"), outs("a"), "at-most-once").ok
    assert check_delivery(ins("a", "b"), outs("a"), "at-least-once").violated
    assert check_delivery(ins("a"), outs("a", "a"), "at-most-once").violated


def test_invented_outputs_break_every_mode():
    for mode in MODES:
        verdict = check_delivery(ins("a"), outs("a", "z"), mode)
        assert verdict.violated
        assert "'z' was never input but came out: output #1" in verdict.explanation


def test_unacknowledged_inputs_may_be_lost():
    inputs = ins("a") + ins("b", acked=False)
    assert check_delivery(inputs, outs("a")).ok


def test_retried_input_counts_once_and_is_acked_if_any_try_was():
    inputs = [InputRecord("a", acked=False), InputRecord("a", acked=True)]
    assert check_delivery(inputs, outs("a")).ok
    assert check_delivery(inputs, []).violated


def test_missing_outputs_before_quiescence_are_unknown():
    verdict = check_delivery(ins("a", "b"), outs("a"), quiesced=False)
    assert verdict.status == UNKNOWN
    assert "may still be in flight" in verdict.explanation
    assert check_delivery(ins("a"), outs("a", "a"), quiesced=False).violated


def test_long_lists_are_cut_in_words_but_complete_in_the_witness():
    verdict = check_delivery(ins(*range(8)), [])
    assert len(verdict.witness["lost"]) == 8
    assert "... and 3 more lost" in verdict.explanation


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="unknown delivery mode"):
        check_delivery([], [], "twice")


# -- differential test against a counting reference --------------------------------------

def reference(inputs, outputs, mode):
    """Lost, duplicated and unexpected ids, computed the obvious way."""
    acked = {i.id for i in inputs if i.acked}
    counts = Counter(o.id for o in outputs)
    lost = set() if mode == "at-most-once" else acked - set(counts)
    dup = set() if mode == "at-least-once" else {id_ for id_, n in counts.items() if n > 1}
    unexpected = set(counts) - {i.id for i in inputs}
    return lost, dup, unexpected


ids = st.sampled_from("abcd")


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.lists(st.builds(InputRecord, ids, acked=st.booleans()), max_size=6),
       st.lists(st.builds(OutputRecord, ids), max_size=6), st.sampled_from(MODES))
def test_agrees_with_counting_reference(inputs, outputs, mode):
    lost, dup, unexpected = reference(inputs, outputs, mode)
    verdict = check_delivery(inputs, outputs, mode)
    assert verdict.violated == bool(lost or dup or unexpected)
    if verdict.violated:
        found = {kind: {p["id"] for p in verdict.witness[kind]}
                 for kind in ("lost", "duplicated", "unexpected")}
        assert found == {"lost": lost, "duplicated": dup, "unexpected": unexpected}


def test_output_content_is_checked_against_the_reference():
    reference = [InputRecord(("w1", "k"), value=3), InputRecord(("w2", "k"), value=None)]
    right = [OutputRecord(("w1", "k"), value=3), OutputRecord(("w2", "k"), value="any")]
    assert check_delivery(reference, right).ok
    wrong = [OutputRecord(("w1", "k"), time=7, value=4), OutputRecord(("w2", "k"))]
    verdict = check_delivery(reference, wrong)
    assert verdict.violated
    [altered] = verdict.witness["altered"]
    assert altered == {"problem": "altered", "id": ("w1", "k"), "expected": 3, "value": 4,
                       "output": 0}
    assert "('w1', 'k') came out as 4 (output #0), but the reference run gives 3" \
        in verdict.explanation
    assert check_delivery(reference, wrong, "at-least-once").violated
