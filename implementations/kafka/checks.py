"""The invariants. After every step: what clients were told (acknowledged sends, polled
records: the history) stays at its offset in the log of the partition's leader and of every
ISR member (`models/kafka.py`), live replicas agree below their high watermarks, every
replica's leader-epoch cache indexes its own log, one leader per partition per leader epoch,
one owner per partition per group generation; in the ending, once the cluster has settled,
every poll returns within a bound its client's constants give. At the end: the log checker
over the history (`invariants/logs.py`) and progress at quiescence.

Logs, epoch caches, high watermarks and partition states are read from the nodes' storage,
and the layout from the controller's ghost record of its first boot: never from the code
being checked."""

from __future__ import annotations

from checker.recovery import bounded_recovery
from checker.sim import Simulation
from checker.system import history_invariant, state_invariant
from implementations.kafka.client import RETRY_BACKOFF
from implementations.kafka.controller import partition_key
from implementations.kafka.log import epochs_key, hw_key, log_key
from implementations.kafka.messages import CONTROLLER, PartitionState
from implementations.kafka.workload import POLL_BACKOFF, POLL_TIMEOUT
from invariants.history import OK
from invariants.logs import check_log
from invariants.verdict import Verdict, passed, violated
from models.kafka import Told, first_divergence

LOG_STEPS = 100_000
"""The log checker's budget, in steps so that verdicts never depend on the machine; a
history here has a few dozen records, and the check costs a few steps per record."""


def layout(sim: Simulation) -> dict[str, tuple]:
    """Partition -> replicas, as the controller wrote them down at the cluster's first boot
    (before the first step)."""
    return sim.invariant_state("kafka-layout", lambda: {
        fact["partition"]: fact["replicas"] for kind, _, _, fact in sim.ghost
        if kind == "partition"})


class _Ghost:
    """Per simulation and invariant: how much of the ghost record was read, and what it
    said so far (first claims on a key)."""

    def __init__(self) -> None:
        self.read = 0
        self.first: dict[tuple, str] = {}


def new_facts(sim: Simulation, name: str) -> tuple[_Ghost, list[tuple]]:
    seen = sim.invariant_state(name, _Ghost)
    facts = sim.ghost[seen.read:]
    seen.read = len(sim.ghost)
    return seen, facts


def partition_state(sim: Simulation, partition: str) -> PartitionState:
    return sim.contexts[CONTROLLER].storage.get(partition_key(partition))


def values(sim: Simulation, broker: str, partition: str) -> list:
    """The values of a replica's log, as its storage holds them."""
    return [record.value for record in sim.contexts[broker].storage.get(log_key(partition), ())]


class _Unchanged:
    """Per simulation: the state the log invariants last found sound. The logs, high
    watermarks and partition states are immutable values in storage, so comparing the
    tuple of them is cheap when nothing changed (most steps: heartbeats, timers)."""

    def __init__(self) -> None:
        self.step = -1  # the trace length the key was read at
        self.reads: list[tuple] = []  # (storage, key) of every value the key is made of
        self.key: tuple = ()
        self.sound: dict[str, tuple] = {}  # invariant -> the key it last held on


def unchanged_since_sound(sim: Simulation, name: str) -> bool:
    """Whether nothing the log invariants read has changed since `name` last held; if it
    has, `name` is rechecked (and `holds` records when it holds again)."""
    seen = sim.invariant_state("kafka-unchanged", _Unchanged)
    return seen.sound.get(name) == state_key(sim)


def state_key(sim: Simulation) -> tuple:
    """All that the log invariants read, as of this step: read once per step, so a check
    called again with no step between sees the same state."""
    seen = sim.invariant_state("kafka-unchanged", _Unchanged)
    if seen.step == len(sim.trace):
        return seen.key
    seen.step = len(sim.trace)
    if not seen.reads:
        controller = sim.contexts[CONTROLLER].storage
        for p, replicas in layout(sim).items():
            seen.reads.append((controller, partition_key(p)))
            for b in replicas:
                storage = sim.contexts[b].storage
                seen.reads += [(storage, log_key(p)), (storage, hw_key(p)),
                               (storage, epochs_key(p))]
    seen.key = (len(sim.history), tuple(node is None for node in sim.nodes.values()),
                *[storage.get(key) for storage, key in seen.reads])
    return seen.key


def holds(sim: Simulation, name: str) -> None:
    seen = sim.invariant_state("kafka-unchanged", _Unchanged)
    seen.sound[name] = seen.key


class _Told:
    """Per simulation: how much of the history was read, and what clients were told."""

    def __init__(self) -> None:
        self.read = 0
        self.told = Told()
        self.changed: str | None = None  # a sentence, once two values were told at an offset


def told(sim: Simulation) -> _Told:
    """What clients were told so far: every ok send's offset and every ok poll's records."""
    seen = sim.invariant_state("kafka-told", _Told)
    for event in sim.history[seen.read:]:
        if event.type == OK and event.f in ("send", "poll"):
            for facts in _records(event.value):
                seen.changed = seen.changed or seen.told.learn(*facts)
    seen.read = len(sim.history)
    return seen


def _records(mops: list) -> list[tuple]:
    records = []
    for mop in mops:
        if mop[0] == "send":
            records.append((mop[1], *mop[2]))
        else:
            records += [(p, offset, value) for p, pairs in mop[1].items()
                        for offset, value in pairs]
    return records


@state_invariant("committed-kept")
def committed_kept(sim: Simulation) -> str | None:
    """No record a client was told of (acknowledged, or polled) ever changes, nor leaves the
    log of the partition's leader, from which consumers read."""
    if unchanged_since_sound(sim, "committed-kept"):
        return None
    seen = told(sim)
    if seen.changed:
        return seen.changed
    for p in layout(sim):
        state = partition_state(sim, p)
        if state.leader is None:
            continue
        missing = seen.told.missing(p, values(sim, state.leader, p))
        if missing:
            return (f"{state.leader}, leader of {p} in epoch {state.leader_epoch}, lacks "
                    f"{missing[1]!r} at offset {missing[0]}, which a client was told of")
    holds(sim, "committed-kept")
    return None


@state_invariant("isr-complete")
def isr_complete(sim: Simulation) -> str | None:
    """Every ISR member, as the controller records the ISR, holds every record a client was
    told of: the ISR's promise, on which clean leader election rests."""
    if unchanged_since_sound(sim, "isr-complete"):
        return None
    seen = told(sim)
    for p in layout(sim):
        state = partition_state(sim, p)
        for member in state.isr:
            missing = seen.told.missing(p, values(sim, member, p))
            if missing:
                return (f"{member} is in the ISR {list(state.isr)} of {p} but lacks "
                        f"{missing[1]!r} at offset {missing[0]}, which a client was told of")
    holds(sim, "isr-complete")
    return None


@state_invariant("replicas-agree")
def replicas_agree(sim: Simulation) -> str | None:
    """Any two live replicas of a partition hold the same records below both their high
    watermarks."""
    if unchanged_since_sound(sim, "replicas-agree"):
        return None
    for p, replicas in layout(sim).items():
        live = [b for b in replicas if sim.up(b)]
        logs = {b: values(sim, b, p) for b in live}
        hws = {b: sim.contexts[b].storage.get(hw_key(p), 0) for b in live}
        for i, a in enumerate(live):
            for b in live[i + 1:]:
                offset = first_divergence(logs[a], logs[b], min(hws[a], hws[b]))
                if offset is not None:
                    return (f"{a} and {b} differ at offset {offset} of {p}, below both high "
                            f"watermarks ({hws[a]}, {hws[b]}): {logs[a][:offset + 1]} vs "
                            f"{logs[b][:offset + 1]}")
    holds(sim, "replicas-agree")
    return None


@state_invariant("epoch-cache-indexes-log")
def epoch_cache_indexes_log(sim: Simulation) -> str | None:
    """Every replica's leader-epoch cache is an index of its own log (KIP-101): epochs rise
    and their start offsets never fall nor pass the log end, a log with records has an entry
    at offset 0, and each record carries the epoch of the last entry starting at or before
    its offset. (An entry may start where the next one does: an epoch whose leader appended
    nothing.) Truncation answers OffsetsForLeaderEpoch from this cache, so a cache that
    misplaces or misses an epoch cuts a follower's log in the wrong place."""
    if unchanged_since_sound(sim, "epoch-cache-indexes-log"):
        return None
    for p, replicas in layout(sim).items():
        for b in replicas:
            storage = sim.contexts[b].storage
            problem = _misindexed(storage.get(log_key(p), ()), storage.get(epochs_key(p), ()))
            if problem:
                return f"{b}'s leader-epoch cache of {p} {problem}"
    holds(sim, "epoch-cache-indexes-log")
    return None


def _misindexed(records: tuple, cache: tuple) -> str | None:
    """How the epoch cache `cache` ((epoch, start offset), ...) fails to index `records`."""
    for (epoch, start), (later, later_start) in zip(cache, cache[1:]):
        if later <= epoch or later_start < start:
            return f"lists epoch {later} from offset {later_start} after {epoch} from {start}"
    if cache and cache[-1][1] > len(records):
        return f"starts epoch {cache[-1][0]} at {cache[-1][1]}, past the log end {len(records)}"
    if records and (not cache or cache[0][1] != 0):
        return f"{cache} does not cover offset 0"
    entry = 0
    for offset, record in enumerate(records):
        while entry + 1 < len(cache) and cache[entry + 1][1] <= offset:
            entry += 1
        if record.epoch != cache[entry][0]:
            return (f"puts offset {offset} in epoch {cache[entry][0]}, but its record was "
                    f"appended in epoch {record.epoch}")
    return None


@state_invariant("one-leader-per-epoch")
def one_leader_per_epoch(sim: Simulation) -> str | None:
    """No two brokers ever lead one partition in the same leader epoch."""
    seen, facts = new_facts(sim, "one-leader-per-epoch")
    for kind, time, broker, fact in facts:
        if kind == "leader":
            first = seen.first.setdefault((fact["partition"], fact["epoch"]), broker)
            if first != broker:
                return (f"{broker} became leader of {fact['partition']} in epoch "
                        f"{fact['epoch']} at t={time}, which {first} led")
    return None


@state_invariant("one-owner-per-generation")
def one_owner_per_generation(sim: Simulation) -> str | None:
    """In each generation of a consumer group a partition is assigned to one member at most,
    and the group's offset of a partition is only committed by the member that owns it in
    the commit's generation."""
    seen, facts = new_facts(sim, "one-owner-per-generation")
    owners = seen.first
    for kind, time, _, fact in facts:
        if kind == "owns":
            for p in fact["partitions"]:
                first = owners.setdefault((fact["generation"], p), fact["member"])
                if first != fact["member"]:
                    return (f"{p} was assigned to both {first} and {fact['member']} in "
                            f"generation {fact['generation']}")
        elif kind == "offset-commit":
            owner = owners.get((fact["generation"], fact["partition"]))
            if owner != fact["member"]:
                return (f"the coordinator took {fact['member']}'s commit of offset "
                        f"{fact['offset']} for {fact['partition']} in generation "
                        f"{fact['generation']} (t={time}), whose owner is {owner}")
    return None


# How long a poll may take once the cluster has settled (`_unsettled`), in the ending, where
# messages take no time and none is lost. From then on no leader, ISR or log changes (a new leader
# comes with a smaller ISR, a new record is above the high watermark: either would unsettle it),
# so a metadata answer is right, and only the consumer's timers count. A fetch sent to another
# replica is answered "not the leader" (none believes it leads: a full ISR means each has fetched
# from the leader in its epoch, or the epoch is the first) and sent again RETRY_BACKOFF later, to
# the leader named by the metadata that the error asked for. The final poll's round in progress
# when the cluster settled may meet that twice (a retry already due, sent with metadata asked for
# before the settling), the next round once (it sends with the metadata its predecessor asked
# for), later rounds never. The final poll ends two rounds after the first that finds nothing new,
# its rounds POLL_BACKOFF apart: after the round in progress, one that may still find records
# committed before the settling, one that finds nothing new, and the one that ends it. A workload
# poll ends at POLL_TIMEOUT, which is less.
POLL_RETURNS = max(3 * POLL_BACKOFF + 3 * RETRY_BACKOFF, POLL_TIMEOUT)


class _Leaders:
    """Per simulation: who took up each leader epoch (the ghost record), and what kept the
    cluster from being settled in the state last looked at (worked out again only when that
    state or the record changes)."""

    def __init__(self) -> None:
        self.leaders: dict[tuple, str] = {}  # (partition, epoch) -> broker
        self.key: tuple | None = None
        self.problem: str | None = None


def _unsettled_now(sim: Simulation) -> str | None:
    seen = sim.invariant_state("kafka-poll-returns", _Leaders)
    _, facts = new_facts(sim, "poll-returns-bounded")
    for kind, _, broker, fact in facts:
        if kind == "leader":
            seen.leaders[fact["partition"], fact["epoch"]] = broker
    key = (state_key(sim), len(seen.leaders))
    if key != seen.key:
        seen.key, seen.problem = key, _unsettled(sim, seen.leaders)
    return seen.problem


poll_returns_bounded = state_invariant("poll-returns-bounded", """In the ending, once the
cluster has settled (the controller and every broker up, every partition led by a broker that
took up the controller's current leader epoch, all replicas in the ISR with one log, all of it
committed), every poll returns within POLL_RETURNS of the later of its call and the settling:
a consumer that meets a stale leader learns the right one and reads on, as the client
library's retries promise. The bound runs from the latest settling, not the first: the ending
can still unsettle a settled cluster, by a send in progress (its record reaches the leader
first) or by an ISR shrink (a follower whose lost fetch leaves it lagging; a session that
lapses because a broker paused before the ending keeps its heartbeat timer waiting until the
pause's end). Only the consumer's own timers and messages, which the ending delivers at once,
bound its poll: brokers' timers do not.""")(
    bounded_recovery("kafka-settled", _unsettled_now, None, POLL_RETURNS, timed=("poll",),
                     what="the cluster", latest=True))


def _unsettled(sim: Simulation, leaders: dict[tuple, str]) -> str | None:
    """What keeps the cluster from being settled, or None. (A broker restarted since it took
    up its epoch is fenced by its next heartbeat, which unsettles the cluster.)"""
    for p, replicas in layout(sim).items():
        state = partition_state(sim, p)
        problem = next((f"{n} is down" for n in (CONTROLLER, *replicas) if not sim.up(n)),
                       None) or _converged(sim, p, replicas)
        if problem:
            return problem
        if leaders.get((p, state.leader_epoch)) != state.leader:
            return f"{state.leader} has not taken up epoch {state.leader_epoch} of {p}"
        storage = sim.contexts[state.leader].storage
        if storage.get(hw_key(p), 0) < len(storage.get(log_key(p), ())):
            return f"{p} has records above the high watermark"
    return None


@history_invariant("kafka-log")
def kafka_log(sim: Simulation) -> Verdict:
    """No lost write, duplicate, inconsistent offset, poll skip or out-of-order poll or send
    in the history of sends and polls (Jepsen's Kafka checks)."""
    return check_log(sim.operations(), max_seconds=None, max_steps=LOG_STEPS)


@history_invariant("progress")
def progress(sim: Simulation) -> Verdict:
    """Once the ending has healed every fault and let the cluster settle: every operation
    returned, the final poll returned every acknowledged record, every partition has a
    leader and all its replicas back in the ISR, and the replicas hold the same log."""
    ops = sim.operations()
    problem = _pending(ops) or _final_poll(ops)
    for p, replicas in layout(sim).items():
        problem = problem or _converged(sim, p, replicas)
    if problem:
        return violated("progress", problem, {"time": sim.time})
    return passed("progress", "every operation returned, every acknowledged record was "
                              "polled, and the replicas converged")


def _pending(ops: list) -> str | None:
    stuck = [op for op in ops if op.ret is None]
    return f"{stuck[0].describe()} never returned" if stuck else None


def _final_poll(ops: list) -> str | None:
    """The last poll is the ending's, which reads every partition from offset 0."""
    last = max((op for op in ops if op.f == "poll"), key=lambda op: op.call, default=None)
    if last is None or last.status != OK:
        return "the final poll did not return"
    read = {p: {offset: value for offset, value in pairs}
            for p, pairs in last.result[0][1].items()}
    for op in ops:
        if op.f == "send" and op.status == OK:
            [(_, p, (offset, value))] = op.result
            if read.get(p, {}).get(offset) != value:
                return (f"the final poll did not return {value!r} at offset {offset} of {p}, "
                        f"acknowledged to {op.describe()}")
    return None


def _converged(sim: Simulation, p: str, replicas: tuple) -> str | None:
    state = partition_state(sim, p)
    if state.leader is None or set(state.isr) != set(replicas):
        return (f"{p} ended with leader {state.leader} and ISR {list(state.isr)}, not all "
                f"of {list(replicas)}")
    log = values(sim, state.leader, p)
    for b in replicas:
        if values(sim, b, p) != log:
            return f"{p} ended with {b} holding {values(sim, b, p)}, leader {state.leader} {log}"
    return None
