"""GFS: the correct cluster survives the hunt, each seeded bug is found and replays, and the
pieces (leases, serial order, stale-replica detection, the consistency model, the invariants)
behave on hand-made inputs."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

import implementations
from checker.node import Context
from checker.run import execute, new_simulation
from checker.sim import Step
from checker.strategies import RandomWalk, Replay
from checker.system import Config, System, Variant
from implementations.gfs import SYSTEM, Roles, checks
from implementations.gfs.chunkserver import ChunkServer, LeaseHeld, Replica, SecondaryOwnOffset
from implementations.gfs.client import GFSClient
from implementations.gfs.master import Master, ReplaceOnlyDead, VersionLoggedLazily
from implementations.gfs.messages import (
    CLIENT_ATTEMPTS,
    CLIENT_TIMEOUT,
    LEASE,
    MASTER,
    PATH,
    AppendFailed,
    AppendOk,
    AppendRecord,
    ChunkFull,
    CloneChunk,
    CloneDone,
    DeleteChunk,
    Heartbeat,
    Lease,
    Mutation,
    MutationApplied,
    NewVersion,
    PushData,
    VersionOk,
)
from invariants.history import Event
from models.gfs import (
    CONSISTENT,
    DEFINED,
    INCONSISTENT,
    Region,
    missing_appends,
    regions,
    unwritten,
)
from tests.handclock import Clock

DEFAULT, SMALL = SYSTEM.config("default"), SYSTEM.config("small")


def walk(variant: str, seed: int, config: Config, system: System = SYSTEM) -> Any:
    return execute(system, variant, config, seed, RandomWalk(seed, config.max_pause))


def with_roles(roles: Roles) -> System:
    return attrs.evolve(SYSTEM, variants={"mutant": Variant("mutant", roles)})


# --- the hunt --------------------------------------------------------------------------------


def test_registered() -> None:
    assert SYSTEM in implementations.registered()


@pytest.mark.parametrize("config, runs", [(DEFAULT, 40), (SMALL, 20)], ids=["default", "small"])
def test_correct_variant_survives_the_hunt(config: Config, runs: int) -> None:
    for seed in range(runs):
        result = walk("correct", seed, config)
        assert not result.verdict.violated, (seed, result.verdict)


@pytest.mark.parametrize("variant, invariant", [
    ("regrant-unreachable", "one-lease-per-chunk"),
    ("secondary-own-offset", "appends-at-offset"),
    ("version-logged-lazily", "chunk-versions"),
    ("replace-only-dead", "progress-at-quiescence"),
])
def test_seeded_bug_is_found_and_replays(variant: str, invariant: str) -> None:
    found = next(r for r in (walk(variant, seed, DEFAULT) for seed in range(300))
                 if r.verdict.violated)
    assert found.verdict.invariant == invariant, found.verdict
    again = execute(SYSTEM, variant, DEFAULT, found.seed, Replay(found.choices))
    assert again.sim.fingerprint() == found.sim.fingerprint()


class DeafMaster(Master):
    """Hears nothing: no chunk is ever created, no client ever answered."""

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        pass


class NoCloning(ChunkServer):
    """Ignores the master's clone requests: a lost replica is never replaced."""

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if type(msg).__name__ != "CloneChunk":
            super().on_message(ctx, src, msg)


@pytest.mark.parametrize("roles", [Roles(master=DeafMaster), Roles(chunkserver=NoCloning)],
                         ids=["deaf-master", "no-cloning"])
def test_a_cluster_that_does_not_progress_is_reported(roles: Roles) -> None:
    found = next(r for r in (walk("mutant", seed, DEFAULT, with_roles(roles))
                             for seed in range(20)) if r.verdict.violated)
    assert found.verdict.invariant == "progress-at-quiescence", found.verdict


class KeepsCloneMarker(Master):
    """Forgets nothing when a clone completes: the next clone of the chunk waits until the
    marker of the last one expires, a scan later than it could."""

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        marker = self.cloning.get(msg.handle) if isinstance(msg, CloneDone) else None
        super().on_message(ctx, src, msg)
        if marker is not None:
            self.cloning[msg.handle] = marker


class LeaseOnFirstTaker(Master):
    """Grants the lease as soon as one replica took the new version: the others, which took
    it too, drop out of the record as if they had missed it."""

    def on_version_ok(self, ctx: Context, server: str, handle: int, version: int) -> None:
        grant = self.granting.get(handle)
        if grant is not None and version == grant.version and server in grant.told:
            grant.took.add(server)
            self.finish_grant(ctx, handle)


@pytest.mark.parametrize("roles, invariant", [
    (Roles(master=KeepsCloneMarker), "prompt-re-replication"),
    (Roles(master=LeaseOnFirstTaker), "takers-kept"),
], ids=["keeps-clone-marker", "lease-on-first-taker"])
def test_a_master_slow_to_clone_or_quick_to_drop_replicas_is_reported(roles: Roles,
                                                                      invariant: str) -> None:
    found = next(r for r in (walk("mutant", seed, DEFAULT, with_roles(roles))
                             for seed in range(20)) if r.verdict.violated)
    assert found.verdict.invariant == invariant, found.verdict


def test_a_client_that_never_gives_up_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(GFSClient, "patience", lambda self, f, args: 10**6)
    found = next(r for r in (walk("correct", seed, DEFAULT) for seed in range(20))
                 if r.verdict.violated)
    assert found.verdict.invariant == "client-gives-up", found.verdict


def test_the_correct_cluster_restores_every_chunk_to_three_replicas() -> None:
    result = walk("correct", 0, DEFAULT)
    (told,) = [op.result for op in result.sim.operations() if op.f == "replicated"]
    assert told and all(len(replicas) == 3 for _, _, replicas in told)
    assert checks.progress_at_quiescence.check(result.sim).ok


# --- the consistency model -------------------------------------------------------------------


def test_regions_are_defined_where_appends_landed_everywhere() -> None:
    replicas = ["[a][b]__", "[a][x]__"]
    assert regions(replicas, [(0, "[a]")]) == [
        Region(0, 3, DEFINED), Region(3, 4, CONSISTENT), Region(4, 5, INCONSISTENT),
        Region(5, 8, CONSISTENT)]


def test_a_missing_append_is_named_with_what_the_replica_holds() -> None:
    replicas = {"cs1": "[a][b]", "cs2": "[b]"}
    assert missing_appends(replicas, [(0, "[a]")]) == [
        "'[a]' appended at offset 0 is missing on cs2, which holds '[b]' there"]
    assert missing_appends(replicas, [(3, "[b]")]) == [
        "'[b]' appended at offset 3 is missing on cs2, which holds '' there"]


def test_unwritten_finds_the_first_byte_no_append_wrote() -> None:
    assert unwritten("[a][b]__", ["[a]", "[b]"], "_") is None
    assert unwritten("[a][x]__", ["[a]", "[b]"], "_") == 3
    assert unwritten("[a][b", ["[a]", "[b]"], "_") == 3


# --- a replica on disk ------------------------------------------------------------------------


def test_a_write_past_the_end_pads_the_gap_and_keeps_checksums() -> None:
    replica = Replica(1).write(0, "[a]", 1).write(5, "[b]", 2)
    assert replica.data == "[a]__[b]" and replica.serial == 2 and replica.intact()
    assert not Replica(1, "[x]__[b]", 2, replica.sums).intact()


# --- leases on hand-made clocks ---------------------------------------------------------------


def master_with_chunk(epsilon: int = 5) -> tuple[Master, Clock]:
    """A master that knows chunk 0 on cs1..cs3, which it has just heard from."""
    master, ctx = Master(MASTER), Clock(MASTER, epsilon)
    ctx.storage.put(PATH, 1)
    ctx.storage.put("version:0", 1)
    ctx.storage.put("replicas:0", ("cs1", "cs2", "cs3"))
    master.on_start(ctx)
    for server in ("cs1", "cs2", "cs3"):
        master.on_message(ctx, server, Heartbeat(((0, 1),)))
    return master, ctx


def test_the_master_grants_after_every_replica_took_the_new_version() -> None:
    master, ctx = master_with_chunk()
    master.on_find_primary(ctx, "c1", 1, 0)
    assert ctx.replies(NewVersion) == [NewVersion(0, 2)] * 3 and ctx.storage.get("version:0") == 2
    for server in ("cs1", "cs2", "cs3"):
        master.on_message(ctx, server, VersionOk(0, 2))
    (lease,) = ctx.replies(Lease)
    assert lease == Lease(0, 2, -5 + LEASE, ("cs2", "cs3"))  # earliest reading + LEASE
    ctx.time = LEASE - 1  # earliest reading LEASE - 6: the lease may run
    assert master.lease_running(ctx, 0)
    ctx.time = LEASE  # earliest reading LEASE - 5: it may still run, by a hair
    assert master.lease_running(ctx, 0)
    ctx.time = LEASE + 1
    assert not master.lease_running(ctx, 0)


def test_a_replica_that_misses_the_version_bump_is_stale() -> None:
    master, ctx = master_with_chunk()
    master.on_find_primary(ctx, "c1", 1, 0)
    for server in ("cs1", "cs2"):
        master.on_message(ctx, server, VersionOk(0, 2))
    master.on_timer(ctx, "grant:0")  # cs3 never answered
    assert master.replicas[0] == ["cs1", "cs2"] and ctx.storage.get("replicas:0") == ("cs1", "cs2")
    master.on_message(ctx, "cs3", Heartbeat(((0, 1),)))
    assert ctx.replies(DeleteChunk) == [DeleteChunk(0, 1)]


def test_a_bump_nobody_took_keeps_the_replicas_and_brings_them_up() -> None:
    master, ctx = master_with_chunk()
    master.on_find_primary(ctx, "c1", 1, 0)
    master.on_timer(ctx, "grant:0")
    assert master.replicas[0] == ["cs1", "cs2", "cs3"] and not ctx.replies(Lease)
    ctx.sent.clear()
    master.on_message(ctx, "cs1", Heartbeat(((0, 1),)))
    assert ctx.replies(NewVersion) == [NewVersion(0, 2)]


def test_a_bump_nobody_took_is_asked_again_at_its_version_and_settled_without_a_lease() -> None:
    master, ctx = master_with_chunk()
    master.on_find_primary(ctx, "c1", 1, 0)
    master.on_timer(ctx, "grant:0")  # nobody took version 2
    ctx.sent.clear()
    ctx.time = LEASE + 20  # no lease runs: the scan settles the bump
    for server in ("cs1", "cs2"):
        master.on_message(ctx, server, Heartbeat(((0, 1),)))
    master.on_timer(ctx, "scan")
    assert ctx.replies(NewVersion) == [NewVersion(0, 2)] * 2 + [NewVersion(0, 2)] * 2
    for server in ("cs1", "cs2"):
        master.on_message(ctx, server, VersionOk(0, 2))
    assert master.replicas[0] == ["cs1", "cs2"] and not ctx.storage.get("bumping:0")
    assert not ctx.replies(Lease) and ctx.storage.get("version:0") == 2


def test_a_replica_reporting_an_older_version_late_stays_a_replica() -> None:
    master, ctx = master_with_chunk()
    master.on_find_primary(ctx, "c1", 1, 0)
    for server in ("cs1", "cs2", "cs3"):
        master.on_message(ctx, server, VersionOk(0, 2))
    ctx.sent.clear()
    master.on_message(ctx, "cs1", Heartbeat(((0, 1),)))  # sent before it took version 2
    assert master.replicas[0] == ["cs1", "cs2", "cs3"] and not ctx.replies(DeleteChunk)


def test_the_seeded_master_tells_replicas_a_version_not_on_its_disk() -> None:
    for impl, on_disk in ((Master, 2), (VersionLoggedLazily, 1)):
        master, ctx = master_with_chunk()
        master.__class__ = impl
        master.on_find_primary(ctx, "c1", 1, 0)
        assert ctx.replies(NewVersion) == [NewVersion(0, 2)] * 3
        assert ctx.storage.durable("version:0") == on_disk


def test_the_seeded_master_replaces_a_dead_replica_but_not_a_stale_one() -> None:
    for impl, clones in ((Master, 1), (ReplaceOnlyDead, 0)):
        master, ctx = master_with_chunk()
        master.__class__ = impl
        master.on_message(ctx, "cs4", Heartbeat(()))
        master.set_replicas(ctx, 0, ["cs1", "cs2"])  # cs3 dropped out as stale
        master.on_timer(ctx, "scan")
        assert len([m for m in ctx.replies(CloneChunk) if m.target == "cs3"]) == clones


def test_a_restarted_master_grants_no_lease_until_one_surely_ran_out() -> None:
    master, ctx = master_with_chunk()
    ctx.time = 100
    master.on_recover(ctx)
    assert master.lease_running(ctx, 0)
    ctx.time = 100 + LEASE + 11
    assert not master.lease_running(ctx, 0)


@pytest.mark.parametrize("master_offset", [-5, 0, 5])
@pytest.mark.parametrize("primary_offset", [-5, 0, 5])
def test_the_primary_stops_trusting_before_the_master_regrants(master_offset: int,
                                                               primary_offset: int) -> None:
    master, mctx = master_with_chunk()
    primary, pctx = ChunkServer("cs1"), Clock("cs1", 5)
    pctx.storage.put("chunk:0", Replica(2))
    primary.on_start(pctx)
    mctx.offset, pctx.offset = master_offset, primary_offset
    master.on_find_primary(mctx, "c1", 1, 0)
    for server in ("cs1", "cs2", "cs3"):
        master.on_message(mctx, server, VersionOk(0, 2))
    primary.on_message(pctx, MASTER, mctx.replies(Lease)[0])
    for t in range(LEASE - 30, LEASE + 30):
        mctx.time = pctx.time = t
        assert not (primary.lease_valid(pctx, 0) and not master.lease_running(mctx, 0)), t


# --- the primary and its secondaries ----------------------------------------------------------


def primary_and_secondary(secondary_impl: type[ChunkServer] = ChunkServer) -> tuple:
    primary, pctx = ChunkServer("cs1"), Clock("cs1", 5)
    secondary, sctx = secondary_impl("cs2"), Clock("cs2", 5)
    for node, ctx in ((primary, pctx), (secondary, sctx)):
        ctx.storage.put("chunk:0", Replica(1))
        node.on_start(ctx)
    primary.on_message(pctx, MASTER, Lease(0, 1, LEASE, ("cs2",)))
    return primary, pctx, secondary, sctx


def append(primary: ChunkServer, pctx: Clock, secondary: ChunkServer, sctx: Clock, req: int,
           record: str) -> list[Mutation]:
    """Push `record` to both and ask the primary to append it; the forwarded mutations."""
    pctx.sent.clear()
    for node, ctx in ((primary, pctx), (secondary, sctx)):
        node.on_message(ctx, "c1", PushData(("c1", req), record))
    primary.on_message(pctx, "c1", AppendRecord(req, 0, 1, ("c1", req)))
    return [msg for dst, msg in pctx.sent if dst == "cs2"]


def test_secondaries_apply_in_serial_order_and_the_client_hears_after_all() -> None:
    primary, pctx, secondary, sctx = primary_and_secondary()
    first = append(primary, pctx, secondary, sctx, 1, "[a]")
    second = append(primary, pctx, secondary, sctx, 2, "[b]")
    assert not pctx.replies(AppendOk)
    secondary.on_message(sctx, "cs1", second[0])  # early: held back
    assert sctx.storage.get("chunk:0").data == ""
    secondary.on_message(sctx, "cs1", first[0])
    assert sctx.storage.get("chunk:0").data == "[a][b]" == pctx.storage.get("chunk:0").data
    for ack in sctx.replies(MutationApplied):
        primary.on_message(pctx, "cs2", ack)
    assert pctx.replies(AppendOk) == [AppendOk(1, 0), AppendOk(2, 3)]


def test_a_secondary_applies_nothing_once_the_lease_ran_out() -> None:
    primary, pctx, secondary, sctx = primary_and_secondary()
    (mutation,) = append(primary, pctx, secondary, sctx, 1, "[a]")
    sctx.time = LEASE - 5  # latest reading LEASE: the lease is over
    secondary.on_message(sctx, "cs1", mutation)
    assert sctx.storage.get("chunk:0").data == ""


def test_a_primary_without_a_valid_lease_refuses() -> None:
    primary, pctx, secondary, sctx = primary_and_secondary()
    pctx.time = LEASE
    append(primary, pctx, secondary, sctx, 1, "[a]")
    assert pctx.replies(AppendFailed) == [AppendFailed(1)]


def test_a_full_chunk_is_padded_everywhere() -> None:
    primary, pctx, secondary, sctx = primary_and_secondary()
    for req in range(1, 5):
        for mutation in append(primary, pctx, secondary, sctx, req, "[c1.1]"):
            secondary.on_message(sctx, "cs1", mutation)
    assert pctx.replies(ChunkFull) == [ChunkFull(4)]
    assert sctx.storage.get("chunk:0").data == "[c1.1]" * 3 + "__"
    assert pctx.storage.get("chunk:0").data == sctx.storage.get("chunk:0").data


def test_the_seeded_secondary_writes_at_its_own_end() -> None:
    primary, pctx, secondary, sctx = primary_and_secondary(SecondaryOwnOffset)
    sctx.storage.put("chunk:0", Replica(1))  # it missed nothing yet; the primary has more:
    pctx.storage.put("chunk:0", Replica(1).write(0, "[x]", 0))
    (mutation,) = append(primary, pctx, secondary, sctx, 1, "[a]")
    secondary.on_message(sctx, "cs1", mutation)
    assert mutation.offset == 3 and sctx.storage.get("chunk:0").data == "[a]"


# --- the invariants on hand-made states -------------------------------------------------------


def started(variant: str = "correct") -> Any:
    sim = new_simulation(SYSTEM, variant, SMALL, 0)
    sim.start()
    return sim


def test_one_lease_per_chunk_flags_two_trusting_primaries() -> None:
    sim = started()
    for server in ("cs1", "cs2"):
        sim.nodes[server].leases[0] = LeaseHeld(1, LEASE, ())
    assert checks.one_lease_per_chunk.check(sim) == \
        "cs1 and cs2 each trust a lease on chunk 0 at t=0"
    sim.time = LEASE
    assert checks.one_lease_per_chunk.check(sim) is None


def test_serial_order_flags_a_gap_and_a_different_mutation() -> None:
    sim = started()
    applied = {"handle": 0, "version": 1, "offset": 0, "data_id": ("c1", 1)}
    sim.ghost.append(("applied", 0, "cs1", {**applied, "serial": 1}))
    sim.ghost.append(("applied", 0, "cs2", {**applied, "serial": 1}))
    assert checks.serial_order.check(sim) is None
    sim.ghost.append(("applied", 0, "cs2", {**applied, "serial": 3}))
    assert "applied mutation 3 of chunk 0 version 1 after mutation 1" in \
        checks.serial_order.check(sim)
    sim = started()
    sim.ghost.append(("applied", 0, "cs1", {**applied, "serial": 1}))
    sim.ghost.append(("applied", 0, "cs2", {**applied, "serial": 1, "offset": 6}))
    assert "mutation 1 of chunk 0 version 1 is" in checks.serial_order.check(sim)


def test_mutations_within_lease_flags_a_mutation_applied_after_its_lease_ran_out() -> None:
    sim = started()
    applied = {"handle": 0, "version": 1, "serial": 1, "offset": 0, "data_id": ("c1", 1)}
    sim.ghost.append(("lease", 0, MASTER, {"handle": 0, "version": 1, "until": LEASE}))
    sim.ghost.append(("applied", LEASE, "cs1", applied))  # the last instant the lease covers
    assert checks.mutations_within_lease.check(sim) is None
    sim.ghost.append(("applied", LEASE + 1, "cs2", applied))
    assert checks.mutations_within_lease.check(sim) == \
        f"cs2 applied mutation 1 of chunk 0 version 1 at t={LEASE + 1}, after its lease ran " \
        f"out at t={LEASE}"


def test_stale_replica_reads_flags_a_stale_replica_named_or_serving() -> None:
    sim = started()
    sim.contexts["cs1"].storage.put("chunk:0", Replica(1))
    sim.ghost.append(("lease", 0, MASTER, {"handle": 0, "version": 2}))
    sim.ghost.append(("named", 0, MASTER, {"handle": 0, "replicas": ("cs1",)}))
    assert "stale since the lease at version 2" in checks.stale_replica_reads.check(sim)
    sim = started()  # a bump under way: version 1 is still current, refusing is optional
    sim.ghost.append(("lease", 0, MASTER, {"handle": 0, "version": 1}))
    sim.ghost.append(("served", 0, "cs1", {"handle": 0, "version": 1, "asked": 2}))
    assert checks.stale_replica_reads.check(sim) is None
    sim.ghost.append(("lease", 0, MASTER, {"handle": 0, "version": 2}))
    sim.ghost.append(("served", 0, "cs1", {"handle": 0, "version": 1, "asked": 2}))
    assert "served chunk 0 at version 1, stale since the lease at version 2" in \
        checks.stale_replica_reads.check(sim)


def test_appends_at_offset_checks_every_current_replica() -> None:
    sim = started()
    sim.contexts[MASTER].storage.put("replicas:0", ("cs1", "cs2"))
    sim.contexts["cs1"].storage.put("chunk:0", Replica(1, "[a][b]"))
    sim.contexts["cs2"].storage.put("chunk:0", Replica(1, "[a]__"))
    sim.contexts["cs3"].storage.put("chunk:0", Replica(0, "junk"))  # not a replica: ignored
    sim.history += [Event("c1", "invoke", "append", ("[a]",), 0),
                    Event("c1", "ok", "append", (0, 0), 1)]
    assert checks.appends_at_offset.check(sim).ok
    sim.history += [Event("c1", "invoke", "append", ("[b]",), 2),
                    Event("c1", "ok", "append", (0, 3), 3)]
    verdict = checks.appends_at_offset.check(sim)
    assert verdict.violated and "'[b]' appended at offset 3 is missing on cs2" in \
        verdict.explanation


def test_chunk_versions_flags_a_copy_ahead_of_the_masters_disk_and_a_stale_member() -> None:
    sim = started()
    master = sim.contexts[MASTER].storage
    master.put(PATH, 1)
    master.put("version:0", 2)
    master.put("replicas:0", ("cs1", "cs2"))
    sim.contexts["cs1"].storage.put("chunk:0", Replica(2))
    sim.contexts["cs2"].storage.put("chunk:0", Replica(2))
    assert checks.chunk_versions.check(sim) is None
    master.put("version:0", 3, synced=False)  # a bump only in the page cache
    sim.contexts["cs1"].storage.put("chunk:0", Replica(3))
    sim.trace.append(Step(("deliver", MASTER, "cs1", 0), 0))
    assert "cs1 holds chunk 0 at version 3, but the master's record on disk is at version 2" \
        in checks.chunk_versions.check(sim)
    sim = started()
    sim.contexts[MASTER].storage.put(PATH, 1)
    sim.contexts[MASTER].storage.put("version:0", 2)
    sim.contexts[MASTER].storage.put("replicas:0", ("cs1", "cs2"))
    sim.contexts["cs1"].storage.put("chunk:0", Replica(2))
    sim.contexts["cs2"].storage.put("chunk:0", Replica(1))
    sim.ghost.append(("lease", 0, MASTER, {"handle": 0, "version": 2}))
    assert "names cs2 a replica of chunk 0, which holds version 1, older than the lease" in \
        checks.chunk_versions.check(sim)


def test_reads_see_appends_judges_the_bytes_a_read_returned() -> None:
    sim = started()
    sim.history += [Event("c1", "invoke", "append", ("[a]",), 0),
                    Event("c1", "ok", "append", (0, 0), 1),
                    Event("c2", "invoke", "read", (0,), 2),
                    Event("c2", "ok", "read", "[a]__", 3)]
    assert checks.reads_see_appends.check(sim).ok
    sim.history += [Event("c2", "invoke", "read", (0,), 4), Event("c2", "ok", "read", "", 5)]
    verdict = checks.reads_see_appends.check(sim)
    assert verdict.violated and "without '[a]' at offset 0" in verdict.explanation
    sim = started()
    sim.history += [Event("c2", "invoke", "read", (0,), 0), Event("c2", "ok", "read", "[z]", 1)]
    verdict = checks.reads_see_appends.check(sim)
    assert verdict.violated and "offset 0 are no record any client appended" in \
        verdict.explanation


def test_appends_at_offset_flags_a_chunk_left_without_current_replicas() -> None:
    sim = started()
    sim.history += [Event("c1", "invoke", "append", ("[a]",), 0),
                    Event("c1", "ok", "append", (0, 0), 1)]
    verdict = checks.appends_at_offset.check(sim)
    assert verdict.violated and "chunk 0 has no current replica left" in verdict.explanation


def test_fixed_size_chunks_flags_a_copy_written_past_the_chunk_size() -> None:
    sim = started()
    full = "[c1.1][c1.2][c2.1]__"  # three records, padded to the chunk's 20 bytes
    sim.contexts["cs1"].storage.put("chunk:0", Replica(1, full))
    assert checks.fixed_size_chunks.check(sim).ok
    sim.contexts["cs2"].storage.put("chunk:1", Replica(1, full + "[c2.2]"))  # across the end
    verdict = checks.fixed_size_chunks.check(sim)
    assert verdict.violated and "cs2 holds 26 bytes of chunk 1 at the end, more than a " \
        "chunk's 20" in verdict.explanation


def test_client_gives_up_flags_an_operation_that_waits_past_its_tries() -> None:
    sim = started()
    sim.history += [Event("c1", "invoke", "append", ("[a]",), 0),
                    Event("c1", "info", "append", None, 1200),
                    Event("c1", "invoke", "append", ("[b]", CLIENT_ATTEMPTS + 1), 1200)]
    sim.trace += [Step(("invoke", "c1"), 0), *timeouts(0, CLIENT_ATTEMPTS),
                  Step(("invoke", "c1"), 1200), *timeouts(1200, CLIENT_ATTEMPTS)]
    assert checks.client_gives_up.check(sim).ok  # the second append names one try more
    sim.trace += timeouts(2400, 1)
    assert checks.client_gives_up.check(sim).ok
    sim.trace += timeouts(2600, 1)
    verdict = checks.client_gives_up.check(sim)
    assert verdict.violated and "c1's append('[b]', 7) waited for an answer 8 times without " \
        "giving up; it has 7 tries" in verdict.explanation


@pytest.mark.parametrize("then, flagged", [
    (None, True),
    (lambda sim: sim.network.send(MASTER, "cs1", CloneChunk(0, 1, "cs2")), False),
    (lambda sim: ending(sim, ("deliver", MASTER, "cs1", 1), NewVersion(0, 2)), False),
], ids=["no-clone-asked", "next-clone-asked", "version-bumped"])
def test_prompt_re_replication_flags_a_scan_idle_after_a_clone_completed(then: Any,
                                                                          flagged: bool) -> None:
    sim = started()
    sim.phase = "quiesce"
    sim.contexts[MASTER].storage.put("replicas:0", ("cs1", "cs3"))  # cs2 could take a copy
    ending(sim, ("fire", MASTER, "scan"))
    ending(sim, ("deliver", MASTER, "cs1", 0), CloneChunk(0, 1, "cs3"))
    ending(sim, ("deliver", "cs3", MASTER, 0), CloneDone(0, 1))
    for server in ("cs1", "cs2", "cs3"):
        ending(sim, ("deliver", server, MASTER, 1), Heartbeat(((0, 1),)))
    if then:
        then(sim)
    ending(sim, ("fire", MASTER, "scan"))
    problem = checks.prompt_re_replication.check(sim)
    assert (problem is not None) == flagged, problem
    if flagged:
        assert "chunk 0 is still short of 3 replicas once its clone completed, yet the " \
            "master's next scan asked for no other" in problem


@pytest.mark.parametrize("cs2_holds, flagged", [(2, True), (1, False)],
                         ids=["took-the-version", "missed-it"])
def test_takers_kept_flags_a_lease_that_drops_a_replica_holding_its_version(
        cs2_holds: int, flagged: bool) -> None:
    sim = started()
    sim.phase = "quiesce"
    ending(sim, ("fire", MASTER, "scan"))
    for server in ("cs1", "cs2"):
        ending(sim, ("deliver", MASTER, server, 1), NewVersion(0, 2))
    sim.contexts["cs1"].storage.put("chunk:0", Replica(2))
    sim.contexts["cs2"].storage.put("chunk:0", Replica(cs2_holds))
    sim.contexts[MASTER].storage.put("replicas:0", ("cs1",))
    sim.ghost.append(("lease", sim.time, MASTER, {"handle": 0, "version": 2, "until": LEASE}))
    problem = checks.takers_kept.check(sim)
    assert (problem is not None) == flagged, problem
    if flagged:
        assert "the lease on chunk 0 at version 2 (t=0) leaves cs2 out of the master's record" \
            in problem


def ending(sim: Any, event: tuple, msg: Any = None) -> None:
    """A step of the run's ending, as the engine records it."""
    sim.trace.append(Step(event, sim.time, msg, "quiesce"))


def timeouts(start: int, count: int) -> list[Step]:
    """`count` firings of c1's timeout timer, CLIENT_TIMEOUT apart, after `start`."""
    return [Step(("fire", "c1", "timeout"), start + CLIENT_TIMEOUT * i)
            for i in range(1, count + 1)]
