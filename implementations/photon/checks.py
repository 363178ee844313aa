"""The invariants. They read what the frontends were told (the history), what joiners were
told by the registry (ghost notes), the chosen values Paxos learners noted, the candidates
the registry replicas noted they promised (SSO's `backs-one-candidate`), and the durable
contents of the output logs, of the registry replicas' logs and, at the end, of the
dispatchers' click logs and the joiners' lists of registrations, and judge them against the
model (`models/photon.py`); once the faults are over, `joined-promptly` also reads the
dispatchers' click logs, the event stores' queries, the `NotYet` answers the trace shows
delivered, and the registry replicas' roles, the master each names, the ballot each promised
and the master's outstanding proposals, and holds them to bounds worked out from the
pipeline's timeouts; `retried-after-backoff` reads the `NotYet` and `Join` deliveries and the
restarts the trace shows, and holds each dispatcher to its exponential backoff. None asks the
implementation's own functions.

Nodes are found by their names: output logs `o<dc>`, registry replicas `r<n>`, dispatchers
`d<dc>`, joiners `j<dc>`, event stores `e<dc>`; a node named `x<dc>` belongs to datacenter
`<dc>`."""

from __future__ import annotations

import functools
from typing import Any

import attrs

from checker.recovery import calm
from checker.sim import Simulation
from checker.system import history_invariant, judged_on_change, state_invariant
from implementations import paxos_core, sso, sso_checks
from implementations.paxos_core import FOLLOWER, MASTER
from implementations.photon.messages import Join, NotYet
from implementations.photon.pipeline import (
    BACKOFF,
    CALL_TIMEOUT,
    JOIN_TIMEOUT,
    MAX_BACKOFF,
    NO_MASTER,
)
from invariants.delivery import InputRecord, OutputRecord, check_delivery
from invariants.history import OK
from invariants.verdict import Verdict, passed, violated
from models.photon import (
    MODE,
    IdRegistry,
    disagreements,
    duplicated,
    join,
    misattributed,
    registry_of,
)


def datacenter(node: str) -> str:
    return node[1:]


def output_logs(sim: Simulation) -> tuple[str, ...]:
    return _named(tuple(sim.servers), "o")


def replicas(sim: Simulation) -> tuple[str, ...]:
    return _named(tuple(sim.servers), "r")


# The IdRegistry's replicas are SSO's, elected by its rules: one candidate at a time.
backs_one_candidate = sso_checks.backs_one_candidate(sso.CANDIDACY,
                                                     lambda sim: list(replicas(sim)))


def dispatchers(sim: Simulation) -> tuple[str, ...]:
    return _named(tuple(sim.servers), "d")


def joiners(sim: Simulation) -> tuple[str, ...]:
    return _named(tuple(sim.servers), "j")


@functools.cache
def _named(servers: tuple[str, ...], prefix: str) -> tuple[str, ...]:
    return tuple(node for node in servers if node.startswith(prefix))


def output_records(sim: Simulation) -> list[tuple[str, Any]]:
    """(output log, joined click) for everything durably in an output log, log by log."""
    return [(log, joined) for log in output_logs(sim)
            for joined in sim.contexts[log].storage.durable("joined", ())]


def replica_log(sim: Simulation, replica: str, log: list | None = None) -> list[tuple[str, Any]]:
    """The (click id, token) inserts of the replica's durable chosen log, up to its first
    gap: what it has applied, or will apply on recovery. Given the `log` read before (a
    chosen slot is never written again), only what was chosen since is read."""
    stored, log = sim.contexts[replica].storage, log if log is not None else []
    while (value := stored.durable(f"chosen/{len(log)}", ())) != ():
        log.append(None if value is None else (value.click_id, value.token))  # None: a no-op
    return log


def replica_tables(sim: Simulation, logs: dict[str, list] | None = None) -> dict[str, dict]:
    """Each replica's table: the model's registry after the inserts of its durable log."""
    logs = logs if logs is not None else {}
    for replica in replicas(sim):
        logs[replica] = replica_log(sim, replica, logs.get(replica))
    return {replica: registry_of(entry for entry in log if entry is not None)
            for replica, log in logs.items()}


# --- state invariants: after every step ------------------------------------------------------


@state_invariant("no-duplicate-join")
@judged_on_change(output_logs)  # all it reads
def no_duplicate_join(sim: Simulation) -> str | None:
    """No click id is in the output logs of the two datacenters twice (nor in one twice)."""
    sizes = sim.invariant_state("no-duplicate-join", lambda: [()])
    now = tuple(len(sim.contexts[log].storage.durable("joined", ())) for log in output_logs(sim))
    if now == sizes[0]:
        return None
    sizes[0] = now
    records = output_records(sim)
    twice = duplicated(joined.click_id for _, joined in records)
    if twice:
        where = [log for log, joined in records if joined.click_id == twice[0]]
        return f"click {twice[0]} was output twice, by {' and '.join(where)} (t={sim.time})"
    return None


@attrs.define
class _Registrations:
    """Per simulation: the registry's log as learners noted it, replayed on the model."""

    read: int = 0  # ghost entries looked at
    slots: dict[int, Any] = attrs.Factory(dict)  # slot -> the first value learned for it
    applied: int = 0  # slots replayed on the model, in order
    model: IdRegistry = attrs.Factory(IdRegistry)


@state_invariant("registered-once")
def registered_once(sim: Simulation) -> str | None:
    """Every success a joiner was told for an insert names the token the registry's log
    registered the click id with first: per id, one token ever succeeds."""
    seen = sim.invariant_state("registered-once", _Registrations)
    while seen.read < len(sim.ghost):
        kind, time, node, fact = sim.ghost[seen.read]
        seen.read += 1
        if kind == "chosen" and node.startswith("r"):
            seen.slots.setdefault(fact["slot"], fact["value"])
            while seen.applied in seen.slots:
                value = seen.slots[seen.applied]
                if value is not None:
                    seen.model.insert(value.click_id, value.token)
                seen.applied += 1
        elif kind == "inserted" and fact["ok"]:
            holder = seen.model.entries.get(fact["click"])
            if holder != fact["token"]:
                return (f"{node} was told at t={time} that click {fact['click']} is registered "
                        f"for its token {fact['token']!r}, but the registry's log registered "
                        f"it {f'for {holder!r}' if holder else 'for nobody'}")
    return None


@attrs.define
class _Tables:
    """Per simulation: each replica's durable log as read so far, and the tables it gives."""

    logs: dict[str, list] = attrs.Factory(dict)
    sizes: tuple = ()
    tables: dict[str, dict] = attrs.Factory(dict)


@state_invariant("registry-replicas-agree")
def registry_replicas_agree(sim: Simulation) -> str | None:
    """Each registry replica's table is what the model makes of its durable log, and any two
    replicas hold the same token for every click id both hold."""
    seen = sim.invariant_state("registry-replicas-agree", _Tables)
    sizes = tuple(len(replica_log(sim, r, seen.logs.setdefault(r, []))) for r in replicas(sim))
    if sizes != seen.sizes:
        seen.sizes, seen.tables = sizes, replica_tables(sim, seen.logs)
        conflicts = disagreements(seen.tables)
        if conflicts:
            click, a, token_a, b, token_b = conflicts[0]
            return f"click {click} is registered for {token_a!r} at {a} but {token_b!r} at {b}"
    for replica, table in seen.tables.items():
        node = sim.nodes[replica]
        if node is not None and node.registry != table:
            return f"{replica}'s table {node.registry} is not what its log gives: {table}"
    return None


# --- prompt joins, once the faults are over ----------------------------------------------------

# Once the faults end (`checker.recovery.calm`: everything healed and restarted, the last pause
# over), the ending's messages take no time and none is lost: only timers delay a click.
# Once, besides, a click and its query are durably in their datacenter's logs and the registry
# is settled (one master, named by every replica, none promised a higher ballot), every step of
# the join is answered at once: the dispatch, the lookup (the query is there), the insert (any
# replica points to the master, whose Accepts are accepted at once) and the output. What may
# still hold the click then is a timer set before that moment:
# - a backoff after the query was missing (MAX_BACKOFF), or the joiner's wait for a lost answer
#   or for a registry not settled yet (CALL_TIMEOUT, NO_MASTER): SETTLED_WAIT at most;
# - the dispatcher's JOIN_TIMEOUT, when a Join sent before the faults ended, or its answer, was
#   lost -- unless the joiner has told it NotYet since they ended: it then waits a backoff
#   (MAX_BACKOFF) and dispatches again. (A Join sent once the faults are over always reaches
#   the joiner, which answers it when its join is done: that JOIN_TIMEOUT never has to fire.)
# - the registry master's Paxos RESEND, when it had proposals outstanding as the faults ended
#   (their Accepts may have been lost): it applies, and answers, in slot order, so every insert
#   after them waits for them.
SETTLED_WAIT = max(MAX_BACKOFF, CALL_TIMEOUT, NO_MASTER)


def settled_master(sim: Simulation) -> str | None:
    """The registry's master, if the registry is settled: every replica up, one master, the
    others followers naming it, none promised a ballot above the master's. (Read from the
    replicas' state: an insert sent to any of them is then chosen and answered at once.)"""
    nodes = {replica: sim.nodes[replica] for replica in replicas(sim)}
    if any(node is None for node in nodes.values()):
        return None
    masters = [replica for replica, node in nodes.items() if node.role == MASTER]
    if len(masters) != 1:
        return None
    master = masters[0]
    ballot = nodes[master].ballot
    if all(node.master_hint == master and node.promised <= ballot
           and node.role in (MASTER, FOLLOWER) for node in nodes.values()):
        return master
    return None


@attrs.define
class _Ending:
    """Per simulation, in the ending: when the faults ended and whether the registry master
    had proposals outstanding then, the click logs and query stores to read (node -> key
    prefix), since when the registry has been settled, when each click (per dispatcher) and
    query (per event store) was first seen durably logged, when each dispatcher was last told
    NotYet for a click, the trace steps read, and the time the clicks were last judged at."""

    calm: int
    outstanding: bool
    logs: dict[str, str]
    settled_since: int | None = None
    logged: dict[str, dict[str, int]] = attrs.Factory(dict)  # log node -> entry id -> time
    not_yet: dict[tuple[str, str], int] = attrs.Factory(dict)  # (dispatcher, click) -> time
    read: int | None = None  # None: nothing read yet
    judged: int | None = None

    @classmethod
    def begin(cls, sim: Simulation) -> _Ending:
        logs = {node: "click/" for node in dispatchers(sim)}
        logs.update({f"e{datacenter(node)}": "query/" for node in dispatchers(sim)})
        return cls(calm(sim), _outstanding(sim), logs)

    def read_steps(self, sim: Simulation) -> set[str | None]:
        """Note the NotYet answers the dispatchers were given since the faults ended, and read
        the click logs and query stores the steps since the last look ran on (all of them at
        the first look): only a node's own step writes its storage. Returns the nodes those
        steps ran on (every node, at the first look)."""
        steps = sim.trace[self.read or 0:]
        ran = set(sim.servers) if self.read is None else {_ran_on(step) for step in steps}
        self.read = len(sim.trace)
        for step in steps:
            if isinstance(step.detail, NotYet) and step.event[0] == "deliver" \
                    and step.time >= self.calm:
                self.not_yet[step.event[2], step.detail.click_id] = step.time
        for node in ran & self.logs.keys():
            seen, storage = self.logged.setdefault(node, {}), sim.contexts[node].storage
            for key in storage.items():
                if key.startswith(self.logs[node]) and storage.durable(key) is not None:
                    seen.setdefault(key.removeprefix(self.logs[node]), sim.time)
        return ran

    def due(self, dispatcher: str, click: str, ready: int) -> int:
        """When the click is due at the dispatcher, given when it became ready (above)."""
        told = self.not_yet.get((dispatcher, click))
        waits = [ready + SETTLED_WAIT,
                 self.calm + JOIN_TIMEOUT if told is None else told + MAX_BACKOFF]
        if self.outstanding:
            waits.append(self.calm + paxos_core.RESEND)
        return max(waits)


def _ran_on(step: Any) -> str | None:
    """The node a step ran on: a delivery's receiver, a timer's node, a restarted node."""
    kind, *args = step.event
    return args[1] if kind == "deliver" else args[0] if kind in ("fire", "restart") else None


def _outstanding(sim: Simulation) -> bool:
    """Whether a registry master has proposals not yet chosen."""
    return any(node is not None and node.role == MASTER and node.proposals
               for node in (sim.nodes[replica] for replica in replicas(sim)))


@state_invariant("joined-promptly")
def joined_promptly(sim: Simulation) -> str | None:
    """Once the faults are over, a click is done at its dispatcher within SETTLED_WAIT of the
    moment it, its query and a settled registry were all there, and within the dispatcher's
    JOIN_TIMEOUT (or a backoff after a NotYet) and the registry's Paxos RESEND of the faults'
    end, where those may be pending (the bounds are worked out from the timeouts above)."""
    if sim.phase != "quiesce":
        return None
    seen = sim.invariant_state("joined-promptly", lambda: _Ending.begin(sim))
    if not seen.read_steps(sim).isdisjoint(replicas(sim)):  # else the registry is as it was
        if settled_master(sim) is None:
            seen.settled_since = None
        elif seen.settled_since is None:
            seen.settled_since = sim.time
    if seen.settled_since is None or seen.judged == sim.time:
        return None  # a click logged, or a registry settled, at this time is due later
    seen.judged = sim.time
    for dispatcher in dispatchers(sim):
        dc, storage = datacenter(dispatcher), sim.contexts[dispatcher].storage
        queries = seen.logged.get(f"e{dc}", {})
        for click_id, logged in seen.logged.get(dispatcher, {}).items():
            query = storage.durable(f"click/{click_id}").query_id
            if query not in queries or storage.durable(f"done/{click_id}"):
                continue
            ready = max(logged, queries[query], seen.settled_since)
            due = seen.due(dispatcher, click_id, ready)
            if sim.time > due:
                return (f"click {click_id} is not done at {dispatcher} at t={sim.time}: the "
                        f"faults ended at t={seen.calm}, and since t={ready} it and its query "
                        f"{query} were in datacenter {dc}'s logs and the registry settled "
                        f"with {settled_master(sim)} its master; it was due by t={due}")
    return None


def backoff(not_yets: int) -> int:
    """The dispatcher's exponential backoff: how long it waits, after the `not_yets`-th NotYet
    for a click since it started, before it dispatches the click again -- BACKOFF, doubled
    after each NotYet, at most MAX_BACKOFF."""
    return min(BACKOFF * 2 ** (not_yets - 1), MAX_BACKOFF)


@attrs.define
class _Backoffs:
    """Per simulation, in the ending: when the faults ended, the NotYets each dispatcher was
    given per click since it last started, when each click told NotYet since the faults ended
    is due to be dispatched again, and the trace steps read."""

    calm: int
    not_yets: dict[tuple[str, str], int] = attrs.Factory(dict)  # (dispatcher, click) -> count
    due: dict[tuple[str, str], int] = attrs.Factory(dict)  # (dispatcher, click) -> time
    read: int = 0

    def read_steps(self, sim: Simulation) -> None:
        """A restart forgets a dispatcher's counts (they are volatile); a NotYet delivered to
        it counts, and from the faults' end sets when the click is due again; a Join it
        delivers to its joiner is the click dispatched again."""
        ours = set(dispatchers(sim))
        for step in sim.trace[self.read:]:
            kind, *args = step.event
            if kind == "restart" and args[0] in ours:
                self.forget(args[0])
            elif kind == "deliver" and isinstance(step.detail, NotYet) and args[1] in ours:
                key = (args[1], step.detail.click_id)
                self.not_yets[key] = self.not_yets.get(key, 0) + 1
                if step.time >= self.calm:
                    self.due[key] = step.time + backoff(self.not_yets[key])
            elif kind == "deliver" and isinstance(step.detail, Join) and args[0] in ours:
                self.due.pop((args[0], step.detail.click.click_id), None)
        self.read = len(sim.trace)

    def forget(self, dispatcher: str) -> None:
        for counts in (self.not_yets, self.due):
            for key in [key for key in counts if key[0] == dispatcher]:
                del counts[key]


@state_invariant("retried-after-backoff")
def retried_after_backoff(sim: Simulation) -> str | None:
    """Once the faults are over, a click a dispatcher was told NotYet for (its query was not in
    the event store) reaches the joiner again within the dispatcher's exponential backoff
    (`backoff`), unless it is done by then or told NotYet again. The ending's messages take no
    time, so nothing but that wait holds the click back; a dispatcher that waits longer (a
    backoff that starts too high, grows too fast or has no ceiling) leaves a click unjoined
    for longer than a late query explains."""
    if sim.phase != "quiesce":
        return None
    seen = sim.invariant_state("retried-after-backoff", lambda: _Backoffs(calm(sim)))
    seen.read_steps(sim)
    for (dispatcher, click), due in sorted(seen.due.items()):
        if sim.contexts[dispatcher].storage.durable(f"done/{click}"):
            del seen.due[dispatcher, click]
        elif sim.time > due:
            told = seen.not_yets[dispatcher, click]
            return (f"click {click} has not been dispatched again by {dispatcher} at "
                    f"t={sim.time}: told NotYet for it {told} time(s) since it started, the "
                    f"last after the faults ended, it was due again by t={due}")
    return None


# --- history invariants: at the end of the run ------------------------------------------------


def logged_clicks(sim: Simulation) -> list[InputRecord]:
    """Every click a frontend logged, expected joined with its query as the model joins
    them; acknowledged when its `serve` returned ok."""
    serves = [op for op in sim.operations() if op.f == "serve"]
    queries = {op.args[0]: op.args[1] for op in serves}  # serve(query id, ad, click ids)
    clicks = {click: op.args[0] for op in serves for click in op.args[2]}
    expected = join(queries, clicks)
    return [InputRecord(click, op.call_time, op.process, acked=op.status == OK,
                        value=expected.get(click))
            for op in serves for click in op.args[2]]


@history_invariant("joined-exactly-once")
def joined_exactly_once(sim: Simulation) -> Verdict:
    """At quiescence the output logs of both datacenters hold every logged click exactly
    once, joined with its own query (`invariants.delivery`: nothing lost, duplicated,
    invented or joined wrong)."""
    outputs = [OutputRecord(joined.click_id, None, log, (joined.query_id, joined.ad))
               for log, joined in output_records(sim)]
    verdict = check_delivery(logged_clicks(sim), outputs, MODE)
    return attrs.evolve(verdict, invariant="joined-exactly-once")


@history_invariant("pipeline-drains")
def pipeline_drains(sim: Simulation) -> Verdict:
    """Progress: every operation completed, and the final drain found the pipeline idle
    (nothing left to join, the registry replicas level)."""
    ops = sim.operations()
    unfinished = [op for op in ops if op.ret is None]
    if unfinished:
        return violated("pipeline-drains", f"{unfinished[0].describe()}: it never completed",
                        {"operation": unfinished[0].to_json()})
    for client, f, args in sim.final_ops:
        last = [op for op in ops if op.process == client][-1:]
        if not last or (last[0].f, last[0].args, last[0].status) != (f, args, OK):
            what = last[0].describe() if last else "nothing"
            return violated("pipeline-drains", f"the final {f}({args!r}) of {client} did not "
                            f"succeed: its last operation was {what}")
    return passed("pipeline-drains", "every operation completed; the final drain succeeded")


@history_invariant("registry-converged")
def registry_converged(sim: Simulation) -> Verdict:
    """At quiescence every registry replica holds the same table, and each datacenter's
    output log holds only clicks that table registered for that datacenter's joiner."""
    tables = replica_tables(sim)
    first, *others = sorted(tables)
    for other in others:
        if tables[other] != tables[first]:
            return violated("registry-converged", f"{first} holds {tables[first]} but {other} "
                            f"holds {tables[other]}")
    owners = {click: datacenter(token.joiner) for click, token in tables[first].items()}
    outputs: dict[str, list[str]] = {}
    for log, joined in output_records(sim):
        outputs.setdefault(datacenter(log), []).append(joined.click_id)
    wrong = misattributed(outputs, owners)
    if wrong:
        dc, click, owner = wrong[0]
        holder = f"for datacenter {owner}" if owner else "for nobody"
        return violated("registry-converged", f"datacenter {dc} output click {click}, which "
                        f"the registry holds {holder}")
    return passed("registry-converged", f"{len(tables)} replicas hold the same "
                                        f"{len(tables[first])} registrations")


@history_invariant("nothing-left-to-recover")
def nothing_left_to_recover(sim: Simulation) -> Verdict:
    """Progress, as a restart would see it: at quiescence every click in a dispatcher's
    durable click log is durably marked done, and no joiner still lists a registration under
    way (`registering/<click>`). What is left there is work every later boot redoes — a
    refused registration never forgotten, a joined click dispatched again — and a pipeline
    that claims to be idle but is not."""
    for dispatcher in dispatchers(sim):
        storage = sim.contexts[dispatcher].storage
        undone = [click for click in _durable_ids(sim, dispatcher, "click/")
                  if not storage.durable(f"done/{click}")]
        if undone:
            return violated("nothing-left-to-recover", f"{dispatcher}'s click log still holds "
                            f"click {undone[0]} not marked done: its next boot dispatches it "
                            "again")
    for joiner in joiners(sim):
        listed = _durable_ids(sim, joiner, "registering/")
        if listed:
            click = listed[0]
            token = sim.contexts[joiner].storage.durable(f"registering/{click}")[2]
            holder = _registry_holders(sim).get(click)
            return violated("nothing-left-to-recover", f"{joiner} still lists its registration "
                            f"of click {click} with {token!r} (the registry holds it "
                            f"{f'for {holder!r}' if holder else 'for nobody'}): its next "
                            "boot presents it again")
    return passed("nothing-left-to-recover", "every logged click is done, and no registration "
                                             "is left under way")


def _durable_ids(sim: Simulation, node: str, prefix: str) -> list[str]:
    """The ids of the node's `<prefix><id>` keys whose durable value is set (not cleared)."""
    storage = sim.contexts[node].storage
    return [key.removeprefix(prefix) for key in sorted(storage.items())
            if key.startswith(prefix) and storage.durable(key) is not None]


def _registry_holders(sim: Simulation) -> dict[str, Any]:
    """Click id -> the token some replica's durable log registered it for."""
    holders: dict[str, Any] = {}
    for table in replica_tables(sim).values():
        holders.update(table)
    return holders
