"""Zab, ZooKeeper's atomic broadcast: election, discovery, synchronisation, broadcast.

Junqueira, Reed, Serafini, "Zab: High-performance broadcast for primary-backup systems"
(DSN 2011), as ZooKeeper implements it (Zab 1.0). A peer's role is LOOKING, FOLLOWING or LEADING.

0. Election (fast leader election). A looking peer votes for the best peer it has heard of,
   by (current epoch, last zxid, id), and tells everyone; once a quorum votes like it, it
   leads or follows. A peer that already follows or leads answers a looking one with its
   leader, and a leader's own answer is enough to join it. A looking peer repeats its vote
   to the peers whose vote differs from its own, and to a leader others say they follow
   (`forget_vote_of`). Election only picks a candidate: safety comes from the next two
   phases.
1. Discovery. Followers send FOLLOWERINFO with their accepted epoch; with a quorum the
   leader picks a new epoch above all of them and sends NEWEPOCH. A follower accepts an
   epoch above the one it accepted (durably) and answers ACKEPOCH with its current epoch and
   last zxid. If a follower of the quorum is ahead of the leader, the leader gives up: its
   history might miss something committed. A follower counts for the first leader it
   promised an epoch to only: another leader of that epoch may still have it (the first may
   have given up), but synchronises it without counting it, so that no two leaders
   synchronise one epoch.
2. Synchronisation. The leader sends its whole history in NEWLEADER; the follower replaces
   its log, persists it (fsync) and only then acknowledges. With a quorum of acknowledgements
   the new epoch is established and the whole history is committed.
3. Broadcast. The leader gives each write a zxid (epoch << 32 | counter), logs it, sends
   PROPOSAL; a follower logs it, fsyncs and ACKs (acks are cumulative: "I have logged your
   history up to here"); with a quorum the leader COMMITs, and every peer delivers its log in
   order. The leader's heartbeats (PING) carry how far it committed; with them it resends a
   proposal a follower lacks (the network here reorders and drops, where Zab assumes TCP).

A follower that joins an established leader goes through discovery and synchronisation too;
its NEWLEADER acknowledgement counts as an ACK of every proposal in the history it received.
Until synchronised, a follower repeats FOLLOWERINFO or ACKEPOCH; a peer that does not lead
that epoch (it gave the bid up, or follows), or that does not follow a leader's NEWEPOCH,
answers DISCONNECT, and the other elects again at once: ZooKeeper's closed connection.

Storage: `accepted` (epoch, leader), `promised` (the last epoch accepted from another leader,
which a bid of my own overwrites in `accepted`, with the first leader I accepted it from),
`current` epoch, and `log`. A crash loses what was not fsynced, so every acknowledgement
comes after `ctx.storage.sync()`.
"""

from __future__ import annotations

from typing import Any

import attrs

from checker.node import Context, Node

LOOKING, FOLLOWING, LEADING = "looking", "following", "leading"
DISCOVERY, SYNC, BROADCAST = "discovery", "sync", "broadcast"

TICK = 200  # a leader sends heartbeats (and resends what followers lack) this often
SYNC_LIMIT = 1000  # a leader unheard (or a follower silent) for this long is abandoned
VOTE_RETRY = 400  # a looking peer sends its vote again this often (to peers not agreeing)
RETRY = 400  # a leader sends a follower a new heartbeat before the last is answered after this
UNCOUNTED = -1  # the current epoch in an ACKEPOCH that does not count, as ZooKeeper sends it


class Zxid(int):
    """epoch << 32 | counter, shown as ZooKeeper logs it: 0x100000003 is epoch 1, txn 3."""

    def __repr__(self) -> str:
        return hex(self)

    @property
    def epoch(self) -> int:
        return self >> 32


def zxid(epoch: int, counter: int) -> Zxid:
    return Zxid(epoch << 32 | counter)


@attrs.frozen
class Txn:
    zxid: Zxid
    value: Any


# --- messages --------------------------------------------------------------------------------


@attrs.frozen
class Vote:
    """A looking peer's vote: `leader` and its credentials (current epoch, last zxid). A peer
    that follows or leads answers with its leader; a leader adds its own credentials and the
    epoch it leads (`led`, -1 while it is still choosing one)."""

    round: int
    leader: str
    epoch: int
    zxid: Zxid
    role: str  # the sender's: looking, following or leading
    led: int = -1


@attrs.frozen
class Disconnect:
    """The answer to a peer that takes me for its leader or follower in `epoch` (None: an epoch
    not chosen yet) when I am not. ZooKeeper's peers learn it from a refused or closed
    connection; these messages travel alone, so the answer is explicit."""

    epoch: int | None


@attrs.frozen
class FollowerInfo:
    accepted_epoch: int


@attrs.frozen
class NewEpoch:
    epoch: int


@attrs.frozen
class AckEpoch:
    """`current_epoch` is UNCOUNTED from a follower that promised `epoch` to another leader
    first: the leader synchronises it but does not count it (`ZabPeer.counts_for`)."""

    epoch: int
    current_epoch: int
    last_zxid: Zxid


@attrs.frozen
class NewLeader:
    epoch: int
    history: tuple[Txn, ...]


@attrs.frozen
class AckNewLeader:
    epoch: int
    logged: int


@attrs.frozen
class Proposal:
    epoch: int
    index: int
    txn: Txn


@attrs.frozen
class Ack:
    """`logged`: the length of the leader's history the follower has fsynced. `sessions`:
    client sessions the follower heard from since its last Ack (session heartbeats)."""

    epoch: int
    logged: int
    sessions: tuple[int, ...] = ()


@attrs.frozen
class Commit:
    epoch: int
    committed: int


@attrs.frozen
class Heartbeat:
    """The leader's PING: how far it has committed. Followers answer with an Ack."""

    epoch: int
    committed: int


# --- the peer --------------------------------------------------------------------------------


class ZabPeer(Node):
    """One member of the ensemble. Subclasses deliver transactions (`deliver`), react to a
    new role (`on_role`) and add session heartbeats (`session_touches`, `on_touched`)."""

    def __init__(self, node_id: str, peers: tuple[str, ...]) -> None:
        super().__init__(node_id)
        self.peers = peers
        self.quorum = self.quorum_size(len(peers))

    @staticmethod
    def quorum_size(peers: int) -> int:
        """A strict majority: any two quorums share a peer (`deepdives prove zookeeper`)."""
        return peers // 2 + 1

    def on_start(self, ctx: Context) -> None:
        self.accepted: tuple[int, str | None] = ctx.storage.get("accepted", (0, None))
        # the last epoch I promised another leader, and the leader I promised it to first
        self.promised: tuple[int, str | None] = ctx.storage.get("promised", (0, None))
        self.current_epoch: int = ctx.storage.get("current", 0)
        self.log: list[Txn] = list(ctx.storage.get("log", ()))
        self.delivered = 0  # transactions applied, a prefix of the log
        self.round = 0
        self.failures = -1  # elections since I last reached broadcast: patience doubles
        self.floor = 0  # the highest epoch a would-be follower told me it accepted
        self.look(ctx)

    # --- durable state ------------------------------------------------------------------------

    def write_log(self, ctx: Context) -> None:
        """Write the log and current epoch to the page cache: lost on a crash until fsynced."""
        ctx.storage.put("log", tuple(self.log), synced=False)
        ctx.storage.put("current", self.current_epoch, synced=False)

    def fsync(self, ctx: Context) -> None:
        ctx.storage.sync()

    def fsync_history(self, ctx: Context) -> None:
        """Persist the history received in NEWLEADER, before acknowledging it."""
        self.fsync(ctx)

    def accept_epoch(self, ctx: Context, epoch: int, leader: str) -> None:
        """Accept `epoch` for `leader` (durably, before acknowledging it). An epoch accepted
        from another leader is also kept apart as my promise, with the leader I promised it to
        first: a bid of my own that replaces it in `accepted` must not release me from it
        (`may_join`), and my acknowledgement of that epoch counts for that leader only
        (`counts_for`)."""
        self.accepted = (epoch, leader)
        ctx.storage.put("accepted", self.accepted)
        if leader != self.id and epoch > self.promised[0]:
            self.promised = (epoch, leader)
            ctx.storage.put("promised", self.promised)

    def last_zxid(self) -> Zxid:
        return self.log[-1].zxid if self.log else Zxid(0)

    def credentials(self) -> tuple[int, Zxid, str]:
        return self.current_epoch, self.last_zxid(), self.id

    # --- roles --------------------------------------------------------------------------------

    def look(self, ctx: Context) -> None:
        self.role, self.leader, self.phase, self.epoch = LOOKING, None, None, None
        self.round += 1
        self.failures += 1
        self.vote = self.credentials()
        self.tally: dict[str, tuple] = {self.id: self.vote}
        self.send_vote(ctx)
        ctx.cancel_timer("silence")
        ctx.set_timer("tick", VOTE_RETRY)
        self.on_role(ctx)

    def follow(self, ctx: Context, leader: str) -> None:
        self.role, self.leader, self.phase, self.epoch = FOLLOWING, leader, DISCOVERY, None
        ctx.send(leader, FollowerInfo(self.accepted[0]))
        ctx.set_timer("tick", RETRY)
        ctx.set_timer("silence", self.patience())
        self.on_role(ctx)

    def lead(self, ctx: Context) -> None:
        self.role, self.leader, self.phase, self.epoch = LEADING, self.id, DISCOVERY, None
        self.since = ctx.now()
        self.infos = {self.id: self.accepted[0]}  # discovery: accepted epochs of a quorum
        self.epoch_acks: dict[str, tuple] = {}  # (current epoch, last zxid) of a quorum
        self.synced: dict[str, int] = {}  # follower -> length of my history it has fsynced
        self.heard: dict[str, int] = {}  # follower -> when I last heard from it
        self.pinged: dict[str, int] = {}  # follower -> when I sent a heartbeat not yet answered
        self.sent: dict[str, tuple[int, int]] = {}  # follower -> (its ack, my log) at last tick
        self.committed = self.delivered
        ctx.cancel_timer("silence")
        ctx.set_timer("tick", TICK)
        self.on_role(ctx)

    def patience(self) -> int:
        """How long to wait for the leader: SYNC_LIMIT once in broadcast; while electing and
        synchronising, doubled by each failed attempt, so that a slow network gets there.
        A leader waits SYNC_LIMIT for a quorum's FOLLOWERINFO (ZooKeeper's initLimit): the
        followers that chose it repeat theirs every RETRY, so a leader none of them reached
        in that time was chosen by too few, who follow another by now."""
        if self.phase == BROADCAST or (self.role == LEADING and self.epoch is None):
            return SYNC_LIMIT
        return SYNC_LIMIT << min(self.failures, 2)

    def vote_message(self) -> Vote:
        if self.role == LOOKING:
            epoch, last, leader = self.vote
            return Vote(self.round, leader, epoch, last, LOOKING)
        epoch, last, _ = self.credentials()
        led = -1 if self.epoch is None else self.epoch
        return Vote(self.round, self.leader, epoch, last, self.role, led)

    def send_vote(self, ctx: Context) -> None:
        ctx.broadcast(list(self.peers), self.vote_message())

    def on_timer(self, ctx: Context, name: str) -> None:
        if name == "silence" and self.role == FOLLOWING:
            self.look(ctx)  # my leader has been silent for SYNC_LIMIT
        elif name == "tick" and self.role == LOOKING:
            vote = self.vote_message()
            for peer in self.peers:
                if peer != self.id and self.tally.get(peer) != self.vote:
                    ctx.send(peer, vote)
            ctx.set_timer("tick", VOTE_RETRY)
        elif name == "tick" and self.role == LEADING:
            ctx.set_timer("tick", TICK)
            self.leader_tick(ctx)
        elif name == "tick" and self.phase in (DISCOVERY, SYNC):
            ctx.set_timer("tick", RETRY)
            self.follower_retry(ctx)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case Vote():
                self.on_vote(ctx, src, msg)
            case FollowerInfo() | AckEpoch() | AckNewLeader() | Ack() if self.role == LEADING:
                self.heard[src] = ctx.now()
                self.on_follower_message(ctx, src, msg)
            case NewEpoch() | NewLeader() | Proposal() | Commit() | Heartbeat() \
                    if self.role == FOLLOWING and src == self.leader:
                self.on_leader_message(ctx, src, msg)
            case Disconnect(epoch):
                self.on_disconnect(ctx, src, epoch)
            case FollowerInfo() if self.role != LOOKING:  # a looking peer may lead soon
                ctx.send(src, Disconnect(None))
            case AckEpoch(epoch) | NewEpoch(epoch) if self.role != LOOKING:
                ctx.send(src, Disconnect(epoch))

    def on_disconnect(self, ctx: Context, src: str, epoch: int | None) -> None:
        """A peer I took for my leader does not lead my epoch, or one I chose my epoch with
        does not follow me: I look again at once (a leader, only while synchronising nobody
        yet), rather than wait a whole patience for it."""
        if self.role == FOLLOWING and src == self.leader and epoch == self.epoch:
            self.look(ctx)
        elif self.role == LEADING and self.phase != BROADCAST and epoch == self.epoch is not None:
            self.look(ctx)

    # --- 0. election --------------------------------------------------------------------------

    def on_vote(self, ctx: Context, src: str, msg: Vote) -> None:
        if self.role != LOOKING:
            if msg.role == LOOKING:
                ctx.send(src, self.vote_message())  # tell it whom I follow or lead
        elif msg.role == LEADING:
            if msg.leader == src and self.may_join(src, msg.led) and (
                    msg.epoch == msg.led or (msg.epoch, msg.zxid) >= self.credentials()[:2]):
                self.follow(ctx, src)  # join a leader past discovery, or not behind me
            elif msg.leader == src and 0 <= msg.led < self.accepted[0]:
                ctx.send(src, FollowerInfo(self.accepted[0]))  # I promised later: give way
        elif msg.role == FOLLOWING:
            if msg.leader != self.id:
                self.forget_vote_of(msg.leader)  # its leader has left the election
            elif self.vote == self.credentials() >= (msg.epoch, msg.zxid, src):
                self.count(ctx, src, self.vote)  # it decided for me before I did
        elif msg.round < self.round:
            ctx.send(src, self.vote_message())  # bring it to my round
        else:
            candidate = (msg.epoch, msg.zxid, msg.leader)
            if msg.round > self.round:
                self.round, self.tally = msg.round, {}
                self.vote = max(self.credentials(), candidate)
                self.send_vote(ctx)
            elif candidate > self.vote:
                self.vote = candidate
                self.send_vote(ctx)
            self.count(ctx, src, candidate)

    def count(self, ctx: Context, src: str, candidate: tuple) -> None:
        """Tally a vote; with a quorum for my own vote, the election is over for me."""
        self.tally[src], self.tally[self.id] = candidate, self.vote
        if sum(vote == self.vote for vote in self.tally.values()) >= self.quorum:
            winner = self.vote[2]
            self.lead(ctx) if winner == self.id else self.follow(ctx, winner)

    def forget_vote_of(self, leader: str) -> None:
        """A peer follows `leader`: the looking vote I hold from `leader`, if any, is stale
        (it leads, or led since). Forget it, so that my next notification goes to `leader`
        too, and it answers with the epoch it leads, which I may join.

        Why: I send my vote again only to the peers whose vote differs from mine (`on_timer`),
        and I join a leader only on its own answer (ZooKeeper's checkLeader), not on its
        followers'. So a peer whose vote agreed with mine, short of a quorum, and which others
        then elected, never heard from me again and never told me it leads: with five
        servers, z3 and z5 agreed on z5, z1, z2 and z4 elected z5, and z3 looked for ever
        (issue #23). ZooKeeper's looking peer sends its notification to every peer at each
        timeout, so a leader always answers it.

        Safe: election only picks a candidate, and this changes only whom I notify and which
        votes I count; joining still goes through `may_join`, discovery and synchronisation.
        Live: if `leader` is in fact still looking (the follower's answer was an old one), I
        notify it at each tick until it decides, with my vote counted in its tally; as a
        leader it answers me. With three servers it changes nothing: there my vote and an
        agreeing one make a quorum, so a looking peer holds no agreeing vote, and forgetting
        a lower one changes neither whom I notify nor what I count (my vote only rises
        within a round).
        """
        self.tally.pop(leader, None)

    def may_join(self, leader: str, epoch: int) -> bool:
        """Whether I could accept the epoch `leader` leads (-1: it is still choosing one).

        The epoch I accepted from a leader binds me to it once I took its history (my
        current epoch is then that epoch): I never acknowledge NEWLEADER of one epoch from
        two leaders, so no two establish it; before that, another leader of the same epoch
        may have me, without counting me (`counts_for`). An epoch I chose myself, for a
        bid to lead that I gave up (I no longer lead), binds me only as far as the history I
        took and the last epoch I promised another leader (Zab: having acknowledged
        NEWEPOCH(e), never accept a lower one): no leader can resume my bid, and without this
        a peer whose bid lost to a leader of an older epoch could never rejoin.
        """
        accepted, by = self.accepted
        if by == self.id and self.role != LEADING:
            accepted = max(self.current_epoch, self.promised[0])
        return epoch < 0 or epoch > accepted or (
            epoch == accepted and (by == leader or self.current_epoch < epoch))

    # --- the leader ---------------------------------------------------------------------------

    def on_follower_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case FollowerInfo(accepted_epoch):
                self.on_follower_info(ctx, src, accepted_epoch)
            case AckEpoch(epoch, current_epoch, last) if epoch == self.epoch:
                self.on_ack_epoch(ctx, src, (current_epoch, last))
            case AckEpoch(epoch):
                ctx.send(src, Disconnect(epoch))  # the epoch of a bid I gave up
            case AckNewLeader(epoch, logged) if epoch == self.epoch and self.phase != DISCOVERY:
                self.on_ack(ctx, src, logged)
                if self.phase == BROADCAST:
                    ctx.send(src, Commit(self.epoch, self.committed))  # UPTODATE
                elif len(self.synced) + 1 >= self.quorum:
                    self.establish(ctx)
            case Ack(epoch, logged, sessions) if epoch == self.epoch and src in self.synced:
                self.pinged.pop(src, None)
                self.on_ack(ctx, src, logged)
                self.on_touched(ctx, sessions)

    def on_follower_info(self, ctx: Context, src: str, accepted_epoch: int) -> None:
        self.synced.pop(src, None)  # a follower (re)joining: synchronise it from scratch
        self.sent.pop(src, None)
        self.floor = max(self.floor, accepted_epoch)
        if self.epoch is not None and accepted_epoch > self.epoch:
            self.look(ctx)  # it promised a later epoch: it can never join mine, so give way
            return
        if self.epoch is not None:
            ctx.send(src, NewEpoch(self.epoch))
            return
        self.infos[src] = accepted_epoch
        if len(self.infos) >= self.quorum:  # above every promise I heard of, so all may join
            self.epoch = max(*self.infos.values(), self.floor) + 1
            self.accept_epoch(ctx, self.epoch, self.id)
            self.epoch_acks[self.id] = (self.current_epoch, self.last_zxid())
            for follower in self.infos:
                if follower != self.id:
                    ctx.send(follower, NewEpoch(self.epoch))

    def on_ack_epoch(self, ctx: Context, src: str, position: tuple[int, Zxid]) -> None:
        if self.phase != DISCOVERY:
            ctx.send(src, NewLeader(self.epoch, tuple(self.log)))  # a later joiner
            return
        if position[0] != UNCOUNTED:
            self.epoch_acks[src] = position
        if len(self.epoch_acks) < self.quorum:
            return
        mine = self.epoch_acks[self.id]
        if any(theirs > mine for theirs in self.epoch_acks.values()):
            self.look(ctx)  # a follower is ahead of me: I must not impose my history
            return
        self.current_epoch, self.phase = self.epoch, SYNC
        ctx.note("synchronise", epoch=self.epoch, history=tuple(t.zxid for t in self.log))
        self.write_log(ctx)
        self.fsync(ctx)
        for follower in self.epoch_acks:
            if follower != self.id:
                ctx.send(follower, NewLeader(self.epoch, tuple(self.log)))

    def establish(self, ctx: Context) -> None:
        """A quorum has fsynced my history: the epoch is established, the history committed."""
        self.phase, self.failures = BROADCAST, 0
        ctx.note("established", epoch=self.epoch, history=tuple(t.zxid for t in self.log))
        self.commit_to(ctx, len(self.log))
        self.on_role(ctx)

    def on_ack(self, ctx: Context, src: str, logged: int) -> None:
        self.synced[src] = max(self.synced.get(src, 0), logged)
        # a follower that rejoined is unsynced until it acknowledges NEWLEADER again, so the
        # synchronised may be fewer than a quorum until my next tick gives the epoch up
        if self.phase == BROADCAST and len(self.synced) + 1 >= self.quorum:
            lengths = sorted([len(self.log), *self.synced.values()], reverse=True)
            if lengths[self.quorum - 1] > self.committed:
                self.commit_to(ctx, lengths[self.quorum - 1])

    def commit_to(self, ctx: Context, committed: int) -> None:
        self.committed = committed
        self.deliver_to(ctx, committed)
        for follower in self.synced:
            ctx.send(follower, Commit(self.epoch, committed))

    def propose(self, ctx: Context, value: Any) -> None:
        """Broadcast: log a new transaction, fsync, send it to the synchronised followers."""
        last = self.last_zxid()
        counter = (last & 0xFFFFFFFF) + 1 if last.epoch == self.epoch else 1
        txn = Txn(zxid(self.epoch, counter), value)
        self.log.append(txn)
        ctx.note("propose", epoch=self.epoch, index=len(self.log) - 1, zxid=txn.zxid)
        self.write_log(ctx)
        self.fsync(ctx)
        for follower in self.synced:
            ctx.send(follower, Proposal(self.epoch, len(self.log) - 1, txn))

    def leader_tick(self, ctx: Context) -> None:
        """Heartbeats, with what each follower lacks; one heartbeat in flight per follower
        (so that a slow network is not flooded); drop followers silent for SYNC_LIMIT; step
        down without a quorum of followers."""
        now = ctx.now()
        if self.phase != BROADCAST:
            if now - self.since > self.patience():
                self.look(ctx)
            elif self.epoch is not None:
                self.resend_new_epoch(ctx)
            return
        self.synced = {f: logged for f, logged in self.synced.items()
                       if now - self.heard[f] <= SYNC_LIMIT}
        if len(self.synced) + 1 < self.quorum:
            self.look(ctx)
            return
        for follower, logged in self.synced.items():
            if now - self.pinged.get(follower, now - RETRY) < RETRY:
                continue  # the last heartbeat is not answered yet
            self.pinged[follower] = now
            before, length = self.sent.get(follower, (logged, logged))
            if logged == before:  # no progress for a tick: resend what it lacked then
                self.resend(ctx, follower, logged, length)
            self.sent[follower] = (logged, len(self.log))
            ctx.send(follower, Heartbeat(self.epoch, self.committed))

    def resend_new_epoch(self, ctx: Context) -> None:
        """Send NEWEPOCH again to the followers I chose the epoch with that have not
        synchronised with me: it may have been lost, or reached a peer still looking, which
        may since follow another leader and will then say so (Disconnect) rather than leave
        me waiting a whole patience for it. (A follower already past discovery ignores it.)"""
        for follower in self.infos:
            if follower != self.id and follower not in self.synced:
                ctx.send(follower, NewEpoch(self.epoch))

    def resend(self, ctx: Context, follower: str, logged: int, length: int) -> None:
        """Send again the proposals [logged, length) a follower has not acknowledged."""
        for index in range(logged, length):
            ctx.send(follower, Proposal(self.epoch, index, self.log[index]))

    def serving(self) -> bool:
        return self.phase == BROADCAST

    def leads(self) -> bool:
        return self.role == LEADING

    # --- the follower -------------------------------------------------------------------------

    def on_leader_message(self, ctx: Context, src: str, msg: Any) -> None:
        ctx.set_timer("silence", self.patience())
        match msg:
            case NewEpoch(epoch) if self.phase == DISCOVERY:
                self.on_new_epoch(ctx, src, epoch)
            case NewLeader(epoch, history) if self.phase == SYNC and epoch == self.epoch:
                self.on_new_leader(ctx, src, epoch, history)
            case Proposal(epoch, index, txn) if self.phase == BROADCAST and epoch == self.epoch:
                if index == len(self.log):
                    self.log.append(txn)
                    self.write_log(ctx)
                    self.fsync(ctx)
                if index <= len(self.log):  # a gap: the leader resends what is missing
                    ctx.send(src, Ack(epoch, len(self.log), self.session_touches()))
            case Commit(epoch, committed) if self.phase == BROADCAST and epoch == self.epoch:
                self.deliver_to(ctx, min(committed, len(self.log)))
            case Heartbeat(epoch, committed) if self.phase == BROADCAST and epoch == self.epoch:
                self.deliver_to(ctx, min(committed, len(self.log)))
                ctx.send(src, Ack(epoch, len(self.log), self.session_touches()))

    def follower_retry(self, ctx: Context) -> None:
        """Until synchronised, repeat my last message: my leader may not lead yet (a follower
        may decide before its leader does), or may have given up the bid I answered, and will
        say so (Disconnect). ZooKeeper's follower retries its connection, and sees it closed."""
        if self.phase == DISCOVERY:
            ctx.send(self.leader, FollowerInfo(self.accepted[0]))
        else:
            ctx.send(self.leader, self.epoch_ack)

    def on_new_epoch(self, ctx: Context, src: str, epoch: int) -> None:
        if not self.may_join(src, epoch):
            self.look(ctx)  # I promised a newer epoch, or this one to another leader
            return
        counts = self.counts_for(src, epoch)
        if (epoch, src) != self.accepted:
            self.accept_epoch(ctx, epoch, src)
        self.epoch, self.phase = epoch, SYNC
        self.epoch_ack = AckEpoch(epoch, self.current_epoch if counts else UNCOUNTED,
                                  self.last_zxid())
        ctx.send(src, self.epoch_ack)

    def counts_for(self, leader: str, epoch: int) -> bool:
        """Whether my ACKEPOCH of `leader`'s NEWEPOCH(epoch) (which `may_join` allows) counts
        towards the quorum the leader needs to choose its history: only if I promise `epoch`
        to this leader first. `may_join` lets another leader of an epoch I promised already
        have me (the first may have given its bid up); I then answer as ZooKeeper's follower
        does, with current epoch -1 (UNCOUNTED), and that leader synchronises me without
        counting me.

        Why: Zab lets each peer count for one leader per epoch, so that two leaders never
        both gather a quorum for one epoch and synchronise it. Then a current epoch names one
        history, and (current epoch, last zxid) orders histories in the election and in
        discovery's test of a follower ahead of its leader. Counted for two leaders, z3 let z1
        synchronise its own bid for epoch 1 while z2, choosing epoch 1 too from z3's late
        FOLLOWERINFO, established it: z1, holding another history of epoch 1, could join
        neither z2's epoch nor a later one while z2 led (issue #23).

        Safe: the epoch I promised another leader only rises (`epoch-promises-kept`) and
        `promised` keeps the first leader I promised it to, so as a follower I count for one
        leader per epoch. As a leader I count myself for my bid's epoch, which is above every
        epoch I accepted, so never one I counted for as a follower. If that bid synchronised,
        my current epoch is its epoch and `may_join` refuses the epoch to anyone else; if it
        did not, its count died with it, and counting for another leader of that epoch is
        harmless. So the quorums of two leaders of one epoch, which share a peer, cannot both
        be counted (`one-leader-per-epoch`).
        """
        return epoch > self.promised[0] or (epoch, leader) == self.promised

    def on_new_leader(self, ctx: Context, src: str, epoch: int, history: tuple) -> None:
        """Take the leader's history, unless mine already extends it: a NEWLEADER of this
        epoch may arrive late, after I logged more of the leader's proposals."""
        if self.current_epoch != epoch or len(self.log) < len(history):
            self.log, self.current_epoch = list(history), epoch
        self.write_log(ctx)
        self.fsync_history(ctx)
        self.phase, self.failures = BROADCAST, 0
        ctx.set_timer("silence", SYNC_LIMIT)
        ctx.send(src, AckNewLeader(epoch, len(self.log)))
        self.on_role(ctx)

    # --- delivery -----------------------------------------------------------------------------

    def deliver_to(self, ctx: Context, committed: int) -> None:
        while self.delivered < committed:
            txn = self.log[self.delivered]
            ctx.note("commit", index=self.delivered, txn=txn)
            self.delivered += 1
            self.deliver(ctx, txn)

    # --- hooks for the server -----------------------------------------------------------------

    def deliver(self, ctx: Context, txn: Txn) -> None:
        """Apply a committed transaction."""

    def on_role(self, ctx: Context) -> None:
        """The peer changed role or phase."""

    def session_touches(self) -> tuple[int, ...]:
        return ()

    def on_touched(self, ctx: Context, sessions: tuple[int, ...]) -> None:
        """The leader hears that clients of a follower are alive."""


class AckNewLeaderBeforePersist(ZabPeer):
    """Seeded bug: a follower acknowledges NEWLEADER before fsyncing the history it received
    (the history reaches the disk with the next proposal's fsync).

    Breaks: the leader commits transactions of that history counting a follower that holds
    them only in its page cache; a crash of that follower and of the leader leaves them on no
    disk of a quorum, and the next epoch is established without them.
    Caught by: committed-durable (and, once the crashes happen, committed-survives).
    Teaches: Zab 1.0's synchronisation phase; ZOOKEEPER-3911 and ZOOKEEPER-4646 (followers
    ACKed NEWLEADER before the synced transactions were on disk: committed data lost).
    """

    def fsync_history(self, ctx: Context) -> None:
        pass


class NoResend(ZabPeer):
    """Seeded bug: the leader sends each proposal once and never again, as if the channel to
    a follower could not lose one (Zab assumes TCP; here the network drops).

    Breaks: progress: a follower that missed one proposal logs nothing after it (it takes
    proposals in order), so it never applies another transaction; its ACKs keep it
    connected, so nothing makes it synchronise again. Clients connected to it read an ever
    older tree and its syncs never return.
    Caught by: recovery-bounded (the follower never holds its leader's last zxid), and
    progress-at-quiescence at the end. Teaches: Zab's FIFO-channel assumption (DSN 2011,
    section III): a lost message must break the connection, or be sent again.
    """

    def resend(self, ctx: Context, follower: str, logged: int, length: int) -> None:
        pass
