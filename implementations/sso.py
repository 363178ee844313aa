"""Google SSO: a key-value store replicated by Multi-Paxos, with a master that holds a lease.

The replicas run the Multi-Paxos core (`paxos_core`): writes go through the log and are
acknowledged once chosen by a majority and applied. Reads are served by the master from its
own state, without a round of messages, which is safe only while no other replica can be
master: the master holds a lease granted by a majority, and a replica that granted it supports
no other master until the lease has run out. Both sides measure the lease with the TrueTime
interval, so clocks that drift within +-epsilon cannot make two leases overlap (Chandra,
Griesemer, Redstone, "Paxos Made Live", PODC'07, on master leases).

The lease, in true time t. The master asks at t0 and records start = earliest(t0) <= t0; it
trusts its lease while latest(t) < start + LEASE, so only while t < t0 + LEASE. A replica
that grants at t1 >= t0 records until = latest(t1) + LEASE >= t1 + LEASE, and supports
nobody else while earliest(t) <= until, so not before t > t0 + LEASE. No two leases overlap.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import attrs

from checker.client import Client
from checker.node import Context
from checker.sim import Cluster, Simulation
from checker.system import Config, System, Variant, history_invariant, state_invariant
from implementations import sso_checks
from implementations.paxos_core import (
    CANDIDATE,
    FOLLOWER,
    MASTER,
    NOOP,
    Ballot,
    MultiPaxos,
    Prepare,
    Rejected,
)
from invariants.linearizability import check_linearizable
from invariants.quorum import majority, prove_intersection
from invariants.verdict import Verdict
from models.kv import KV

LEASE = 600  # ticks a master lease lasts, counted from when the master asked for it
TICK = 10  # masters (renewing their lease) and candidates act this often
# the master asks again after this long without an answer: sooner than CANDIDACY, so that a
# replica that backed it and missed its first request hears the next before it stands
RETRY = 100
SILENT = 60  # a master no majority renewed for this long is cut off: it ticks every RETRY
BACKOFF = 10  # a replica stands for election after a random backoff of up to this many ticks
CANDIDACY = 150  # how long a candidate, or a replica that promised one, waits for it to win
CLIENT_TIMEOUT = 150  # a client tries another replica after this long without an answer
CLIENT_BACKOFF = 50  # a client told that no master is known asks again after this long
CLIENT_ATTEMPTS = 6  # requests a client sends for one operation before giving up
NEVER = float("-inf")  # the expiry of a lease that was never granted

# --- messages --------------------------------------------------------------------------------


@attrs.frozen
class Write:
    """A client's write; it is also the command the log carries, named by (client, req) so
    that the state machine applies a retried write once."""

    client: str
    req: int
    key: str
    value: Any


@attrs.frozen
class Read:
    req: int
    key: str


@attrs.frozen
class WriteOk:
    req: int


@attrs.frozen
class ReadOk:
    req: int
    value: Any


@attrs.frozen
class NotMaster:
    """Try `hint` (None: no idea; the replica asked itself: I am master, not ready yet)."""

    req: int
    hint: str | None


@attrs.frozen
class LeaseRequest:
    """The master's lease renewal, and its heartbeat. `start` is the earliest reading of the
    master's clock when asking; `applied` lets a lagging replica catch up."""

    ballot: Ballot
    start: int
    applied: int


@attrs.frozen
class LeaseGrant:
    ballot: Ballot
    start: int


# --- the replicated state machine -------------------------------------------------------------


@attrs.define
class KVStore:
    """The map, and the last write applied for each client: a write is applied at most once
    even when a retry puts it in the log twice."""

    data: dict[str, Any] = attrs.Factory(dict)
    last_req: dict[str, int] = attrs.Factory(dict)

    def apply(self, write: Write) -> None:
        if self.last_req.get(write.client, 0) >= write.req:
            return  # a retry of a write already applied, or overtaken by a later one
        self.data[write.key] = write.value
        self.last_req[write.client] = write.req


# --- the replica ------------------------------------------------------------------------------


class MasterLease:
    """Master leases. As grantor, a replica remembers whom it supports (`lease_owner`) and
    until when (`lease_until`, by the latest reading of its clock). As master, it remembers
    for each grantor the `start` of the latest request it granted (the earliest reading of
    the master's clock when asking): a majority supports it until the oldest of the
    majority's latest starts, plus LEASE.

    At each of its ticks the master asks again every replica that answered its last request,
    and after RETRY one that did not: renewals never pile up in the network."""

    def reset_lease(self) -> None:
        self.lease_owner: str | None = None
        self.lease_until: float = NEVER
        self.lease_expiry: float = NEVER
        self.lease_grants: dict[str, int] = {}  # grantor -> start of its latest grant
        self.lease_asked: dict[str, int] = {}  # replica -> start of its unanswered request
        self.last_renewal = 0  # when a majority last renewed my lease (my clock)

    def clock(self, ctx: Context) -> tuple[int, int]:
        """An interval (earliest, latest) that surely contains true time."""
        return ctx.truetime()

    def lease_valid(self, ctx: Context) -> bool:
        return self.clock(ctx)[1] < self.lease_expiry

    def supports_other(self, ctx: Context, candidate: str) -> bool:
        """Whether a lease I granted to another replica may still be running."""
        return self.lease_owner != candidate and self.clock(ctx)[0] <= self.lease_until

    def renew_lease(self, ctx: Context) -> None:
        start = self.clock(ctx)[0]
        asking = [replica for replica in self.replicas
                  if self.lease_asked.get(replica, start - RETRY) <= start - RETRY]
        if asking:
            ctx.note("lease-asked", ballot=self.ballot, start=start)
        for replica in asking:
            self.lease_asked[replica] = start
            self.send(ctx, replica, LeaseRequest(self.ballot, start, self.applied))

    def on_lease_request(self, ctx: Context, src: str, msg: LeaseRequest) -> None:
        if msg.ballot < self.promised:
            self.send(ctx, src, Rejected(msg.ballot, self.promised))
            return
        if not self.supports_other(ctx, src):
            if msg.ballot > self.promised:  # a lease for a ballot is also a promise of it
                self.remember_promise(ctx, msg.ballot)
            self.lease_owner, self.lease_until = src, self.clock(ctx)[1] + LEASE
            ctx.note("lease-granted", master=src, ballot=msg.ballot, start=msg.start)
            self.send(ctx, src, LeaseGrant(msg.ballot, msg.start))
        self.heard_from_master(ctx, src, msg.applied)  # a heartbeat, granted or not

    def on_lease_grant(self, ctx: Context, src: str, msg: LeaseGrant) -> None:
        if self.role != MASTER or msg.ballot != self.ballot:
            return
        if self.lease_asked.get(src) == msg.start:
            del self.lease_asked[src]
        self.lease_grants[src] = max(self.lease_grants.get(src, msg.start), msg.start)
        if len(self.lease_grants) >= self.quorum:
            oldest_of_majority = sorted(self.lease_grants.values())[-self.quorum]
            if oldest_of_majority + LEASE > self.lease_expiry:
                if self.cut_off(ctx):
                    ctx.set_timer("tick", TICK)  # back in touch
                self.lease_expiry, self.last_renewal = oldest_of_majority + LEASE, ctx.now()


class Replica(MasterLease, MultiPaxos):
    """An SSO replica: the Multi-Paxos core, master leases, and the key-value store."""

    def on_start(self, ctx: Context) -> None:
        self.kv = KVStore()
        self.master_hint: str | None = None
        self.candidacies = 0  # since a master was last heard from
        self.backing: str | None = None  # the candidate I promised last, and until when
        self.backing_until = 0
        self.give_up_at = 0  # when my candidacy, if any, has failed
        self.heard_at: float = NEVER  # when another master last asked me for its lease
        self.reset_lease()
        self.boot(ctx)
        self.arm_election(ctx)

    def on_recover(self, ctx: Context) -> None:
        """I may have granted a lease before crashing, and to whom is lost: support no new
        master (myself included) until a whole lease has run out."""
        self.on_start(ctx)
        self.lease_until = self.clock(ctx)[1] + LEASE
        self.arm_election(ctx)  # again: after that lease

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case Write():
                self.on_write(ctx, src, msg)
            case Read():
                self.on_read(ctx, src, msg)
            case LeaseRequest():
                self.on_lease_request(ctx, src, msg)
            case LeaseGrant():
                self.on_lease_grant(ctx, src, msg)
            case _:
                super().on_message(ctx, src, msg)

    def leads(self) -> bool:
        return self.role == MASTER

    def on_timer(self, ctx: Context, name: str) -> None:
        if name == "tick" and self.role != FOLLOWER:
            self.tick(ctx)
        elif name == "election" and self.role == FOLLOWER:
            if self.supports_other(ctx, self.id):
                self.arm_election(ctx)  # my clock moved: the lease I granted still runs
            else:
                self.stand_for_election(ctx)
        else:
            super().on_timer(ctx, name)

    def tick(self, ctx: Context) -> None:
        """Masters and candidates act every TICK; followers only wait for their deadline."""
        if self.role == MASTER:
            self.renew_lease(ctx)
        elif ctx.now() >= self.give_up_at:
            self.stand_for_election(ctx)  # this candidacy failed: a higher ballot
        ctx.set_timer("tick", self.tick_period(ctx))

    def tick_period(self, ctx: Context) -> int:
        if self.role == CANDIDATE:  # a candidate that keeps failing also slows down
            return TICK << min(max(self.candidacies - 1, 0), 4)
        return RETRY if self.cut_off(ctx) else TICK

    def cut_off(self, ctx: Context) -> bool:
        """A master that has not renewed its lease with a majority for SILENT ticks is cut off:
        it acts only every RETRY, so as not to flood a network it cannot reach."""
        return self.role == MASTER and ctx.now() - self.last_renewal > SILENT

    # --- elections --------------------------------------------------------------------------

    def arm_election(self, ctx: Context, patience: int = 0) -> None:
        """Stand once no lease I know of may still run -- the one I granted, and the one the
        master that last asked me may hold from the others (`heard_from_master`) -- after a
        random backoff so that replicas seldom stand together."""
        granted = 0 if self.lease_owner == self.id else self.lease_until - self.clock(ctx)[0]
        heard = self.heard_at + LEASE - ctx.now()
        ctx.set_timer("election",
                      max(0, granted, heard) + patience + ctx.random.randint(1, BACKOFF))

    def stand_for_election(self, ctx: Context) -> None:
        self.candidacies += 1
        self.give_up_at = ctx.now() + self.patience()
        ctx.set_timer("tick", TICK)
        self.stand(ctx)

    def patience(self) -> int:
        """How long to give a candidate: doubled by each candidacy since a master was last
        heard from, so that duelling candidates back off, up to eight candidacies' time (any
        longer, and a cell that lost many elections in a storm of faults stays without a
        master long after it ends)."""
        return CANDIDACY << min(self.candidacies, 3)

    def heard_from_master(self, ctx: Context, master: str, applied: int) -> None:
        """A master asked me for its lease, granted or not. Whatever I granted, the others may
        grant it a lease that runs for LEASE from now: I stand for nobody that long, and the
        master asks me again before then (every RETRY, if I did not grant); a candidacy of
        mine ends. A replica waiting out a restart, a deposed master waiting out the lease it
        granted itself, or a candidate nobody answers would otherwise stand again between two
        requests, and depose a master that holds its lease by answering the next one with
        `Rejected`."""
        self.master_hint = master
        self.candidacies = 0
        if master != self.id:
            self.heard_at = ctx.now()
            if self.role == CANDIDATE:
                self.step_down(ctx)  # which arms my election timer
            else:
                self.arm_election(ctx)
            self.catch_up(ctx, master, applied)

    def may_promise(self, ctx: Context, candidate: str, msg: Prepare) -> bool:
        """Besides an up-to-date log: not while a lease I granted to another replica may run,
        nor while I back another candidate that may still win (so that candidates do not
        duel: refusing a promise is always safe)."""
        return (super().may_promise(ctx, candidate, msg)
                and not self.supports_other(ctx, candidate)
                and not (self.backing not in (None, candidate) and ctx.now() < self.backing_until))

    def on_prepare(self, ctx: Context, src: str, msg: Prepare) -> None:
        before = self.promised
        super().on_prepare(ctx, src, msg)
        if before != self.promised == msg.ballot:
            ctx.note("promised", candidate=src, ballot=msg.ballot)
        if src != self.id and self.promised == msg.ballot:  # give the candidate time to win
            self.backing, self.backing_until = src, ctx.now() + CANDIDACY
            self.arm_election(ctx, self.patience())

    def on_elected(self, ctx: Context) -> None:
        ctx.cancel_timer("election")
        self.master_hint, self.candidacies = self.id, 0
        self.lease_expiry, self.lease_grants, self.lease_asked = NEVER, {}, {}
        self.last_renewal = ctx.now()
        self.renew_lease(ctx)

    def on_deposed(self, ctx: Context) -> None:
        """An acceptor promised a higher ballot: its candidate may be winning. Standing again
        at once, with a higher ballot still, would take that promise back, and candidates
        that do so by turns never win; so give it a candidacy's time, as its backers do."""
        ctx.cancel_timer("tick")
        self.lease_expiry = NEVER
        if self.master_hint == self.id:
            self.master_hint = None
        self.arm_election(ctx, CANDIDACY)

    # --- clients ----------------------------------------------------------------------------

    def on_write(self, ctx: Context, src: str, msg: Write) -> None:
        if self.role == MASTER:
            self.propose(ctx, msg)  # answered in `apply`, once chosen
        else:
            ctx.send(src, NotMaster(msg.req, self.master_hint))

    def on_read(self, ctx: Context, src: str, msg: Read) -> None:
        """From local state, without asking anyone: only a master whose lease holds and whose
        log holds everything earlier masters may have chosen."""
        if self.up_to_date() and self.lease_valid(ctx):
            ctx.note("lease-read", ballot=self.ballot)
            ctx.send(src, ReadOk(msg.req, self.kv.data.get(msg.key)))
        else:
            ctx.send(src, NotMaster(msg.req, self.master_hint))

    def apply(self, ctx: Context, slot: int, value: Any) -> None:
        if value is NOOP:
            return
        self.kv.apply(value)
        if self.role == MASTER:
            ctx.send(value.client, WriteOk(value.req))


# --- seeded bugs ------------------------------------------------------------------------------


class LeaseIgnoresDrift(Replica):
    """Seeded bug: reads its own clock as if it were exact, on both sides of the lease.

    Breaks: with clocks skewed within epsilon, a replica stops supporting the old master while
    the old master still trusts its lease: two masters, and the old one serves a stale read.
    Caught by: one-lease-holder (and linearizable). Teaches: Paxos Made Live on master leases,
    which must allow for clock drift on the master's and on the grantors' side.
    """

    def clock(self, ctx: Context) -> tuple[int, int]:
        now = ctx.now()
        return now, now


class AckBeforeMajority(Replica):
    """Seeded bug: the master counts a write as chosen once it is in its own log.

    Breaks: the master applies and acknowledges a write no majority has accepted; if the master
    is cut off, the next master never sees it and fills the slot with something else.
    Caught by: chosen-on-majority (the master learned a value only its own disk holds), else
    one-value-per-slot (the next master fills the slot with a no-op) or linearizable.
    Teaches: Paxos Made Simple: a value is chosen only when a majority of acceptors accepted it.
    """

    def is_chosen(self, acceptors: set[str]) -> bool:
        return self.id in acceptors


class ForgetsPromise(Replica):
    """Seeded bug: the acceptor keeps its promise in memory only.

    Breaks: after a crash and restart the acceptor votes in a ballot lower than one it promised,
    so a deposed master's value and the new master's value are both chosen for one slot.
    Caught by: promises-kept (the vote below the promise, as it is cast), later chosen-on-majority
    or one-value-per-slot. Teaches: Paxos Made Simple, section 2.2: an acceptor must
    remember its promise even if it fails and restarts (Paxos Made Live, on disk corruption).
    """

    def remember_promise(self, ctx: Context, ballot: Ballot) -> None:
        self.promised = ballot


class MinorityQuorum(Replica):
    """Seeded bug: a quorum of n // 2 replicas instead of a majority.

    Breaks: two disjoint halves each elect a master, grant it a lease and choose values.
    Caught by: quorum-intersection (z3, statically), and in a run chosen-on-majority (a value
    learned with one vote) or one-lease-holder.
    Teaches: Paxos Made Simple: any two quorums must intersect.
    """

    @staticmethod
    def quorum_size(replicas: int) -> int:
        return replicas // 2


class LeaseFromReceipt(Replica):
    """Seeded bug: the master times each grant from when the grant reached it, not from when
    it asked.

    Breaks: a grant that sat in the network (a partition, a slow link) extends the master's
    lease past the grantor's promise, which runs from the grant: the grantor backs a new master
    while the old one still answers reads from its own state. Caught by: reads-within-lease.
    Teaches: Paxos Made Live, master leases: a lease must be measured from the moment the
    master sent its request, the only instant it knows precedes the grant.
    """

    def on_lease_grant(self, ctx: Context, src: str, msg: LeaseGrant) -> None:
        received = self.clock(ctx)[0]
        super().on_lease_grant(ctx, src, msg)
        if self.role == MASTER and msg.ballot == self.ballot:
            self.lease_grants[src] = max(self.lease_grants[src], received)
            if len(self.lease_grants) >= self.quorum:
                oldest_of_majority = sorted(self.lease_grants.values())[-self.quorum]
                self.lease_expiry = max(self.lease_expiry, oldest_of_majority + LEASE)


class RestartGrantsAtOnce(Replica):
    """Seeded bug: a restarted replica supports a new master at once.

    Breaks: the lease it granted before crashing is forgotten with its memory; it stands for
    election, or promises another candidate, while the old master still trusts a lease this
    replica helped to grant. Caught by: one-lease-holder. Teaches: Paxos Made Live, master
    leases: what a replica granted must outlive a crash, so a restarted replica waits out the
    longest lease before supporting anyone (as a restarted acceptor keeps its promises).
    """

    def on_recover(self, ctx: Context) -> None:
        self.on_start(ctx)


# --- the client -------------------------------------------------------------------------------


class SSOClient(Client):
    """Sends each operation to the replica it believes is master, follows redirects, tries the
    next replica on a timeout, and gives up after CLIENT_ATTEMPTS requests: a write then has an
    unknown outcome (`info`), a read simply failed (`fail`)."""

    def __init__(self, node_id: str, replicas: tuple[str, ...]) -> None:
        super().__init__(node_id)
        self.replicas = replicas

    def on_start(self, ctx: Context) -> None:
        self.target = ctx.random.choice(self.replicas)
        self.req = 0
        self.attempts = 0
        self.request: Write | Read | None = None

    def start(self, ctx: Context, f: str, args: Any) -> None:
        self.req += 1
        self.attempts = 0
        self.request = Write(self.id, self.req, *args) if f == "write" else Read(self.req, *args)
        self.send_request(ctx)

    def send_request(self, ctx: Context) -> None:
        if self.attempts == CLIENT_ATTEMPTS:
            self.finish(ctx, "info" if isinstance(self.request, Write) else "fail")
            return
        self.attempts += 1
        ctx.send(self.target, self.request)
        ctx.set_timer("timeout", CLIENT_TIMEOUT << (self.attempts - 1))  # backing off

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if self.op is None or msg.req != self.req:
            return  # an answer to an earlier attempt or operation
        match msg:
            case WriteOk():
                self.finish(ctx, "ok", None)
            case ReadOk(_, value):
                self.finish(ctx, "ok", value)
            case NotMaster(_, hint) if hint is not None and hint != src:
                self.target = hint
                self.send_request(ctx)
            case NotMaster(_, hint):  # nobody knows a master yet: wait before asking again
                ctx.cancel_timer("timeout")
                self.target = hint or self.next_replica(src)
                ctx.set_timer("backoff", CLIENT_BACKOFF << (self.attempts - 1))

    def on_timer(self, ctx: Context, name: str) -> None:
        if self.op is None:
            return
        if name == "timeout":
            self.target = self.next_replica(self.target)
        self.send_request(ctx)

    def next_replica(self, replica: str) -> str:
        return self.replicas[(self.replicas.index(replica) + 1) % len(self.replicas)]

    def finish(self, ctx: Context, status: str, result: Any = None) -> None:
        ctx.cancel_timer("timeout")
        ctx.cancel_timer("backoff")
        self.complete(ctx, status, result)


# --- the cell, its workload and its invariants ------------------------------------------------


def replica_ids(config: Config) -> tuple[str, ...]:
    return tuple(f"n{i + 1}" for i in range(config.servers))


def build(config: Config, impl: type[Replica], rng: Any) -> Cluster:
    """A cell of replicas running `impl`; each client mixes reads and writes of unique values
    over a few keys, and the ending reads every key."""
    replicas = replica_ids(config)
    clients = [f"c{i + 1}" for i in range(config.clients)]
    keys = config.params.get("keys", ("x", "y"))
    values = itertools.count(1)
    workload = {c: [("read", (rng.choice(keys),)) if rng.random() < 0.3
                    else ("write", (rng.choice(keys), next(values)))
                    for _ in range(config.ops_per_client)] for c in clients}
    return Cluster(
        servers={r: functools.partial(impl, replicas=replicas) for r in replicas},
        clients={c: functools.partial(SSOClient, replicas=replicas) for c in clients},
        workload=workload,
        final_ops=final_ops(clients, keys, config.params, values),
    )


def final_ops(clients: list[str], keys: Any, params: dict[str, Any],
              values: Any) -> list[tuple[str, str, Any]]:
    """The ending reads every key, `final_rounds` times over, each round after a write of a
    fresh value (with `final_write`): after the faults, the cell must take writes as well as
    answer reads. A client gives up after CLIENT_ATTEMPTS refusals (about 1,500 ticks of
    backoff), and a cell may take longer than that to elect a master once the faults heal:
    replicas restarted in the ending support nobody for a lease, and candidates that kept
    failing back off for long. So a client that gave up asks again in the next round;
    `progress` judges each client's last operation, and whether some final write went
    through."""
    reads = [(clients[i % len(clients)], "read", (key,)) for i, key in enumerate(keys)]
    rounds = []
    for _ in range(params.get("final_rounds", 1)):
        if params.get("final_write"):
            rounds.append((clients[0], "write", (keys[0], next(values))))
        rounds += reads
    return rounds


def cell_replicas(sim: Simulation) -> list[str]:
    """The replicas of the cell: SSO's servers are all replicas."""
    return sim.servers


one_lease_holder, reads_within_lease = sso_checks.lease_checks(LEASE, cell_replicas)
chosen_on_majority = sso_checks.chosen_on_majority(cell_replicas)
progress = sso_checks.progress()
learners_catch_up = sso_checks.learners_catch_up(cell_replicas)
honest_redirects = sso_checks.honest_redirects(cell_replicas)
lease_renewed = sso_checks.lease_renewed(LEASE, cell_replicas)
master_kept_at_rest = sso_checks.master_kept_at_rest(LEASE, cell_replicas)
promises_kept = sso_checks.promises_kept(cell_replicas)
backs_one_candidate = sso_checks.backs_one_candidate(CANDIDACY, cell_replicas)


class _FirstLearned:
    """Per simulation: the first value learned for each slot, read from the ghost record."""

    def __init__(self) -> None:
        self.read = 0  # ghost entries already looked at
        self.slots: dict[int, tuple[str, Any]] = {}  # slot -> (replica, value)


@state_invariant("one-value-per-slot")
def one_value_per_slot(sim: Simulation) -> str | None:
    """No two replicas learn different values for one log slot."""
    seen = sim.invariant_state("one-value-per-slot", _FirstLearned)
    while seen.read < len(sim.ghost):
        kind, time, replica, fact = sim.ghost[seen.read]
        seen.read += 1
        if kind != "chosen":
            continue
        first, value = seen.slots.setdefault(fact["slot"], (replica, fact["value"]))
        if value != fact["value"]:
            return (f"slot {fact['slot']} holds {value!r} at {first} but {fact['value']!r} "
                    f"at {replica} (t={time})")
    return None


@history_invariant("linearizable")
def linearizable_kv(sim: Simulation) -> Verdict:
    """The clients' history is linearizable against a key-value map."""
    return check_linearizable(sim.operations(), KV())


@history_invariant("applied-once")
def applied_once(sim: Simulation) -> Verdict:
    """State machine replication: after the ending, each replica's map is its learned log applied
    in slot order, each client's write once and none after a later write of that client (a
    retried write chosen in two slots must not overwrite what came between)."""
    return sso_checks.maps_match_logs(sim, cell_replicas(sim),
                                      lambda replica: sim.nodes[replica].kv.data)


def proofs(config: Config, impl: type[Replica]) -> list[Verdict]:
    """Any two quorums of the replicas intersect (z3)."""
    replicas = replica_ids(config)
    return [prove_intersection(majority(replicas, threshold=impl.quorum_size(len(replicas))))]


FAULTS = {"drop": 6, "duplicate": 6, "crash": 6, "partition": 8, "pause": 8, "skew": 40}
# The ending may take this long: a write under way when it begins may wait out its client's
# longest timeout (a master deposed before answering is silent), and replicas restarted in it
# support nobody for a lease; then the final reads run.
ENDING = (CLIENT_TIMEOUT << (CLIENT_ATTEMPTS - 1)) + LEASE
# Then the cell rests this long (`master-kept-at-rest`): a replica restarted as the ending
# began supports nobody for a lease (and up to 2 epsilon more, its clock's uncertainty), and
# must then rejoin on the master's next request rather than stand.
REST = 2 * LEASE

SYSTEM = System(
    name="sso",
    paper="Chandra, Griesemer, Redstone: Paxos Made Live - An Engineering Perspective "
          "(PODC 2007); Lamport: Paxos Made Simple (2001)",
    summary="a key-value store replicated by Multi-Paxos; the master serves reads under a "
            "lease that allows for clock drift",
    build=build,
    invariants=(one_lease_holder, reads_within_lease, one_value_per_slot, chosen_on_majority,
                promises_kept, linearizable_kv, progress, learners_catch_up, applied_once,
                honest_redirects, lease_renewed, master_kept_at_rest, backs_one_candidate),
    configs={  # three replicas by default: the smallest cell that survives a failure
        "default": Config("default", servers=3, clients=2, ops_per_client=12, max_steps=1200,
                          epsilon=200, max_pause=3000, faults=FAULTS, quiesce_horizon=ENDING,
                          rest=REST, params={"final_rounds": 3, "final_write": True}),
        "five": Config("five", servers=5, clients=3, ops_per_client=12, max_steps=1500,
                       epsilon=200, max_pause=3000, faults=FAULTS, quiesce_horizon=2 * ENDING,
                       rest=REST, params={"final_rounds": 3, "final_write": True}),
        # the exhaustive search's configuration: no rest, which would multiply the cost of
        # ending each of its states
        "small": Config("small", servers=3, clients=1, ops_per_client=2, max_steps=300,
                        epsilon=200, max_pause=3000, faults=FAULTS, quiesce_horizon=ENDING,
                        params={"final_rounds": 3, "final_write": True}),
    },
    variants={
        "correct": Variant("correct", Replica),
        "lease-ignores-drift": Variant(
            "lease-ignores-drift", LeaseIgnoresDrift,
            breaks="one master at a time: skew lets a new master in while the old trusts its "
                   "lease, which then serves a stale read",
            caught_by="one-lease-holder",
            teaches="Paxos Made Live (PODC'07), master leases and clock drift"),
        "ack-before-majority": Variant(
            "ack-before-majority", AckBeforeMajority,
            breaks="acknowledged writes survive master changes: a partition of the master "
                   "loses a write it acknowledged alone, and the next master fills its slot",
            caught_by="chosen-on-majority",
            teaches="Paxos Made Simple: chosen means accepted by a majority"),
        "forgets-promise": Variant(
            "forgets-promise", ForgetsPromise,
            breaks="one value per slot: after a restart the acceptor votes in a ballot it "
                   "promised to ignore",
            caught_by="promises-kept",
            teaches="Paxos Made Simple, section 2.2: promises are durable"),
        "minority-quorum": Variant(
            "minority-quorum", MinorityQuorum,
            breaks="quorum intersection: two disjoint halves each elect a master",
            caught_by="chosen-on-majority",
            teaches="Paxos Made Simple: any two quorums intersect"),
        "lease-from-receipt": Variant(
            "lease-from-receipt", LeaseFromReceipt,
            breaks="reads from the master's state: a delayed grant stretches its lease past "
                   "the grantor's promise, and it answers reads after a new master took over",
            caught_by="reads-within-lease",
            teaches="Paxos Made Live (PODC'07), master leases: time a lease from the request"),
        "restart-grants-at-once": Variant(
            "restart-grants-at-once", RestartGrantsAtOnce,
            breaks="one master at a time: a restarted replica forgets the lease it granted and "
                   "backs a new master while the old one's lease runs",
            caught_by="one-lease-holder",
            teaches="Paxos Made Live (PODC'07), master leases survive a grantor's restart"),
    },
    proofs=proofs,
)
