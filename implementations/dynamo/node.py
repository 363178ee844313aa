"""A Dynamo storage node: coordinator, replica, stand-in, gossip member, anti-entropy peer.

DeCandia et al., "Dynamo: Amazon's Highly Available Key-value Store" (SOSP 2007). Every node
plays every role:

- **Coordinator** (section 4.5). A `get` or `put` reaches any node; one that is not on the
  key's preference list forwards it to the first home it believes up. The coordinator sends
  the request to the first N nodes of the key it believes up: a home believed down is
  replaced by the next healthy node on the ring, which gets the write with a *hint* naming
  the home (section 4.6). A put gives the new version a fresh dot and answers once W replicas
  acknowledged; a get answers once R replicas did, with every sibling they returned and
  their joined clock as the context, then repairs the replicas that answered with less
  (*read repair*). With `strict` counting (the default configuration) only homes count
  towards R and W, so any read quorum meets any write quorum when R + W > N; with `sloppy`
  counting stand-ins count too, and nothing meets for sure.
- **Vector clocks** (section 4.4): a put's context is the clock its client last got back for
  the key; the new version is named by a dot, the context's entry for the *client* plus one.
  The paper puts the coordinator's entry there; but a coordinator's counter is shared by
  every write it coordinates, so a clock holding its k-th write would claim to have seen its
  first k-1 too, concurrent ones included, and a write could silently replace what its writer
  never saw. One client's puts of a key are sequential, each with the previous one in its
  context: a clock then says exactly what its writer has seen (client-side clocks, as in
  Riak's first releases).
- **Replica**: merges what it receives into its siblings and keeps them durably.
- **Stand-in**: keeps hinted versions durably apart from its own data, and hands each hint
  to its home once the home is believed up again (*hinted handoff*).
- **Gossip member** (section 4.8): every TICK it bumps its heartbeat and swaps its view of
  everyone's heartbeat with a random peer (push-pull); a node heard from, directly or through
  gossip, within FAIL_TIMEOUT is believed up. A home that leaves a put unacknowledged for
  HINT_AFTER is suspected at once (and its copy goes to a stand-in with a hint), as is any
  replica that lets a request time out.
- **Anti-entropy peer** (section 4.7): every TICK it takes the next key range it replicates,
  sends the root of that range's Merkle tree to another replica of the range, and the two
  descend only into the subtrees whose hashes differ, exchanging just the keys under
  differing leaves.
"""

from __future__ import annotations

from typing import Any

import attrs

from checker.node import Context, Node
from implementations.dynamo.ring import DEPTH, Ring, leaf_of, merkle_tree
from models.dynamo import Clock, Version, join_clocks, shown_values, sync

TICK = 100  # gossip, hinted handoff and anti-entropy run this often
FAIL_TIMEOUT = 300  # a node not heard from for this long is believed down
REQUEST_TIMEOUT = 150  # a coordinator stops waiting for replicas after this long
HINT_AFTER = 50  # a put's coordinator turns to stand-ins for homes silent this long
STAND_INS = " stand-ins"  # suffix of the timer that does it: "c1:3 stand-ins"
DATA = "data:"  # storage keys of the replica's own versions: DATA + key
NEVER = float("-inf")

Op = str  # "client:req", the name of one client request


@attrs.frozen
class Settings:
    n: int  # replicas per key
    r: int  # answers a get waits for
    w: int  # acknowledgements a put waits for
    sloppy: bool  # whether stand-ins count towards R and W


# --- messages --------------------------------------------------------------------------------


@attrs.frozen
class Get:
    client: str
    req: int
    key: str


@attrs.frozen
class Put:
    """`context` is the clock the client's last get (or put) of the key handed back."""

    client: str
    req: int
    key: str
    value: Any
    context: Clock


@attrs.frozen
class Delete:
    """A put of a tombstone: `name` names the delete (as a put's value names the put)."""

    client: str
    req: int
    key: str
    name: Any
    context: Clock


@attrs.frozen
class GetOk:
    req: int
    values: tuple
    context: Clock


@attrs.frozen
class PutOk:
    req: int
    context: Clock


@attrs.frozen
class Unavailable:
    req: int


@attrs.frozen
class Replicate:
    """Store `versions` of `key`; `hint` names the home this replica stands in for."""

    op: Op
    key: str
    versions: tuple[Version, ...]
    hint: str | None


@attrs.frozen
class ReplicateOk:
    op: Op


@attrs.frozen
class Fetch:
    op: Op
    key: str


@attrs.frozen
class FetchOk:
    op: Op
    versions: tuple[Version, ...]


@attrs.frozen
class Repair:
    key: str
    versions: tuple[Version, ...]


@attrs.frozen
class Handoff:
    key: str
    versions: tuple[Version, ...]


@attrs.frozen
class HandoffOk:
    key: str
    versions: tuple[Version, ...]


@attrs.frozen
class Gossip:
    """My view of everyone's heartbeat; `reply`: send me yours (push-pull)."""

    beats: tuple[tuple[str, tuple[int, int]], ...]  # node -> (incarnation, heartbeat)
    reply: bool


@attrs.frozen
class MerkleNodes:
    """My hashes of these nodes of `range`'s tree at `level` (0 is the root)."""

    range: int
    level: int
    hashes: tuple[tuple[int, str], ...]


@attrs.frozen
class MerkleSync:
    """My versions of the keys under these differing leaves; `reply`: send me yours."""

    range: int
    leaves: tuple[int, ...]
    entries: tuple[tuple[str, tuple[Version, ...]], ...]
    reply: bool


# --- the coordinator's requests in flight ----------------------------------------------------


@attrs.define
class Request:
    client: str
    req: int
    key: str
    targets: dict[str, str | None]  # replica -> the home it stands in for (None: a home)
    version: Version | None = None  # a put's new version
    acks: list[str] = attrs.Factory(list)
    answers: dict[str, tuple[Version, ...]] = attrs.Factory(dict)  # a get's replies
    merged: tuple[Version, ...] = ()  # what the get returned
    done: bool = False


# --- the node --------------------------------------------------------------------------------


class StorageNode(Node):
    def __init__(self, node_id: str, ring: Ring, settings: Settings) -> None:
        super().__init__(node_id)
        self.ring = ring
        self.settings = settings

    def state(self) -> dict[str, Any]:
        return {k: v for k, v in super().state().items() if k not in ("ring", "settings")}

    def on_start(self, ctx: Context) -> None:
        """Also the recovery: versions, hints and the incarnation are in storage."""
        incarnation = ctx.storage.get("incarnation", 0) + 1
        ctx.storage.put("incarnation", incarnation)
        self.beats = {node: (0, 0) for node in self.ring.nodes}
        self.beats[self.id] = (incarnation, 0)
        self.heard = {node: ctx.now() for node in self.ring.nodes}  # all believed up at boot
        self.hints: dict[tuple[str, str], tuple[Version, ...]] = self.load_hints(ctx)
        self.keys = dict.fromkeys(sorted(k[len(DATA):] for k in ctx.storage.items()
                                         if k.startswith(DATA)))  # the keys I hold
        self.requests: dict[Op, Request] = {}
        self.ranges = self.ring.ranges_of(self.id, self.settings.n)
        self.next_range = ctx.random.randrange(len(self.ranges)) if self.ranges else 0
        ctx.set_timer("tick", ctx.random.randint(1, TICK))

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if src in self.heard:
            self.heard[src] = ctx.now()  # any message shows its sender is up
        match msg:
            case Get() | Put() | Delete():
                self.on_request(ctx, msg)
            case Replicate(op, key, versions, hint):
                self.replicate(ctx, key, versions, hint)
                ctx.send(src, ReplicateOk(op))
            case ReplicateOk(op):
                self.on_ack(ctx, op, src)
            case Fetch(op, key):
                ctx.send(src, FetchOk(op, self.local_versions(ctx, key)))
            case FetchOk(op, versions):
                self.on_answer(ctx, op, src, versions)
            case Repair(key, versions):
                self.store(ctx, key, versions)
            case Handoff(key, versions):
                self.store(ctx, key, versions)
                ctx.note("hint-delivered", stand_in=src, key=key, clock=join_clocks(versions))
                ctx.send(src, HandoffOk(key, versions))
            case HandoffOk(key, versions):
                self.forget_hint(ctx, src, key, versions)
            case Gossip(beats, reply):
                self.on_gossip(ctx, beats)
                if reply:
                    ctx.send(src, Gossip(tuple(sorted(self.beats.items())), reply=False))
            case MerkleNodes():
                self.on_merkle_nodes(ctx, src, msg)
            case MerkleSync():
                self.on_merkle_sync(ctx, src, msg)

    def on_timer(self, ctx: Context, name: str) -> None:
        if name == "tick":
            self.gossip(ctx)
            self.hand_off(ctx)
            self.anti_entropy(ctx)
            ctx.set_timer("tick", TICK)
        elif name.endswith(STAND_INS):
            self.call_stand_ins(ctx, name.removesuffix(STAND_INS))
        else:
            self.expire(ctx, name)

    # --- the replica's versions -------------------------------------------------------------

    def versions(self, ctx: Context, key: str) -> tuple[Version, ...]:
        return ctx.storage.get(DATA + key, ())

    def store(self, ctx: Context, key: str, versions: tuple[Version, ...]) -> None:
        """Merge into my siblings of `key`, durably (synced) before any acknowledgement."""
        old = self.versions(ctx, key)
        new = self.merge(old, versions)
        if new != old:
            ctx.storage.put(DATA + key, new)
            self.keys[key] = None
            ctx.note("stored", key=key, versions=new)

    def merge(self, *sets: tuple[Version, ...]) -> tuple[Version, ...]:
        """Syntactic reconciliation (section 4.4): keep what no other version has seen."""
        return sync(*sets)

    def local_versions(self, ctx: Context, key: str) -> tuple[Version, ...]:
        """What I answer a get with: my own versions and any I keep as hints."""
        hinted = [versions for (_, k), versions in sorted(self.hints.items()) if k == key]
        return self.merge(self.versions(ctx, key), *hinted)

    def replicate(self, ctx: Context, key: str, versions: tuple[Version, ...],
                  hint: str | None) -> None:
        """Take a coordinator's copy, which the caller then acknowledges: as my own data, or,
        standing in for the home `hint`, as a hint. The ghost fact is noted here, at the
        promise, so that a hint acknowledged but never kept is seen to go missing."""
        if hint is None:
            self.store(ctx, key, versions)
        else:
            ctx.note("hint-accepted", home=hint, key=key, dots=[v.dot for v in versions])
            self.keep_hint(ctx, hint, key, versions)

    # --- the coordinator --------------------------------------------------------------------

    @classmethod
    def counts_stand_ins(cls, sloppy: bool) -> bool:
        """Whether a stand-in's answer counts towards R and W: only in a sloppy quorum."""
        return sloppy

    def on_request(self, ctx: Context, msg: Get | Put | Delete) -> None:
        """Coordinate, unless I am not on the key's preference list and know a home up."""
        homes = self.ring.preference_list(msg.key, self.settings.n)
        if self.id not in homes:
            home = next((h for h in homes if self.alive(ctx, h)), None)
            if home is not None:
                ctx.send(home, msg)
                return
        self.coordinate(ctx, msg)

    def plan(self, ctx: Context, key: str) -> dict[str, str | None]:
        """The first N nodes believed up: each home believed down is replaced by the next
        healthy stand-in on the ring, which will hold the home's versions as a hint. With
        strict counting the homes believed down are asked too: only they can count."""
        order = self.ring.order_for(key)
        stand_ins = [node for node in order[self.settings.n:] if self.alive(ctx, node)]
        targets: dict[str, str | None] = {}
        for home in order[:self.settings.n]:
            if not self.alive(ctx, home) and stand_ins:
                targets[stand_ins.pop(0)] = home
            if self.alive(ctx, home) or not self.settings.sloppy:
                targets[home] = None
        return targets

    @staticmethod
    def request_name(msg: Get | Put | Delete) -> Op:
        """The name under which I track a client's request, and recognise its duplicates."""
        return f"{msg.client}:{msg.req}"

    def coordinate(self, ctx: Context, msg: Get | Put | Delete) -> None:
        op = self.request_name(msg)
        if op in self.requests:
            return  # a duplicate
        request = Request(msg.client, msg.req, msg.key, self.plan(ctx, msg.key))
        self.requests[op] = request
        ctx.set_timer(op, REQUEST_TIMEOUT)
        if not isinstance(msg, Get):
            ctx.set_timer(op + STAND_INS, HINT_AFTER)
            dot = (msg.client, msg.context.get(msg.client) + 1)  # the client's next write
            deleted = isinstance(msg, Delete)
            request.version = Version(msg.name if deleted else msg.value, dot, msg.context,
                                      ctx.now(), deleted)
            ctx.note("version", key=msg.key, version=request.version, op=op)
        for replica, home in request.targets.items():
            if replica != self.id:
                ctx.send(replica, Replicate(op, msg.key, (request.version,), home)
                         if request.version else Fetch(op, msg.key))
            elif request.version:
                self.replicate(ctx, msg.key, (request.version,), home)
                self.on_ack(ctx, op, self.id)
            else:
                self.on_answer(ctx, op, self.id, self.local_versions(ctx, msg.key))

    def call_stand_ins(self, ctx: Context, op: Op) -> None:
        """A put still open after HINT_AFTER: suspect each home that has not acknowledged and
        send its copy, with a hint, to the next healthy stand-in not yet asked (section 4.6:
        "if A is temporarily down or unreachable during a write operation then a replica that
        would normally have lived on A will now be sent to D")."""
        request = self.requests.get(op)
        if request is None or request.done:
            return
        order = self.ring.order_for(request.key)
        stand_ins = [node for node in order[self.settings.n:]
                     if node not in request.targets and self.alive(ctx, node)]
        covered = set(request.targets.values())
        for home in order[:self.settings.n]:
            if home in request.acks or home in covered or not stand_ins:
                continue
            self.heard[home] = NEVER
            stand_in = stand_ins.pop(0)
            request.targets[stand_in] = home
            if stand_in == self.id:
                self.replicate(ctx, request.key, (request.version,), home)
                self.on_ack(ctx, op, self.id)
            else:
                ctx.send(stand_in, Replicate(op, request.key, (request.version,), home))

    def counted(self, request: Request, replicas: Any) -> int:
        return sum(1 for replica in replicas if request.targets[replica] is None
                   or self.counts_stand_ins(self.settings.sloppy))

    def on_ack(self, ctx: Context, op: Op, replica: str) -> None:
        request = self.requests.get(op)
        if request is None or replica not in request.targets or replica in request.acks:
            return
        request.acks.append(replica)
        if not request.done and self.counted(request, request.acks) >= self.settings.w:
            request.done = True
            ctx.send(request.client, PutOk(request.req, request.version.clock))

    def on_answer(self, ctx: Context, op: Op, replica: str,
                  versions: tuple[Version, ...]) -> None:
        request = self.requests.get(op)
        if request is None or replica not in request.targets:
            return
        request.answers[replica] = versions
        if request.done:
            self.read_repair(ctx, request, replica)  # a late answer
        elif self.counted(request, request.answers) >= self.settings.r:
            request.done = True
            request.merged = self.merge(*request.answers.values())
            ctx.send(request.client, GetOk(request.req, shown_values(request.merged),
                                           join_clocks(request.merged)))
            for answered in list(request.answers):
                self.read_repair(ctx, request, answered)

    def read_repair(self, ctx: Context, request: Request, replica: str) -> None:
        """Bring a home that answered with less up to what the get returned."""
        if request.targets[replica] is not None or \
                self.merge(request.answers[replica], request.merged) == request.answers[replica]:
            return
        if replica == self.id:
            self.store(ctx, request.key, request.merged)
        else:
            ctx.send(replica, Repair(request.key, request.merged))

    def expire(self, ctx: Context, op: Op) -> None:
        """Stop waiting: fail the request if it is still open, and suspect the replicas that
        never answered (local failure detection, section 4.8.3)."""
        request = self.requests.get(op)
        if request is None:
            return
        for replica in request.targets:
            if replica not in request.acks and replica not in request.answers:
                self.heard[replica] = NEVER
        if not request.done:
            request.done = True
            ctx.send(request.client, Unavailable(request.req))

    # --- hinted handoff ---------------------------------------------------------------------

    def load_hints(self, ctx: Context) -> dict[tuple[str, str], tuple[Version, ...]]:
        return dict(ctx.storage.get("hints", {}))

    def save_hints(self, ctx: Context) -> None:
        ctx.storage.put("hints", dict(self.hints))  # synced: a hint survives my crash

    def keep_hint(self, ctx: Context, home: str, key: str,
                  versions: tuple[Version, ...]) -> None:
        self.hints[(home, key)] = self.merge(self.hints.get((home, key), ()), versions)
        self.save_hints(ctx)

    def hand_off(self, ctx: Context) -> None:
        for (home, key), versions in sorted(self.hints.items()):
            if self.alive(ctx, home):
                ctx.send(home, Handoff(key, versions))

    def forget_hint(self, ctx: Context, home: str, key: str,
                    versions: tuple[Version, ...]) -> None:
        """The home has these versions: drop the hint, unless more arrived meanwhile."""
        if self.hints.get((home, key)) == versions:
            del self.hints[(home, key)]
            self.save_hints(ctx)

    # --- gossip membership ------------------------------------------------------------------

    def alive(self, ctx: Context, node: str) -> bool:
        return node == self.id or ctx.now() - self.heard[node] < FAIL_TIMEOUT

    def gossip(self, ctx: Context) -> None:
        incarnation, beat = self.beats[self.id]
        self.beats[self.id] = (incarnation, beat + 1)
        peer = ctx.random.choice([node for node in self.ring.nodes if node != self.id])
        ctx.send(peer, Gossip(tuple(sorted(self.beats.items())), reply=True))

    def on_gossip(self, ctx: Context, beats: tuple[tuple[str, tuple[int, int]], ...]) -> None:
        for node, beat in beats:
            if node != self.id and beat > self.beats[node]:
                self.beats[node] = beat
                self.heard[node] = ctx.now()

    # --- Merkle anti-entropy ----------------------------------------------------------------

    def range_entries(self, ctx: Context, key_range: int) -> dict[str, tuple[Version, ...]]:
        return {k: self.versions(ctx, k) for k in sorted(self.keys)
                if self.ring.range_of(k) == key_range}

    def anti_entropy(self, ctx: Context) -> None:
        """Compare the next of my key ranges with another of its replicas, root first."""
        if not self.ranges:
            return
        key_range = self.ranges[self.next_range % len(self.ranges)]
        self.next_range += 1
        peers = [node for node in self.ring.walk(key_range)[:self.settings.n]
                 if node != self.id and self.alive(ctx, node)]
        if peers:
            root = merkle_tree(self.range_entries(ctx, key_range))[0][0]
            ctx.send(ctx.random.choice(peers), MerkleNodes(key_range, 0, ((0, root),)))

    def on_merkle_nodes(self, ctx: Context, src: str, msg: MerkleNodes) -> None:
        """Descend into the nodes whose hashes differ from mine; at the leaves, swap keys."""
        tree = merkle_tree(self.range_entries(ctx, msg.range))
        differing = [i for i, theirs in msg.hashes if tree[msg.level][i] != theirs]
        if not differing:
            return
        if msg.level == DEPTH:
            self.send_leaves(ctx, src, msg.range, tuple(differing), reply=True)
            return
        children = tuple((c, tree[msg.level + 1][c]) for i in differing for c in (2 * i, 2 * i + 1))
        ctx.send(src, MerkleNodes(msg.range, msg.level + 1, children))

    def send_leaves(self, ctx: Context, dst: str, key_range: int, leaves: tuple[int, ...],
                    reply: bool) -> None:
        entries = tuple((k, v) for k, v in self.range_entries(ctx, key_range).items()
                        if leaf_of(k) in leaves)
        ctx.send(dst, MerkleSync(key_range, leaves, entries, reply))

    def on_merkle_sync(self, ctx: Context, src: str, msg: MerkleSync) -> None:
        for key, versions in msg.entries:
            self.store(ctx, key, versions)
        if msg.reply:
            self.send_leaves(ctx, src, msg.range, msg.leaves, reply=False)


# --- seeded bugs ------------------------------------------------------------------------------


class SloppyCountedStrict(StorageNode):
    """Seeded bug: counts a stand-in's acknowledgement as if it came from a home.

    Breaks: in the strict configuration, a write acknowledged by a home and a stand-in and a
    read answered by two other homes share no replica (R + W > N no longer helps): a partition
    makes a read after an acknowledged write miss it.
    Caught by: coordinator-answers (an ok with fewer than W homes), quorum-regularity (and,
    statically, quorum-intersection: z3 shows the disjoint sloppy quorums). Teaches: Dynamo
    section 4.6: sloppy quorums trade the intersection of strict quorums for availability; a
    client that needs to read its writes must not count them.
    """

    @classmethod
    def counts_stand_ins(cls, sloppy: bool) -> bool:
        return True


class LastWriteWins(StorageNode):
    """Seeded bug: reconciles by the coordinators' wall clocks instead of vector clocks.

    Breaks: of two versions only the one with the later timestamp survives, whether the other
    was concurrent or even causally later but stamped by a coordinator whose clock lags.
    Caught by: no-lost-write (an acknowledged write is neither a sibling nor seen by the
    version that replaced it). Teaches: Dynamo section 4.4 (vector clocks capture causality;
    "last write wins" by physical time loses updates), and Cassandra's and Riak's LWW modes.
    """

    def merge(self, *sets: tuple[Version, ...]) -> tuple[Version, ...]:
        every = [version for versions in sets for version in versions]
        return (max(every, key=lambda v: (v.stamp, v.dot)),) if every else ()


class HintsInMemory(StorageNode):
    """Seeded bug: a stand-in keeps its hints in memory only.

    Breaks: a stand-in that crashes before handing a hint off forgets it: the home never
    receives the write it missed (anti-entropy may repair the data later, but the durability
    the write counted on is gone; with sloppy counting the write itself is lost).
    Caught by: hint-delivery. Teaches: Dynamo section 4.6: hinted replicas are kept "in a
    separate local database", durably, and scanned periodically for delivery.
    """

    def save_hints(self, ctx: Context) -> None:
        pass  # the hints stay in self.hints only


class ReapsTombstones(StorageNode):
    """Seeded bug `tombstone-reaped`: a replica reclaims a deleted key at once: when all that
    is left of it is tombstones, it drops them.

    Breaks: deleted stays deleted. A tombstone is what tells a replica that an older version
    is superseded; without it, the older version still on a replica that missed the delete
    (or in a stand-in's hint, or a late message) comes back through anti-entropy, handoff or
    read repair as if it were new, and the final get returns data the delete had seen and
    removed. Caught by: deletes-stick.
    Teaches: Dynamo section 4.4 (a delete is a put of a version that supersedes what its
    context saw); Cassandra's gc_grace_seconds and Riak's delete_mode exist because a
    tombstone may only go once every replica has it.
    """

    def store(self, ctx: Context, key: str, versions: tuple[Version, ...]) -> None:
        super().store(ctx, key, versions)
        kept = self.versions(ctx, key)
        if kept and all(v.deleted for v in kept):
            ctx.storage.put(DATA + key, ())  # reclaim the space of a deleted key


class NamesRequestsByClient(StorageNode):
    """Seeded bug `request-named-by-client`: the coordinator names a request by its client
    alone, not by (client, request number).

    Breaks: progress. The second request a client sends through the same coordinator looks
    like a retransmission of the first and is dropped: the client times out, a get fails and
    a put's outcome is unknown, though every node is up; in the ending the final gets fail on
    a healthy ring. No safety property notices: nothing wrong is ever returned.
    Caught by: progress-at-quiescence.
    Teaches: Dynamo section 4.5 (any node coordinates any request): duplicate detection
    must name the request, not the caller; a check that only asks "was anything returned
    wrong?" passes a store that returns nothing.
    """

    @staticmethod
    def request_name(msg: Get | Put | Delete) -> Op:
        return msg.client
