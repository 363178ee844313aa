"""Spanner's invariants: disjoint leader leases, two-phase commit deciding once, replicas
that agree slot by slot and back one candidate at a time in their group's elections (SSO's
`backs-one-candidate`), commits above each replica's safe time, external consistency,
serializability, snapshot reads that any replica would repeat, transactions that read the
versions at their timestamps, held reads served once safe time allows, prepared transactions
whose locks never conflict, commit timestamps against true time, answers that match their
requests, and progress at quiescence and after the ending's rest (every prepared transaction
resolved, every coordinator's decision logged, lease renewals paced).

None calls the implementation: they read the ghost record (leases and lease requests,
candidates promised, log slots learned, records applied, commit timestamps chosen and the
reads they cover, snapshot reads held and served, restarts), the trace (when a coordinator
received a transaction, when a group was told to abort one), the clients' history and the
engine's clocks."""

from __future__ import annotations

import bisect
from typing import Any

import attrs

from checker.sim import Simulation
from checker.system import history_invariant, state_invariant
from implementations import sso, sso_checks
from implementations.spanner.group import RENEW
from implementations.spanner.messages import Abort, Begin, PrepareRecord
from invariants.external import check_external_consistency, timed_txns
from invariants.history import INFO, INVOKE, OK, Operation
from invariants.transactions import answers_match_requests as check_answers
from invariants.transactions import check_transactions
from invariants.verdict import Verdict, passed, violated

TXN_STEPS = 100_000
"""The transactional check's budget, in steps so that verdicts never depend on the machine.
Spanner's histories need at most 289 (the most seen in 1,600 runs of every variant and
configuration: 1,000 random, 300 PCT, 300 portfolio): only a checker gone wrong spends it."""
MOST_ASKS_PER_RENEW = 4
"""`renewals-paced-at-rest`'s bound: lease requests by one replica within any RENEW ticks of
the rest. The design makes three at most: its rounds, every RENEW (every RETRY, half that,
while no majority has renewed it for RENEW + SILENT), and one more a TICK after it is elected
or back in touch with a majority. The correct variant made at most two in the rests of the
hunt's 3,000 seeds; a leader renewing continually makes about twenty."""
Z3_RLIMIT = 2_000_000
"""The external-consistency search's budget in z3's resource units, for the same reason: the
hunts' histories need at most about 2,100 (200 random runs of each configuration)."""


class _Leases:
    """Per simulation: how much of the ghost record was read, and each replica's lease."""

    def __init__(self) -> None:
        self.read = 0
        self.expiry: dict[str, tuple[str, float]] = {}  # replica -> (group, expiry)


@state_invariant("disjoint-leases")
def disjoint_leases(sim: Simulation) -> str | None:
    """In each group, at most one replica trusts its leader lease at any true time. Judged
    from the ghost record of the leases (`lease` facts: trusted until the replica's clock
    reads `expiry` at its latest), on each replica's clock as the engine sets it: a replica
    trusts its lease while true time + its offset + epsilon < expiry."""
    leases = sim.invariant_state("disjoint-leases", _Leases)
    while leases.read < len(sim.ghost):
        kind, _, replica, fact = sim.ghost[leases.read]
        leases.read += 1
        if kind == "lease":
            leases.expiry[replica] = (fact["group"], fact["expiry"])
    holders: dict[str, list[str]] = {}
    for replica, (group, expiry) in sorted(leases.expiry.items()):
        latest = sim.contexts[replica].now() + sim.epsilon
        if sim.up(replica) and latest < expiry:
            holders.setdefault(group, []).append(replica)
    for group, leaders in holders.items():
        if len(leaders) > 1:
            return (f"group {group}: {' and '.join(leaders)} each trust a leader lease at "
                    f"t={sim.time}")
    return None


class _Outcomes:
    """Per simulation: how much of the ghost record was read, and each transaction's outcome
    as the first group to log one logged it."""

    def __init__(self) -> None:
        self.read = 0
        self.outcome: dict[Any, tuple[str, int | None]] = {}  # txn -> (replica, ts or None)


@state_invariant("atomic-commit")
def atomic_commit(sim: Simulation) -> str | None:
    """Two-phase commit decides once: no transaction is committed in one group and aborted
    in another, nor committed at two timestamps. From the ghost record of the commit and
    abort records every replica applies."""
    seen = sim.invariant_state("atomic-commit", _Outcomes)
    while seen.read < len(sim.ghost):
        kind, time, replica, fact = sim.ghost[seen.read]
        seen.read += 1
        if kind not in ("committed", "aborted"):
            continue
        outcome = fact["ts"] if kind == "committed" else None
        first, decided = seen.outcome.setdefault(fact["txn"], (replica, outcome))
        if decided != outcome:
            return (f"transaction {fact['txn']!r} is {describe(decided)} at {first} but "
                    f"{describe(outcome)} at {replica} (t={time})")
    return None


def describe(outcome: int | None) -> str:
    return "aborted" if outcome is None else f"committed at {outcome}"


class _Logs:
    """Per simulation: how much of the ghost record was read, and the first value learned
    for each slot of each group's log."""

    def __init__(self) -> None:
        self.read = 0
        self.slots: dict[tuple[str, int], tuple[str, Any]] = {}  # (group, slot) -> first


def every_group_replica(sim: Simulation) -> list[str]:
    """Every group's replicas: Spanner's servers are all group replicas."""
    return sim.servers


# Each group is SSO's cell, elected by its rules: one candidate at a time. A replica promises
# only candidates of its own group, so one list of every group's replicas serves them all.
backs_one_candidate = sso_checks.backs_one_candidate(sso.CANDIDACY, every_group_replica)


def group_of(replica: str) -> str:
    """A replica's group: its name without the number (`a2` is in group `a`)."""
    return replica.rstrip("0123456789")


@state_invariant("replicas-agree")
def replicas_agree(sim: Simulation) -> str | None:
    """The replicas of a group learn the same value at every slot of its log, compared slot
    by slot as each replica learns it (the ghost `chosen` facts of the Paxos learners)."""
    seen = sim.invariant_state("replicas-agree", _Logs)
    while seen.read < len(sim.ghost):
        kind, time, replica, fact = sim.ghost[seen.read]
        seen.read += 1
        if kind != "chosen":
            continue
        slot = (group_of(replica), fact["slot"])
        first, value = seen.slots.setdefault(slot, (replica, fact["value"]))
        if value != fact["value"]:
            return (f"group {slot[0]}, slot {slot[1]}: {first} learned {value!r} but "
                    f"{replica} learned {fact['value']!r} (t={time})")
    return None


@history_invariant("external-consistency")
def external_consistency(sim: Simulation) -> Verdict:
    """Commit timestamps respect real time, and a serial order respecting real time explains
    every read (invariants/external.py, z3 with an unsat core)."""
    return check_external_consistency(timed_txns(sim.operations()), rlimit=Z3_RLIMIT)


@history_invariant("serializable")
def serializable(sim: Simulation) -> Verdict:
    """No dependency cycle among the transactions (invariants/transactions.py). That checker
    reads an `ok` result as the completed micro-ops: the commit timestamp is set aside."""
    ops = [attrs.evolve(op, result=op.result["txn"]) if op.status == OK else op
           for op in sim.operations()]
    return check_transactions(ops, "serializable", max_seconds=None, max_steps=TXN_STEPS)


@history_invariant("repeatable-snapshot-reads")
def repeatable_snapshot_reads(sim: Simulation) -> Verdict:
    """Every snapshot read of a key at timestamp t returned the version with the largest
    commit timestamp <= t among all versions ever committed: what any replica, at any later
    moment, returns for that read. From the ghost record of reads served, and of commits
    (a transaction's writes in every group, once any group logged its commit)."""
    versions: dict[str, dict[int, object]] = {}
    for key, ts, value in committed_versions(sim):
        versions.setdefault(key, {})[ts] = value
    for kind, time, replica, fact in sim.ghost:
        if kind != "snapshot-read":
            continue
        key, ts, value = fact["key"], fact["ts"], fact["value"]
        below = [v for v in versions.get(key, {}) if v <= ts]
        expected = versions[key][max(below)] if below else None
        if value != expected:
            writer = f"committed at timestamp {max(below)}" if below else "the initial value"
            return violated("repeatable-snapshot-reads",
                            f"{replica} served {key}={value!r} at timestamp {ts} (t={time}), but "
                            f"the version of {key} at {ts} is {expected!r}, {writer}: a replica "
                            f"that reads at {ts} later returns {expected!r}",
                            {"replica": replica, "key": key, "ts": ts, "value": value,
                             "expected": expected})
    return passed("repeatable-snapshot-reads", "every snapshot read returned the version at "
                                               "its timestamp")


class _Replica:
    """One replica's safe time and held reads, rebuilt from the ghost record alone."""

    def __init__(self) -> None:
        self.paxos_safe = 0  # t_Paxos: the highest timestamp of a record applied
        self.prepared: dict[Any, int] = {}  # txn -> prepare timestamp, outcome not applied
        self.held: dict[tuple[str, int], int] = {}  # (client, req) -> read timestamp

    def safe_time(self) -> int:
        pending = min(self.prepared.values(), default=None)
        return self.paxos_safe if pending is None else min(self.paxos_safe, pending - 1)

    def learn(self, kind: str, fact: dict) -> None:
        if kind == "boot":
            self.held.clear()
        elif kind == "read-held":
            self.held[(fact["client"], fact["req"])] = fact["ts"]
        elif kind == "snapshot-read":
            self.held.pop((fact.get("client"), fact.get("req")), None)
        elif kind in ("prepared", "committed", "aborted", "heartbeat"):
            self.paxos_safe = max(self.paxos_safe, fact.get("ts") or 0)
            if kind == "prepared":
                self.prepared[fact["txn"]] = fact["ts"]
            elif kind != "heartbeat":
                self.prepared.pop(fact["txn"], None)


class _SafeTimes:
    """Per simulation: how much of the ghost record was read, and each replica's safe time."""

    def __init__(self) -> None:
        self.read = 0
        self.replicas: dict[str, _Replica] = {}


@state_invariant("commits-above-safe-time")
def commits_above_safe_time(sim: Simulation) -> str | None:
    """Section 4.1.3: a replica may serve a read at t once t <= t_safe, so no record it applies
    later may change the data at or below its t_safe: every commit record a replica applies
    has a timestamp above the safe time it had just before. (A transaction prepared there
    commits at or above its prepare timestamp, which t_safe stays below; any other needs a
    timestamp above t_Paxos, the highest timestamp of the records applied before it, which
    Spanner keeps by assigning a group's timestamps in increasing order, across leaders by
    their disjoint leases, section 4.1.2. A commit record chosen late -- an old leader's,
    recovered after a later leader's records -- would break it.) Safe time is rebuilt from
    the ghost record of the records each replica applied, anew at each restart (a restarted
    replica applies its log again)."""
    seen = sim.invariant_state("commits-above-safe-time", _SafeTimes)
    while seen.read < len(sim.ghost):
        kind, time, replica, fact = sim.ghost[seen.read]
        seen.read += 1
        if kind == "boot":
            seen.replicas[replica] = _Replica()
        state = seen.replicas.setdefault(replica, _Replica())
        if kind == "committed" and fact["ts"] <= state.safe_time():
            return (f"{replica} applied the commit of {fact['txn']!r} at timestamp {fact['ts']} "
                    f"(t={time}), though its safe time had reached {state.safe_time()}: a read "
                    f"at {fact['ts']} it could serve before misses that write")
        state.learn(kind, fact)
    return None


@history_invariant("held-reads-served")
def held_reads_served(sim: Simulation) -> Verdict:
    """Section 4.1.3: a replica can serve a read at t once t <= t_safe, and one that holds a
    read serves it then. At the end no replica still holds a read its safe time has passed.
    t_safe = min(t_Paxos, min prepare timestamp of undecided transactions - 1) is rebuilt from
    the ghost record of the records each replica applied, not taken from the replica."""
    replicas: dict[str, _Replica] = {}
    for kind, _, replica, fact in sim.ghost:
        replicas.setdefault(replica, _Replica()).learn(kind, fact)
    for name, state in sorted(replicas.items()):
        safe = state.safe_time()
        for (client, req), ts in sorted(state.held.items()):
            if ts <= safe:
                return violated("held-reads-served",
                                f"{name} still holds {client}'s snapshot read {req} at "
                                f"timestamp {ts}, though its safe time reached {safe}: it "
                                f"can serve it and never will",
                                {"replica": name, "client": client, "req": req, "ts": ts,
                                 "safe_time": safe})
    return passed("held-reads-served", "no replica holds a read its safe time has passed")


class _Locks:
    """Per simulation: how much of the ghost record and the trace was read, the locks of each
    prepare a group chose, the transactions each group was told to abort, and each replica's
    prepared transactions whose outcome it has not applied."""

    def __init__(self) -> None:
        self.read = 0
        self.steps_read = 0
        self.locks: dict[tuple[str, Any], tuple[set, set]] = {}  # (group, txn) -> (reads, writes)
        self.told_abort: set[tuple[str, Any]] = set()  # (group, txn)
        self.undecided: dict[str, dict[Any, None]] = {}  # replica -> prepared txns

    def read_trace(self, sim: Simulation) -> None:
        """`Abort`s delivered to a group's replicas: its leader lets the locks go at once."""
        for step in sim.trace[self.steps_read:]:
            if step.event[0] == "deliver" and isinstance(step.detail, Abort):
                self.told_abort.add((group_of(step.event[2]), step.detail.txn))
        self.steps_read = len(sim.trace)


def lock_conflict(mine: tuple[set, set], theirs: tuple[set, set]) -> set:
    """The keys on which two transactions' locks conflict: one writes what the other reads
    or writes."""
    (my_reads, my_writes), (their_reads, their_writes) = mine, theirs
    return my_writes & (their_reads | their_writes) | my_reads & their_writes


@state_invariant("prepared-locks-compatible")
def prepared_locks_compatible(sim: Simulation) -> str | None:
    """Two-phase locking at the participants (section 4.2.1): a participant leader prepares
    a transaction only while it can hold its locks, and holds them until it hears the
    outcome: applied from the log, or an `Abort` from the coordinator (a transaction its
    coordinator gave up on never commits). So no replica applies the prepare of a
    transaction while another transaction it prepared, undecided and not told to abort,
    holds conflicting locks (one writes a key the other reads or writes). Judged per
    replica in the order it applied the records (the ghost `prepared`, `committed` and
    `aborted` facts, anew at each restart), with the locks from the prepare records its
    group chose (the ghost `chosen` facts) and the `Abort`s delivered to the group (the
    trace, read before the step's facts: a conflict is missed, never invented)."""
    seen = sim.invariant_state("prepared-locks-compatible", _Locks)
    seen.read_trace(sim)
    while seen.read < len(sim.ghost):
        kind, time, replica, fact = sim.ghost[seen.read]
        seen.read += 1
        record = fact.get("value") if kind == "chosen" else None
        if isinstance(record, PrepareRecord):
            seen.locks[(group_of(replica), record.txn)] = (
                set(record.reads), {key for key, _ in record.writes})
        held = seen.undecided.setdefault(replica, {})
        if kind == "boot":
            held.clear()
        elif kind in ("committed", "aborted"):
            held.pop(fact["txn"], None)
        elif kind == "prepared" and (group_of(replica), fact["txn"]) not in seen.told_abort:
            group, txn = group_of(replica), fact["txn"]
            for other in held:
                if (group, other) in seen.told_abort:
                    continue  # its leader let its locks go
                keys = lock_conflict(seen.locks[(group, txn)], seen.locks[(group, other)])
                if keys:
                    return (f"{replica} applied the prepare of {txn!r} (t={time}) while "
                            f"{other!r}, prepared before it, undecided and not told to "
                            f"abort, held conflicting locks on {', '.join(sorted(keys))}")
            held[txn] = None
    return None


def version_at(versions: dict[int, object], ts: int, inclusive: bool) -> tuple[int | None, object]:
    """(timestamp, value) of the version with the largest commit timestamp at or below `ts`
    (`inclusive`) or below it; (None, None): the initial value."""
    below = [v for v in versions if v < ts or inclusive and v == ts]
    return (max(below), versions[max(below)]) if below else (None, None)


def serialized_reads(sim: Simulation) -> list[tuple[str, int, bool, dict]]:
    """(who, timestamp, whether it wrote, {key: value read}) of every transaction to judge:
    each read-write transaction some group committed, with the values its coordinator noted
    as read when it chose the commit timestamp (its client may never have heard), and every
    transaction answered `ok`, with the values its client was told."""
    committed = {(fact["txn"], fact["ts"]) for kind, _, _, fact in sim.ghost
                 if kind == "committed"}
    judged = [(repr(fact["txn"]), fact["ts"], True, dict(fact["reads"]))
              for kind, _, _, fact in sim.ghost
              if kind == "commit-ts" and (fact["txn"], fact["ts"]) in committed]
    for txn in timed_txns(sim.operations()):
        if txn.committed:
            judged.append((f"operation {txn.id}", txn.commit_ts, bool(txn.writes), txn.reads))
    return judged


@history_invariant("reads-at-timestamp")
def reads_at_timestamp(sim: Simulation) -> Verdict:
    """A transaction is serialized at its timestamp (sections 4.1.2 to 4.1.4): a read-write
    one read, of each key it read before writing it, the version with the largest commit
    timestamp below its own commit timestamp (its locks kept every other writer of the key
    out from its read to its commit, and a writer that committed earlier did so at a smaller
    timestamp); a read-only one, the version at or below its read timestamp. Judged for the
    reads a coordinator noted when it chose a commit timestamp that some group then logged,
    and for the reads of every `ok` answer, against the versions of the ghost record."""
    versions: dict[str, dict[int, object]] = {}
    for key, ts, value in committed_versions(sim):
        versions.setdefault(key, {})[ts] = value
    for who, ts, writes, reads in serialized_reads(sim):
        for key, value in sorted(reads.items()):
            at, expected = version_at(versions.get(key, {}), ts, inclusive=not writes)
            if value != expected:
                writer = "the initial value" if at is None else f"committed at timestamp {at}"
                return violated("reads-at-timestamp",
                                f"{who} at timestamp {ts} read {key}={value!r}, but the "
                                f"version of {key} {'below' if writes else 'at'} {ts} is "
                                f"{expected!r}, {writer}",
                                {"transaction": who, "ts": ts, "key": key, "value": value,
                                 "expected": expected})
    return passed("reads-at-timestamp", "every transaction read the versions at its timestamp")


def committed_versions(sim: Simulation) -> list[tuple[str, int, object]]:
    """(key, commit timestamp, value) of every write of a committed transaction: the writes
    of its commit records and of its participants' prepare records."""
    writes: dict = {}
    commits: dict = {}
    for kind, _, _, fact in sim.ghost:
        if kind in ("prepared", "committed"):
            writes.setdefault(fact["txn"], {}).update(fact["writes"])
        if kind == "committed":
            commits[fact["txn"]] = fact["ts"]
    return [(key, ts, value) for txn, ts in commits.items()
            for key, value in writes[txn].items()]


# --- TrueTime, answers and progress ------------------------------------------------------------


@history_invariant("commit-timestamps")
def commit_timestamps(sim: Simulation) -> Verdict:
    """Commit timestamps against true time (section 4.1.2): a coordinator picks s no earlier
    than the true time at which it picks it (s >= TT.now().latest), and the client hears of
    the commit only once true time has passed s (commit wait); a read-only transaction reads
    at a timestamp no earlier than its start. True times are the ghost facts' and the
    history's."""
    for kind, time, replica, fact in sim.ghost:
        if kind == "commit-ts" and fact["ts"] < time:
            return violated("commit-timestamps",
                            f"{replica} chose commit timestamp {fact['ts']} for "
                            f"{fact['txn']!r} at true time t={time}: already in the past",
                            {"txn": repr(fact["txn"]), "ts": fact["ts"], "time": time})
    for op in sim.operations():
        if op.status != OK:
            continue
        ts, writes = op.result["commit_ts"], any(mop[0] == "w" for mop in op.args)
        if writes and op.ret_time <= ts:
            return violated("commit-timestamps",
                            f"{op.process} was told at t={op.ret_time} that its transaction "
                            f"committed at timestamp {ts}, before true time passed it",
                            {"process": op.process, "commit_ts": ts, "ret_time": op.ret_time})
        if not writes and ts < op.call_time:
            return violated("commit-timestamps",
                            f"{op.process}'s read-only transaction began at t={op.call_time} "
                            f"and read at timestamp {ts}, in its past",
                            {"process": op.process, "read_ts": ts, "call_time": op.call_time})
    return passed("commit-timestamps", "every commit timestamp was in the future when "
                                       "chosen and in the past when acknowledged")


def answer_problem(op: Operation, written: dict[str, set]) -> str | None:
    """What is wrong with an `ok` answer against its request, or None: the micro-ops must be
    the invoked ones, in order, writes with their values, each read holding the initial
    value (None) or a value some transaction writes to that key."""
    done = op.result.get("txn") if isinstance(op.result, dict) else None
    if not isinstance(done, list) or len(done) != len(op.args):
        return f"was answered {done!r} for the {len(op.args)} micro-ops it asked for"
    for (f, key, value), mop in zip(op.args, done):
        if list(mop[:2]) != [f, key] or (f == "w" and mop[2] != value):
            return f"asked for {[f, key, value]} and was answered {mop}"
        if f == "r" and mop[2] is not None and mop[2] not in written.get(key, ()):
            return f"read {key} = {mop[2]!r}, which no transaction writes to {key}"
    return None


@history_invariant("answers-match-requests")
def answers_match_requests(sim: Simulation) -> Verdict:
    """Every transaction answered `ok` was answered for what it asked: its own micro-ops in
    order, each write with its value, each read of the key it named returning a value some
    transaction writes to that key (or the initial None)."""
    ops = sim.operations()
    written: dict[str, set] = {}
    for op in ops:
        for f, key, value in op.args:
            if f == "w":
                written.setdefault(key, set()).add(value)
    return check_answers(ops, lambda op: answer_problem(op, written))


def in_doubt(sim: Simulation, below: float) -> list[tuple[str, Any]]:
    """(group, txn) of every transaction prepared in a group at a timestamp <= `below` whose
    outcome no replica of that group applied: its participant still holds its locks and
    holds back safe time."""
    prepared: dict[tuple[str, Any], None] = {}
    decided: set[tuple[str, Any]] = set()
    for kind, _, replica, fact in sim.ghost:
        if kind == "prepared" and fact["ts"] <= below:
            prepared[(group_of(replica), fact["txn"])] = None
        elif kind in ("committed", "aborted"):
            decided.add((group_of(replica), fact["txn"]))
    return [entry for entry in prepared if entry not in decided]


def final_read_ts(sim: Simulation) -> float:
    """The timestamp the final read-only transaction read at, if it succeeded; else +inf."""
    ops = sim.operations()
    for client, _, args in sim.final_ops:
        last = [op for op in ops if op.process == client][-1:]
        read_only = all(mop[0] == "r" for mop in args)
        if read_only and last and last[0].args == args and last[0].status == OK:
            return last[0].result["commit_ts"]
    return float("inf")


@history_invariant("prepared-resolved")
def prepared_resolved(sim: Simulation) -> Verdict:
    """Progress of two-phase commit at quiescence: every transaction a group prepared at or
    below the final read's timestamp has its outcome (commit or abort) applied in that group,
    so no participant is left holding locks. (A correct replica serves that read only once
    they are resolved; one prepared above it may still be waiting for its inquiry when the
    ending's final operations are done.) After the ending's rest, every transaction a group
    prepared: the rest leaves time for every inquiry to be answered. From the ghost record."""
    rested = sim.rest_began() is not None
    below = float("inf") if rested else final_read_ts(sim)
    stuck = in_doubt(sim, below)
    if stuck:
        group, txn = stuck[0]
        why = "after the ending's rest" if rested else \
            f"and its prepare timestamp is at or below the final read's ({below})"
        return violated("prepared-resolved",
                        f"group {group} prepared {txn!r} and never learned its outcome: its "
                        f"locks are still held at the end, {why}",
                        {"group": group, "txn": repr(txn)})
    return passed("prepared-resolved", "every prepared transaction was resolved")


def begun(sim: Simulation) -> dict[tuple[Any, str], int]:
    """(txn, replica) -> when the replica first received the transaction's `Begin`, from the
    trace."""
    first: dict[tuple[Any, str], int] = {}
    for step in sim.trace:
        if step.event[0] == "deliver" and isinstance(step.detail, Begin):
            first.setdefault((step.detail.txn, step.event[2]), step.time)
    return first


@history_invariant("coordinator-decided")
def coordinator_decided(sim: Simulation) -> Verdict:
    """Two-phase commit's coordinator decides (section 4.2.1): after the ending's rest, every
    transaction a participant group prepared has its outcome applied in its coordinator's
    group too, unless that coordinator lost office after the transaction's `Begin` first
    reached it (a deposed leader drops what it has not committed, unlogged, and its group
    answers the participants' inquiries). A coordinator that gives up on a transaction and
    logs no abort leaves its client unanswered until a timeout reports an unknown outcome
    for a transaction that was decided. Judged only after a rest, which leaves time for every
    abort timer, commit wait and inquiry; from the ghost record and the trace."""
    if sim.rest_began() is None:
        return passed("coordinator-decided", "no rest: the ending may stop before an outcome "
                                             "is logged")
    decided = {(group_of(replica), fact["txn"]) for kind, _, replica, fact in sim.ghost
               if kind in ("committed", "aborted")}
    began, judged = begun(sim), set()
    for kind, time, _, fact in sim.ghost:
        if kind != "prepared" or fact["txn"] in judged:
            continue
        txn, coordinator = fact["txn"], fact["coordinator"]
        judged.add(txn)
        if (group_of(coordinator), txn) in decided or \
                lost_office(sim, began[(txn, coordinator)], sim.time, coordinator):
            continue
        return violated("coordinator-decided",
                        f"{txn!r} was prepared (t={time}) but its coordinator {coordinator}, "
                        f"which kept its office from the transaction's begin "
                        f"(t={began[(txn, coordinator)]}) to the end, logged no outcome for it "
                        f"in group {group_of(coordinator)}",
                        {"txn": repr(txn), "coordinator": coordinator})
    return passed("coordinator-decided", "every coordinator logged the outcome of the "
                                         "transactions its participants prepared")


@history_invariant("renewals-paced-at-rest")
def renewals_paced_at_rest(sim: Simulation) -> Verdict:
    """At rest a leader renews its lease once per RENEW, not continually (`group.py`: a
    leader in touch with a majority ticks every RENEW; Spanner's leaders extend their lease
    votes as they near expiry, section 4.1.1): no replica asks for its lease more than
    MOST_ASKS_PER_RENEW times within any RENEW ticks of the ending's rest, when nothing is
    asked of the groups and no fault cuts a leader off. From the ghost record of lease
    requests (`lease-asked`)."""
    began = sim.rest_began()
    if began is None:
        return passed("renewals-paced-at-rest", "no rest")
    asks: dict[str, list[int]] = {}
    for kind, time, replica, _ in sim.ghost:
        if kind == "lease-asked" and time >= began:
            asks.setdefault(replica, []).append(time)
    for replica, times in sorted(asks.items()):
        for first, start in enumerate(times):
            within = bisect.bisect_left(times, start + RENEW, lo=first) - first
            if within > MOST_ASKS_PER_RENEW:
                return violated("renewals-paced-at-rest",
                                f"{replica} asked for its lease {within} times in the {RENEW} "
                                f"ticks from t={start}, at rest (since t={began})",
                                {"replica": replica, "from": start, "asks": within})
    return passed("renewals-paced-at-rest", f"at rest no replica asked for its lease more "
                                            f"than {MOST_ASKS_PER_RENEW} times per {RENEW} ticks")


def lost_office(sim: Simulation, start: float, end: float,
                replica: str | None = None) -> str | None:
    """A replica (`replica`, if given) that trusted a leader lease and gave it up (deposed, or
    restarted) between true times `start` and `end`, from the ghost record of the leases; or
    None."""
    expiry: dict[str, float] = {}
    for kind, time, node, fact in sim.ghost:
        if kind != "lease" or replica not in (None, node):
            continue
        held = expiry.get(node, float("-inf")) > float("-inf")
        if held and fact["expiry"] == float("-inf") and start <= time <= end:
            return node
        expiry[node] = fact["expiry"]
    return None


def final_problem(sim: Simulation, client: str, f: str, args: Any) -> str | None:
    """What is wrong with a final operation, or None: it must have run and succeeded. The
    read-write one (which its client begins again after each abort) may end `info` only when
    a leader lost office while it ran: its coordinator may have dropped it unanswered."""
    last = [op for op in sim.operations() if op.process == client][-1:]
    if not last or last[0].args != args:
        return f"{client}'s final {f} never ran: an earlier transaction was still running"
    op = last[0]
    if op.status == OK:
        return None
    if all(mop[0] == "r" for mop in args):
        return f"{client}'s final read ended {op.status}, not ok"
    ended = next(event.time for event in reversed(sim.history) if event.process == client)
    if op.status == INFO and lost_office(sim, op.call_time, ended):
        return None
    return (f"{client}'s final read-write transaction ended {op.status}, though its client "
            f"began it again after every abort and no leader lost office while it ran")


@history_invariant("progress")
def progress(sim: Simulation) -> Verdict:
    """Progress at quiescence: every transaction returned (`info` included), the final
    read-only transaction of every key ran and succeeded, and the final read-write
    transaction of every key, begun again after each abort, committed: once faults heal, no
    lock is held for good, every group prepares and every coordinator commits (two-phase
    commit's liveness, section 4.2.1)."""
    last_event = {event.process: event for event in sim.history}
    pending = [event for event in last_event.values() if event.type == INVOKE]
    if pending:
        return violated("progress", f"{pending[0].process}'s transaction {pending[0].value} "
                                    f"never returned")
    for client, f, args in sim.final_ops:
        problem = final_problem(sim, client, f, args)
        if problem:
            return violated("progress", problem)
    return passed("progress", "every transaction returned, the final read succeeded and the "
                              "final read-write transaction committed")
