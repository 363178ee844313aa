"""A reusable Multi-Paxos core: acceptor, proposer and learner, and a replica combining them.

Lamport's "Paxos Made Simple" (2001), run as Multi-Paxos the way Chandra, Griesemer and
Redstone describe it in "Paxos Made Live" (PODC'07): one distinguished proposer, the master,
runs phase 1 once for every future slot of the log, then only phase 2 for each new value; the
acceptors' promises and votes are durable; every replica learns the chosen values and applies
them in slot order.

Each role is one class below; `MultiPaxos` puts them on one node. What the core leaves to the
system built on it (SSO, Chubby, Spanner, ...):
- when to stand for election (timers, leases): it calls `stand`;
- whether an acceptor may promise at all (a lease it granted): it overrides `may_promise`;
- what a value means: it implements `apply(ctx, slot, value)`, called in slot order;
- what to do on taking and losing office: `on_elected`, `on_deposed`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import attrs

from checker.node import Context, Node

NOOP = None  # the value a master proposes to fill a slot that has nothing to carry
RESEND = 400  # ticks after which a master repeats the Accepts still unanswered


class Ballot(NamedTuple):
    """A proposal number: a round, with the proposer's id to break ties, so that no two
    proposers ever use the same ballot. Shown as `round.node`. (A tuple, so that the many
    comparisons of ballots are cheap.)"""

    round: int
    node: str

    def __repr__(self) -> str:
        return f"{self.round}.{self.node}"


NO_BALLOT = Ballot(0, "")  # below every real ballot: "promised nothing yet"

# --- messages, in the order of the protocol --------------------------------------------------


@attrs.frozen
class Prepare:
    """Phase 1a: promise me `ballot`, and tell me your votes for slots `first` and later
    (`first` is also how far the candidate's log is known to be chosen)."""

    ballot: Ballot
    first: int


@attrs.frozen
class Promise:
    """Phase 1b: no vote in a lower ballot from now on; `votes` are (slot, ballot, value)."""

    ballot: Ballot
    votes: tuple[tuple[int, Ballot, Any], ...]


@attrs.frozen
class Accept:
    """Phase 2a: vote for `value` in `slot`, in `ballot`."""

    ballot: Ballot
    slot: int
    value: Any


@attrs.frozen
class Accepted:
    """Phase 2b: I voted for the master's value in `slot`."""

    ballot: Ballot
    slot: int


@attrs.frozen
class Rejected:
    """Your `ballot` is stale: I promised `promised`."""

    ballot: Ballot
    promised: Ballot


@attrs.frozen
class Chosen:
    """Learn: `value` is chosen for `slot`."""

    slot: int
    value: Any


@attrs.frozen
class CatchUp:
    """A lagging learner asks for the chosen values from slot `first` on."""

    first: int


FOLLOWER, CANDIDATE, MASTER = "follower", "candidate", "master"


class Acceptor:
    """Phases 1b and 2b. The promise and the votes are durable: "an acceptor must remember this
    information even if it fails and then restarts" (Paxos Made Simple, section 2.2)."""

    def restore_acceptor(self, ctx: Context) -> None:
        self.promised: Ballot = ctx.storage.get("promised", NO_BALLOT)
        self.votes: dict[int, tuple[Ballot, Any]] = {
            int(key[5:]): vote for key, vote in ctx.storage.items().items()
            if key.startswith("vote/")}

    def on_prepare(self, ctx: Context, src: str, msg: Prepare) -> None:
        if msg.ballot < self.promised:
            self.send(ctx, src, Rejected(msg.ballot, self.promised))
        elif self.may_promise(ctx, src, msg):
            self.remember_promise(ctx, msg.ballot)
            votes = tuple((slot, ballot, value) for slot, (ballot, value)
                          in sorted(self.votes.items()) if slot >= msg.first)
            self.send(ctx, src, Promise(msg.ballot, votes))
            if self.role != FOLLOWER and msg.ballot > self.ballot:
                self.step_down(ctx)  # my own acceptor has moved on to a higher ballot

    def may_promise(self, ctx: Context, candidate: str, msg: Prepare) -> bool:
        """Elections prefer the most up-to-date log: no promise to a candidate that knows fewer
        chosen slots than I do. Systems add their own conditions (leases) on top."""
        return msg.first >= self.applied

    def on_accept(self, ctx: Context, src: str, msg: Accept) -> None:
        if msg.ballot < self.promised:
            self.send(ctx, src, Rejected(msg.ballot, self.promised))
            return
        if msg.ballot > self.promised:  # a vote in a ballot is also a promise of it
            self.remember_promise(ctx, msg.ballot)
        self.votes[msg.slot] = (msg.ballot, msg.value)
        ctx.storage.put(f"vote/{msg.slot}", (msg.ballot, msg.value))
        self.send(ctx, src, Accepted(msg.ballot, msg.slot))

    def remember_promise(self, ctx: Context, ballot: Ballot) -> None:
        self.promised = ballot
        ctx.storage.put("promised", ballot)


class Proposer:
    """The distinguished proposer. A candidate runs phase 1 for all slots from the end of its
    chosen log on; once a quorum promised, it is master and runs phase 2 for each value."""

    def reset_proposer(self) -> None:
        self.role = FOLLOWER
        self.ballot = NO_BALLOT
        self.highest_round = 0  # the highest round seen in a rejection
        self.promises: dict[str, tuple] = {}  # acceptor -> its votes, while a candidate
        self.proposals: dict[int, Any] = {}  # slot -> value proposed and not yet chosen
        self.acks: dict[int, set[str]] = {}  # slot -> acceptors that accepted the proposal
        self.next_slot = 0
        self.barrier = -1  # the slot of this master's first no-op

    def stand(self, ctx: Context) -> None:
        """Phase 1a with a ballot higher than any seen."""
        self.role, self.promises = CANDIDATE, {}
        self.ballot = Ballot(max(self.highest_round, self.promised.round) + 1, self.id)
        self.broadcast(ctx, Prepare(self.ballot, self.applied))

    def on_promise(self, ctx: Context, src: str, msg: Promise) -> None:
        if self.role != CANDIDATE or msg.ballot != self.ballot:
            return
        self.promises[src] = msg.votes
        if len(self.promises) >= self.quorum:
            self.take_office(ctx)

    def take_office(self, ctx: Context) -> None:
        """Phase 1 is done for every slot from `applied` on. A value may already be chosen in
        any slot some acceptor voted for, so re-propose the highest-ballot vote of each such
        slot, fill the holes with no-ops, then propose a no-op of my own: once it is applied,
        my log holds everything earlier masters may have chosen."""
        highest: dict[int, tuple[Ballot, Any]] = {}
        for votes in self.promises.values():
            for slot, ballot, value in votes:
                if slot not in highest or ballot > highest[slot][0]:
                    highest[slot] = (ballot, value)
        self.role, self.promises, self.proposals, self.acks = MASTER, {}, {}, {}
        self.next_slot = max(self.applied, max(highest, default=-1) + 1)
        self.on_elected(ctx)
        for slot in range(self.applied, self.next_slot):
            self.propose_at(ctx, slot, highest.get(slot, (NO_BALLOT, NOOP))[1])
        self.barrier = self.propose(ctx, NOOP)

    def up_to_date(self) -> bool:
        """A master may answer from its own state once its first no-op is applied."""
        return self.role == MASTER and self.applied > self.barrier

    def propose(self, ctx: Context, value: Any) -> int:
        """Phase 2a for a new value, in the next free slot."""
        slot = self.next_slot
        self.next_slot += 1
        self.propose_at(ctx, slot, value)
        return slot

    def propose_at(self, ctx: Context, slot: int, value: Any) -> None:
        self.proposals[slot] = value
        self.acks[slot] = set()
        if len(self.proposals) == 1:
            ctx.set_timer("resend", RESEND)
        self.broadcast(ctx, Accept(self.ballot, slot, value))

    def on_accepted(self, ctx: Context, src: str, msg: Accepted) -> None:
        if self.role != MASTER or msg.ballot != self.ballot or msg.slot not in self.proposals:
            return
        self.acks[msg.slot].add(src)
        if self.is_chosen(self.acks[msg.slot]):
            del self.acks[msg.slot]
            self.broadcast(ctx, Chosen(msg.slot, self.proposals.pop(msg.slot)))

    def is_chosen(self, acceptors: set[str]) -> bool:
        """A value is chosen once a quorum of acceptors voted for it in one ballot."""
        return len(acceptors) >= self.quorum

    def resend_proposals(self, ctx: Context) -> None:
        """Phase 2a again for slots not chosen yet: an Accept or its reply may have been lost."""
        for slot, value in self.proposals.items():
            for acceptor in self.replicas:
                if acceptor not in self.acks[slot]:  # never myself: I accepted at once
                    ctx.send(acceptor, Accept(self.ballot, slot, value))
        if self.proposals:
            ctx.set_timer("resend", RESEND)

    def on_rejected(self, ctx: Context, src: str, msg: Rejected) -> None:
        self.highest_round = max(self.highest_round, msg.promised.round)
        if self.role != FOLLOWER and msg.ballot == self.ballot:
            self.step_down(ctx)

    def step_down(self, ctx: Context) -> None:
        """Some acceptor promised a higher ballot: my proposals can no longer be chosen."""
        self.role, self.promises, self.proposals, self.acks = FOLLOWER, {}, {}, {}
        self.on_deposed(ctx)


class Learner:
    """Learns chosen values, keeps them durably, and applies them in slot order."""

    def restore_learner(self, ctx: Context) -> None:
        self.chosen: dict[int, Any] = {
            int(key[7:]): value for key, value in ctx.storage.items().items()
            if key.startswith("chosen/")}
        self.applied = 0  # slots below this one are applied
        self.apply_ready(ctx)

    def learn(self, ctx: Context, slot: int, value: Any) -> None:
        if slot in self.chosen:
            if self.chosen[slot] != value:  # a second value chosen for one slot: safety is lost
                ctx.note("chosen", slot=slot, value=value)
            return
        self.chosen[slot] = value
        ctx.storage.put(f"chosen/{slot}", value)
        ctx.note("chosen", slot=slot, value=value)
        self.apply_ready(ctx)

    def apply_ready(self, ctx: Context) -> None:
        while self.applied in self.chosen:
            slot = self.applied
            self.applied += 1
            self.apply(ctx, slot, self.chosen[slot])

    def catch_up(self, ctx: Context, src: str, their_applied: int) -> None:
        """`src` has applied further than I have: ask it for what I miss."""
        if their_applied > self.applied:
            self.send(ctx, src, CatchUp(self.applied))

    def on_catch_up(self, ctx: Context, src: str, msg: CatchUp) -> None:
        for slot in range(msg.first, self.applied):
            self.send(ctx, src, Chosen(slot, self.chosen[slot]))


class MultiPaxos(Acceptor, Proposer, Learner, Node):
    """A replica that is acceptor, proposer and learner at once. Messages to itself are handled
    at once, without the network: its own acceptor is local."""

    def __init__(self, node_id: str, replicas: tuple[str, ...]) -> None:
        super().__init__(node_id)
        self.replicas = replicas
        self.quorum = self.quorum_size(len(replicas))

    @staticmethod
    def quorum_size(replicas: int) -> int:
        """Phase 1 and phase 2 quorums: a majority, so that any two intersect."""
        return replicas // 2 + 1

    def boot(self, ctx: Context) -> None:
        """Volatile state anew; promise, votes and chosen log from storage."""
        self.reset_proposer()
        self.restore_acceptor(ctx)
        self.restore_learner(ctx)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case Prepare():
                self.on_prepare(ctx, src, msg)
            case Promise():
                self.on_promise(ctx, src, msg)
            case Accept():
                self.on_accept(ctx, src, msg)
            case Accepted():
                self.on_accepted(ctx, src, msg)
            case Rejected():
                self.on_rejected(ctx, src, msg)
            case Chosen(slot, value):
                self.learn(ctx, slot, value)
            case CatchUp():
                self.on_catch_up(ctx, src, msg)

    def on_timer(self, ctx: Context, name: str) -> None:
        if name == "resend" and self.role == MASTER:
            self.resend_proposals(ctx)

    def send(self, ctx: Context, dst: str, msg: Any) -> None:
        if dst == self.id:
            self.on_message(ctx, dst, msg)
        else:
            ctx.send(dst, msg)

    def broadcast(self, ctx: Context, msg: Any) -> None:
        """To every replica, myself last."""
        for dst in self.replicas:
            if dst != self.id:
                ctx.send(dst, msg)
        self.on_message(ctx, self.id, msg)

    # --- what the system built on the core provides ---------------------------------------

    def apply(self, ctx: Context, slot: int, value: Any) -> None:
        """Apply a chosen value; called once per slot, in slot order, also when recovering."""
        raise NotImplementedError

    def on_elected(self, ctx: Context) -> None:
        """Just became master (its recovery proposals follow)."""

    def on_deposed(self, ctx: Context) -> None:
        """Stopped being master or candidate."""
