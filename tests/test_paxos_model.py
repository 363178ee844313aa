import pytest

from models.explore import bfs
from models.paxos import PaxosModel, PaxosState

# Pinned: a change to the model's semantics changes these counts and must be deliberate.
STATES_TWO_BALLOTS = 1_777
STATES_THREE_BALLOTS = 74_681


class RecordingChosen:
    """Wraps a model to remember every value chosen in any reachable state (non-vacuity)."""

    def __init__(self, model: PaxosModel) -> None:
        self.model = model
        self.ever_chosen: set[int] = set()

    def initial(self) -> PaxosState:
        return self.model.initial()

    def successors(self, state: PaxosState) -> list[tuple[str, PaxosState]]:
        return self.model.successors(state)

    def invariant(self, state: PaxosState) -> str | None:
        self.ever_chosen |= self.model.chosen(state)
        return self.model.invariant(state)


def replay(model: PaxosModel, trace: list[str]) -> PaxosState:
    state = model.initial()
    for label in trace:
        state = dict(model.successors(state))[label]
    return state


def test_correct_paxos_two_ballots_is_safe_and_decides_either_value():
    recorder = RecordingChosen(PaxosModel(acceptors=3, proposers=2, max_ballot=2))
    result = bfs(recorder)
    assert result.complete and result.violation is None and result.trace == []
    assert result.states == STATES_TWO_BALLOTS
    assert recorder.ever_chosen == {1, 2}


def test_correct_paxos_with_a_retried_ballot_is_safe():
    result = bfs(PaxosModel(acceptors=3, proposers=2, max_ballot=3))
    assert result.complete and result.violation is None
    assert result.states == STATES_THREE_BALLOTS


def test_exploration_is_deterministic():
    runs = [bfs(PaxosModel(acceptors=3, proposers=2, max_ballot=2)) for _ in range(2)]
    assert runs[0] == runs[1]
    assert runs[0].states == STATES_TWO_BALLOTS


@pytest.mark.parametrize("bug, trace_length", [
    ({"forget_promise": True}, 12),
    ({"quorum": 1}, 8),
])
def test_seeded_bug_breaks_agreement_with_a_short_trace(bug, trace_length):
    model = PaxosModel(acceptors=3, proposers=2, max_ballot=2, **bug)
    result = bfs(model)
    assert result.violation is not None
    assert "2 different values are chosen" in result.violation
    assert len(result.trace) == trace_length
    final = replay(model, result.trace)
    assert model.chosen(final) == {1, 2}
    assert model.invariant(final) == result.violation


def test_forgotten_promise_shows_in_the_trace():
    trace = bfs(PaxosModel(acceptors=3, proposers=2, max_ballot=2, forget_promise=True)).trace
    assert any(f"1b({a}, b2)" in trace and f"2b({a}, b1, v1)" in trace
               and trace.index(f"1b({a}, b2)") < trace.index(f"2b({a}, b1, v1)")
               for a in ("a1", "a2", "a3"))


def test_bounded_search_reports_incomplete():
    result = bfs(PaxosModel(acceptors=3, proposers=2, max_ballot=2), max_states=100)
    assert not result.complete and result.states == 100 and result.violation is None


def test_labels_name_acceptors_ballots_and_values():
    model = PaxosModel(acceptors=3, proposers=2, max_ballot=2)
    assert [label for label, _ in model.successors(model.initial())] == ["1a(b1)", "1a(b2)"]
    assert model.proposer_value(1) == 1 and model.proposer_value(2) == 2
