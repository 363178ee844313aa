"""The abstract Zab model: exhaustive search for 3 servers finds no violation of primary order,
of committed-transaction survival or of one leader per epoch; each seeded bug breaks one."""

import pytest

from models.explore import bfs
from models.zab import ZabModel, ZabState

# Pinned: a change to the model's semantics changes these counts and must be deliberate.
STATES_ONE_PROPOSAL = 9_322  # 3 servers, epochs 1..2, one proposal per epoch
STATES_TWO_PROPOSALS = 46_636  # 3 servers, epochs 1..2, two proposals per epoch
# (epochs 1..3 with one proposal per epoch: 318,079 states, ~20 s; not run in the suite)


class RecordingCommits:
    """Wraps a model to remember every transaction committed in any reachable state."""

    def __init__(self, model: ZabModel) -> None:
        self.model = model
        self.ever_committed: set = set()
        self.epochs_established: set[int] = set()

    def initial(self) -> ZabState:
        return self.model.initial()

    def successors(self, state: ZabState) -> list[tuple[str, ZabState]]:
        return self.model.successors(state)

    def invariant(self, state: ZabState) -> str | None:
        self.ever_committed |= self.model.committed(state)
        self.epochs_established |= {epoch for epoch, _, _ in state.commits}
        return self.model.invariant(state)


def replay(model: ZabModel, trace: list[str]) -> ZabState:
    state = model.initial()
    for label in trace:
        state = dict(model.successors(state))[label]
    return state


def test_correct_zab_is_safe_and_commits_in_every_epoch():
    recorder = RecordingCommits(ZabModel(servers=3, max_epoch=2, proposals=1))
    result = bfs(recorder)
    assert result.complete and result.violation is None
    assert result.states == STATES_ONE_PROPOSAL
    assert recorder.ever_committed == {(1, 1), (2, 1)}
    assert recorder.epochs_established == {1, 2}


def test_correct_zab_with_two_proposals_an_epoch_is_safe():
    result = bfs(ZabModel(servers=3, max_epoch=2, proposals=2))
    assert result.complete and result.violation is None
    assert result.states == STATES_TWO_PROPOSALS


def test_exploration_is_deterministic():
    runs = [bfs(ZabModel(max_epoch=2, proposals=1)) for _ in range(2)]
    assert runs[0] == runs[1]


def test_ack_before_persist_loses_a_committed_transaction():
    """A late follower acknowledges NEWLEADER with the history in memory only; its ack commits
    a proposal; it crashes; the next epoch is established without the proposal."""
    model = ZabModel(max_epoch=2, proposals=1, ack_before_persist=True)
    result = bfs(model)
    assert result.violation is not None and "a committed transaction lost" in result.violation
    assert len(result.trace) == 15
    assert result.trace.index("propose(z1, 1.1)") < result.trace.index("ackld(z3, z1, e1)") \
        < result.trace.index("commit(z1, e1, [1.1])") < result.trace.index("crash(z3)")
    assert model.invariant(replay(model, result.trace)) == result.violation


def test_accepting_an_epoch_from_two_leaders_gives_two_leaders():
    model = ZabModel(max_epoch=2, proposals=1, any_leader_per_epoch=True)
    result = bfs(model)
    assert result.violation is not None and "both established epoch 2" in result.violation
    assert model.invariant(replay(model, result.trace)) == result.violation


@pytest.mark.parametrize("commits, problem", [
    ({(1, 0, ((1, 1),)), (2, 1, ())}, "a committed transaction lost"),
    ({(1, 0, ((1, 1),)), (1, 0, ((1, 2),))}, "epoch 1 committed both"),
    ({(2, 0, ()), (2, 2, ())}, "z1 and z3 both established epoch 2"),
])
def test_invariant_on_hand_made_bad_states(commits, problem):
    model = ZabModel()
    state = model.initial()._replace(commits=frozenset(commits))
    assert problem in model.invariant(state)


def test_invariant_on_hand_made_good_state():
    model = ZabModel()
    commits = {(1, 0, ()), (1, 0, ((1, 1),)), (2, 1, ((1, 1),)), (2, 1, ((1, 1), (2, 1)))}
    assert model.invariant(model.initial()._replace(commits=frozenset(commits))) is None


def test_bounded_search_reports_incomplete():
    result = bfs(ZabModel(), max_states=100)
    assert not result.complete and result.states == 100


def test_labels_name_servers_epochs_and_zxids():
    model = ZabModel(max_epoch=2)
    assert [label for label, _ in model.successors(model.initial())] == [
        "newepoch(z1, e1)", "newepoch(z1, e2)", "newepoch(z2, e1)", "newepoch(z2, e2)",
        "newepoch(z3, e1)", "newepoch(z3, e2)"]
