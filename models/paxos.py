"""Single-decree Paxos as a finite state machine, small enough to explore exhaustively.

The shape follows Lamport's Paxos.tla. Messages are never removed: the network is the *set* of
messages ever sent, and an action is enabled by the messages present. That one choice models
loss (a message may simply never be used), duplication (it may be used again) and reordering
(any present message may be used next) without any network code.

Acceptors, proposers, ballots and values are small ints so states hash the same way in every
run, whatever PYTHONHASHSEED is. Acceptor i is "a{i+1}" in labels; proposer p owns ballots
p+1, p+1+P, p+1+2P, ... up to `max_ballot` and proposes its own value p+1 ("v{p+1}"). Ballot 0
means "none": an acceptor that has voted for nothing carries NO_VOTE = (0, 0), which sorts below
every real vote, so "the highest-ballot vote" needs no special case.
"""

from __future__ import annotations

from itertools import combinations
from typing import NamedTuple

NO_VOTE = (0, 0)

# Message kinds; each message is a tuple of ints starting with its kind:
#   (PHASE_1A, b)  (PHASE_1B, a, b, vote_ballot, vote_value)  (PHASE_2A, b, v)  (PHASE_2B, a, b, v)
PHASE_1A, PHASE_1B, PHASE_2A, PHASE_2B = 1, 2, 3, 4

Message = tuple[int, ...]


class Acceptor(NamedTuple):
    promised: int
    accepted: tuple[int, int]  # (ballot, value) of the latest vote, or NO_VOTE


class PaxosState(NamedTuple):
    acceptors: tuple[Acceptor, ...]
    messages: frozenset[Message]


_new = tuple.__new__  # makes a named tuple without its keyword-handling constructor: hot path


class PaxosModel:
    """Paxos with `acceptors` acceptors and `proposers` proposers, ballots 1..`max_ballot`.

    Seeded bugs, each of which breaks agreement:
    `forget_promise` -- an acceptor votes in a 2a's ballot even after promising a higher one;
    `quorum` -- phases 1 and 2 (and "chosen") wait for this many acceptors instead of a
    majority; n // 2 lets two disjoint halves decide on their own.
    """

    def __init__(self, acceptors: int = 3, proposers: int = 2, max_ballot: int = 3,
                 forget_promise: bool = False, quorum: int | None = None) -> None:
        if min(acceptors, proposers, max_ballot) < 1:
            raise ValueError("need at least one acceptor, one proposer and one ballot")
        self.acceptors = acceptors
        self.proposers = proposers
        self.max_ballot = max_ballot
        self.forget_promise = forget_promise
        self.quorum = acceptors // 2 + 1 if quorum is None else quorum
        self.ballots = range(1, max_ballot + 1)
        self.values = range(1, proposers + 1)

    def initial(self) -> PaxosState:
        return PaxosState((Acceptor(0, NO_VOTE),) * self.acceptors, frozenset())

    def successors(self, state: PaxosState) -> list[tuple[str, PaxosState]]:
        """Every enabled action, in a fixed order: 1a, 1b, 2a, 2b, each by ballot/acceptor."""
        sent = _Sent.of(state.messages)
        return [*self._phase1a(state, sent), *self._phase1b(state, sent),
                *self._phase2a(state, sent), *self._phase2b(state, sent)]

    def chosen(self, state: PaxosState) -> set[int]:
        """Values voted for by a quorum of acceptors in one ballot."""
        return {value for _, value, _ in self._choices(state)}

    def invariant(self, state: PaxosState) -> str | None:
        """None when at most one value is chosen; otherwise which quorums chose what."""
        if len({m[3] for m in state.messages if m[0] == PHASE_2B}) <= 1:
            return None  # fast path: in most states votes name one value at most
        choices = self._choices(state)
        values = {value for _, value, _ in choices}
        if len(values) <= 1:
            return None
        how = "; ".join(f"v{value} by {{{','.join(f'a{a + 1}' for a in voters)}}} in b{ballot}"
                        for ballot, value, voters in choices)
        return f"{len(values)} different values are chosen: {how}"

    def _choices(self, state: PaxosState) -> list[tuple[int, int, list[int]]]:
        """(ballot, value, voters) for every ballot in which a quorum voted, by ballot."""
        return sorted((ballot, value, voters) for (ballot, value), voters in _voters(state).items()
                      if len(voters) >= self.quorum)

    def proposer_value(self, ballot: int) -> int:
        """The value the owner of `ballot` proposes when no acceptor reports a vote."""
        return (ballot - 1) % self.proposers + 1

    def _phase1a(self, state: PaxosState, sent: _Sent) -> list[tuple[str, PaxosState]]:
        """The ballot's owner asks every acceptor to promise it."""
        return [(f"1a(b{b})", _send(state, (PHASE_1A, b)))
                for b in self.ballots if b not in sent.requested]

    def _phase1b(self, state: PaxosState, sent: _Sent) -> list[tuple[str, PaxosState]]:
        """An acceptor promises a higher ballot and reports its latest vote."""
        requested = sorted(sent.requested)
        steps = []
        for a, acceptor in enumerate(state.acceptors):
            for b in requested:
                if b > acceptor.promised:
                    promised = _new(Acceptor, (b, acceptor.accepted))
                    reply = (PHASE_1B, a, b, *acceptor.accepted)
                    steps.append((f"1b(a{a + 1}, b{b})", _act(state, a, promised, reply)))
        return steps

    def _phase2a(self, state: PaxosState, sent: _Sent) -> list[tuple[str, PaxosState]]:
        """With promises from a quorum, the owner proposes the value of the highest vote
        reported, or its own value if none; once per ballot."""
        proposed = {b for b, _ in sent.proposals}
        return [(f"2a(b{b}, v{v})", _send(state, (PHASE_2A, b, v)))
                for b in self.ballots if b not in proposed
                for v in sorted(self._safe_values(sent.reports.get(b, ()), b))]

    def _safe_values(self, reports: list[tuple[int, int]], ballot: int) -> set[int]:
        """Values a proposer may pick for `ballot`, given the votes its promises report: one
        per quorum of promises it could wait for (different quorums may report different
        highest votes)."""
        safe = set()
        for size in range(self.quorum, len(reports) + 1):
            for quorum in combinations(reports, size):
                highest_ballot, highest_value = max(quorum)
                safe.add(highest_value if highest_ballot else self.proposer_value(ballot))
        return safe

    def _phase2b(self, state: PaxosState, sent: _Sent) -> list[tuple[str, PaxosState]]:
        """An acceptor votes for a proposal unless it promised a higher ballot."""
        proposals = sorted(sent.proposals)
        steps = []
        for a, acceptor in enumerate(state.acceptors):
            for b, v in proposals:
                if acceptor.accepted == (b, v):
                    continue  # voting again would change nothing
                if b < acceptor.promised and not self.forget_promise:
                    continue
                voted = _new(Acceptor, (max(acceptor.promised, b), (b, v)))
                steps.append((f"2b(a{a + 1}, b{b}, v{v})",
                              _act(state, a, voted, (PHASE_2B, a, b, v))))
        return steps


class _Sent(NamedTuple):
    """The messages of a state by kind, sorted out in one pass."""

    requested: set[int]  # ballots of 1a messages
    reports: dict[int, list[tuple[int, int]]]  # ballot -> votes reported by its 1b messages
    proposals: list[tuple[int, int]]  # (ballot, value) of 2a messages

    @classmethod
    def of(cls, messages: frozenset[Message]) -> _Sent:
        requested: set[int] = set()
        reports: dict[int, list[tuple[int, int]]] = {}
        proposals: list[tuple[int, int]] = []
        for m in messages:
            kind = m[0]
            if kind == PHASE_1A:
                requested.add(m[1])
            elif kind == PHASE_1B:
                reports.setdefault(m[2], []).append(m[3:])
            elif kind == PHASE_2A:
                proposals.append(m[1:])
        return cls(requested, reports, proposals)


def _send(state: PaxosState, message: Message) -> PaxosState:
    return _new(PaxosState, (state.acceptors, state.messages | {message}))


def _act(state: PaxosState, index: int, acceptor: Acceptor, message: Message) -> PaxosState:
    """Acceptor `index` takes a new state and sends `message`."""
    acceptors = state.acceptors[:index] + (acceptor,) + state.acceptors[index + 1:]
    return _new(PaxosState, (acceptors, state.messages | {message}))


def _voters(state: PaxosState) -> dict[tuple[int, int], list[int]]:
    """Acceptors (sorted) that voted for each (ballot, value), from the 2b messages sent."""
    votes: dict[tuple[int, int], list[int]] = {}
    for message in state.messages:
        if message[0] == PHASE_2B:
            _, a, b, v = message
            votes.setdefault((b, v), []).append(a)
    return {key: sorted(voters) for key, voters in votes.items()}
