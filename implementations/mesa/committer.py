"""The committer: one version at a time, committed once enough instances have loaded it.

Mesa section 3.2: "The committer is responsible for coordinating updates across all Mesa
instances worldwide, one version at a time." It gives each update batch a version in the
versions database, has the instances load it, and commits it there only once the update is
incorporated by enough instances (`Deployment.quorum`). It is stateless: whatever it knows is
read back from the versions database and the instances, so a committer that crashes (or
another that takes over) resumes where the last one stopped. Its volatile state:

- `updates` and `committed`: its copy of the versions database, refreshed by `ReadVersions`
  when it starts and by the answers to its own requests;
- `loaded` and `knows`: what each instance last reported holding and knowing committed;
- `waiting`: the clients to answer when their batch's version is committed.

It drives by messages, and every DRIVE ticks resends what is still unanswered: requests to
the versions database (trying the next replica when none answered), the next version each
lagging instance misses (so an instance that was down catches up from the committer), and the
committed version to instances that do not know it yet.
"""

from __future__ import annotations

from typing import Any

from checker.node import Context, Node
from implementations.mesa.deployment import Deployment
from implementations.mesa.messages import (
    Assign,
    Assigned,
    Committed,
    CommittedUpTo,
    CommitVersion,
    Load,
    Loaded,
    NotMaster,
    ReadVersions,
    Submit,
    SubmitOk,
    Update,
    Versions,
)

DRIVE = 200  # ticks between rounds of resending what is still unanswered
BACKOFF = 50  # ticks to wait when no replica of the versions database knows a master


class Committer(Node):
    """The committer: nothing on disk, everything re-read after a restart."""

    def __init__(self, node_id: str, deployment: Deployment) -> None:
        super().__init__(node_id)
        self.deployment = deployment

    def on_start(self, ctx: Context) -> None:
        self.master = self.deployment.vdb[0]  # the replica believed to be master
        self.requests: dict[Any, None] = {}  # to the versions database, not answered yet
        self.answered = False  # whether the versions database answered since the last round
        self.updates: dict[int, Update] = {}
        self.versions: dict[str, int] = {}  # batch -> its version
        self.committed = 0
        self.waiting: dict[str, list[tuple[str, int]]] = {}  # batch -> (client, req)
        self.loaded: dict[str, int] = {}
        self.knows: dict[str, int] = {}
        self.driving = False  # whether the retry round is armed
        self.request(ctx, ReadVersions())
        self.keep_driving(ctx)

    # --- clients ----------------------------------------------------------------------------

    def on_submit(self, ctx: Context, client: str, msg: Submit) -> None:
        version = self.versions.get(msg.batch)
        if version is not None and version <= self.committed:
            ctx.send(client, SubmitOk(msg.req, version))
            return
        self.waiting.setdefault(msg.batch, []).append((client, msg.req))
        if version is None:
            self.request(ctx, Assign(self.id, msg.batch, msg.rows))

    def answer_clients(self, ctx: Context) -> None:
        for batch in sorted(self.waiting):
            version = self.versions.get(batch)
            if version is not None and version <= self.committed:
                for client, req in self.waiting.pop(batch):
                    ctx.send(client, SubmitOk(req, version))

    # --- the versions database --------------------------------------------------------------

    def request(self, ctx: Context, msg: Any) -> None:
        if msg not in self.requests:
            self.requests[msg] = None
            ctx.send(self.master, msg)

    def on_versions(self, ctx: Context, msg: Versions) -> None:
        self.requests.pop(ReadVersions(), None)
        for update in msg.updates:
            self.learn_update(update)
        self.learn_committed(ctx, msg.committed)
        for instance in self.deployment.instances:  # what does each hold? (they answer)
            ctx.send(instance, Committed(self.committed))

    def on_assigned(self, ctx: Context, msg: Assigned) -> None:
        self.requests = {r: None for r in self.requests
                         if not (isinstance(r, Assign) and r.batch == msg.batch)}
        self.learn_update(Update(msg.version, msg.batch, msg.rows))
        if msg.version == self.committed + 1:
            for instance in self.deployment.instances:
                if self.loaded.get(instance, 0) == self.committed:
                    ctx.send(instance, Load(msg.version, msg.rows, self.committed))
        self.try_commit(ctx)

    def on_committed_up_to(self, ctx: Context, msg: CommittedUpTo) -> None:
        """The answer to a CommitVersion, done or refused: either way, decide again."""
        self.requests = {r: None for r in self.requests if not isinstance(r, CommitVersion)}
        self.learn_committed(ctx, msg.version)
        self.try_commit(ctx)

    def learn_update(self, update: Update) -> None:
        self.updates[update.version] = update
        self.versions[update.batch] = update.version

    def learn_committed(self, ctx: Context, version: int) -> None:
        if version <= self.committed:
            return
        self.committed = version
        self.answer_clients(ctx)
        for instance in self.deployment.instances:
            if self.loaded.get(instance, 0) >= version:
                ctx.send(instance, Committed(version))
        self.send_next_loads(ctx)

    # --- the instances ----------------------------------------------------------------------

    def on_loaded(self, ctx: Context, instance: str, msg: Loaded) -> None:
        news = msg.loaded > self.loaded.get(instance, -1)
        self.loaded[instance] = max(self.loaded.get(instance, 0), msg.loaded)
        self.knows[instance] = max(self.knows.get(instance, 0), msg.committed)
        if news and msg.loaded < self.wanted():  # stale reports wait for the retry round
            self.send_load(ctx, instance)
        self.try_commit(ctx)

    def wanted(self) -> int:
        """The version every instance should hold: the one being committed, if assigned."""
        return self.committed + 1 if self.committed + 1 in self.updates else self.committed

    def send_load(self, ctx: Context, instance: str) -> None:
        """The next version the instance misses, if I know its record."""
        update = self.updates.get(self.loaded.get(instance, 0) + 1)
        if update is not None:
            ctx.send(instance, Load(update.version, update.rows, self.committed))

    def send_next_loads(self, ctx: Context) -> None:
        for instance in self.deployment.instances:
            if self.loaded.get(instance, 0) < self.wanted():
                self.send_load(ctx, instance)

    def has_quorum(self, version: int) -> bool:
        """The commit criterion: enough instances report holding the version."""
        holding = [i for i in self.deployment.instances if self.loaded.get(i, 0) >= version]
        return len(holding) >= self.deployment.quorum

    def try_commit(self, ctx: Context) -> None:
        version = self.committed + 1
        if version in self.updates and self.has_quorum(version):
            self.request(ctx, CommitVersion(self.id, version))

    # --- messages and the retry round -------------------------------------------------------

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if src in self.deployment.vdb:
            self.answered = True
        match msg:
            case Submit():
                self.on_submit(ctx, src, msg)
            case Versions():
                self.on_versions(ctx, msg)
            case Assigned():
                self.on_assigned(ctx, msg)
            case CommittedUpTo():
                self.on_committed_up_to(ctx, msg)
            case NotMaster(hint):
                self.on_not_master(ctx, src, hint)
            case Loaded():
                self.on_loaded(ctx, src, msg)
        self.keep_driving(ctx)

    def on_not_master(self, ctx: Context, src: str, hint: str | None) -> None:
        if hint is not None and hint != src and hint != self.master:
            self.master = hint
            ctx.cancel_timer("backoff")
            for msg in self.requests:
                ctx.send(self.master, msg)
        elif src == self.master:  # nobody knows a master yet: ask again later
            ctx.set_timer("backoff", BACKOFF)

    def on_timer(self, ctx: Context, name: str) -> None:
        if name == "backoff":
            for msg in self.requests:
                ctx.send(self.master, msg)
            return
        self.driving = False
        if self.requests and not self.answered:
            self.master = self.next_replica(self.master)
        self.answered = False
        for msg in self.requests:
            ctx.send(self.master, msg)
        self.send_next_loads(ctx)
        for instance in self.deployment.instances:
            if self.loaded.get(instance, 0) >= self.committed > self.knows.get(instance, 0):
                ctx.send(instance, Committed(self.committed))
        self.keep_driving(ctx)

    def keep_driving(self, ctx: Context) -> None:
        """Arm the retry round while anything is unfinished (once: re-arming a pending timer
        would postpone it)."""
        if not self.driving and self.unfinished():
            self.driving = True
            ctx.set_timer("drive", DRIVE)

    def unfinished(self) -> bool:
        lagging = any(self.loaded.get(i, 0) < self.wanted()
                      or self.knows.get(i, 0) < self.committed for i in self.deployment.instances)
        return bool(self.requests or self.waiting or lagging)

    def next_replica(self, replica: str) -> str:
        replicas = self.deployment.vdb
        return replicas[(replicas.index(replica) + 1) % len(replicas)]


# --- seeded bug ------------------------------------------------------------------------------


class CommitBeforeQuorum(Committer):
    """Seeded bug: the committer commits a version as soon as it has asked the instances to
    load it, without waiting for them to report it loaded.

    Breaks: a committed version is held by fewer instances than the commit criterion asks
    (perhaps by none); until they catch up, queries at the committed version find no
    instance able to answer, and a crash of the one that holds it prolongs that.
    Caught by: committed-on-quorum.
    Teaches: Mesa section 3.2, the committer commits an update only once it is incorporated
    by a sufficient number of Mesa instances.
    """

    def has_quorum(self, version: int) -> bool:
        return True
