"""The simulation: nodes, network, timers and faults, advanced one chosen event at a time.

Every source of nondeterminism is an event the scheduler picks. An event is a small tuple (its
descriptor) that names what happens in words stable enough to replay and to shrink:

    ("deliver", src, dst, seq)    ("drop", src, dst, seq)     ("duplicate", src, dst, seq)
    ("fire", node, timer)         ("invoke", client)
    ("crash", node)               ("restart", node)
    ("partition", (island...))    ("heal",)
    ("pause", node, ticks)        ("skew", node, offset)
    ("reset", a, b)               ("drift", node, rate)

On FIFO channels (`fifo`, a system's declaration that its channels behave as TCP connections)
only the oldest message in flight on each (src, dst) channel may be delivered; a `reset`
breaks the connection between two nodes: what is in flight either way is lost, and each end
that is up is told (`Node.on_reset`). `duplicate` is not a fault of FIFO channels (TCP
discards duplicate segments), and `reset` is one only of them.

`enabled(kind)` lists the events of one kind that may happen now, `any_enabled(kind)` says
whether there is one without listing them; `execute(event)` does one.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from typing import Any

import attrs

from checker.client import Client
from checker.network import Envelope, Network
from checker.node import Context, Node
from checker.timers import Timers
from invariants.history import Event, Operation, pair

DELIVERY_KINDS = ("deliver", "fire", "invoke")
# "reset" and "drift" last: strategies draw for the kinds in order, and older runs must not
# change
FAULT_KINDS = ("drop", "duplicate", "crash", "restart", "partition", "heal", "pause", "skew",
               "reset", "drift")
KINDS = DELIVERY_KINDS + FAULT_KINDS
MESSAGE_KINDS = ("deliver", "drop", "duplicate")  # events that name a message in flight
BUDGETED = ("drop", "duplicate", "crash", "partition", "pause", "skew", "reset", "drift")
# budgets of the strategies' targeted nemeses, which aim the faults above at moments (see
# `checker.strategies.RandomWalk`): not events of their own
NEMESES = ("nemesis",)
_FAULTS = frozenset(FAULT_KINDS)
_CHANGES_REACHABILITY = frozenset(("crash", "restart", "partition", "heal", "pause"))


class NodeFailure(Exception):  # noqa: N818 - a finding about a node, not an error of ours
    """A node's handler failed: a finding about the protocol, reported with the run's trace.

    Only handler calls raise it, so an exception anywhere else in a run is a bug of the engine
    or of a check, and is not mistaken for a finding."""

    invariant = ""

    def __init__(self, node: str, handler: str, sentence: str) -> None:
        super().__init__(f"{node}: {handler} {sentence}")
        self.node, self.handler, self.sentence = node, handler, sentence


class NodeRaised(NodeFailure):
    invariant = "no-handler-exception"


class HandlerOverrun(NodeFailure):
    invariant = "handler-returns"

    def __init__(self, node: str, handler: str, seconds: float) -> None:
        super().__init__(node, handler, f"ran for {seconds:g} s without returning (a loop "
                                        f"that never ends?)")


@attrs.define
class HandlerCalls:
    """Which handler call is running now, for the watchdog (`checker.watchdog`)."""

    calls: int = 0
    node: str | None = None
    name: str = ""
    args: tuple = ()
    watched: bool = False

    def describe(self) -> str:
        return f"{self.name}{_short(self.args)}"


HANDLERS = HandlerCalls()


def _short(args: tuple) -> str:
    text = ", ".join(repr(a) for a in args)
    return f"({text[:120]}{'...' if len(text) > 120 else ''})"


@attrs.frozen
class Step:
    """One executed event. `detail` is the message for deliveries, drops and duplicates."""

    event: tuple
    time: int
    detail: Any = None
    # run: chosen by the scheduler; implied: a timer that fired because time had to pass for a
    # chosen later timer to fire (see `Replay`); quiesce: the deterministic ending, and its
    # rest (`Simulation.quiesce`)
    phase: str = "run"


@attrs.define
class Cluster:
    """What a system's `build` returns: how to make each node, and each client's operations."""

    servers: dict[str, Callable[[str], Node]]
    clients: dict[str, Callable[[str], Client]]
    workload: dict[str, list[tuple[str, Any]]]
    final_ops: list[tuple[str, str, Any]] = attrs.Factory(list)  # (client, f, args)


class Simulation:
    def __init__(self, cluster: Cluster, seed: int, epsilon: int,
                 budget: dict[str, int], fifo: bool = False, max_drift: int = 0) -> None:
        self.time = 0
        self.epsilon = epsilon
        self.max_drift = max_drift  # parts per thousand
        self.fifo = fifo  # channels are FIFO: only each channel's oldest message is deliverable
        self.network = Network(fifo)
        self.timers = Timers()
        self.history: list[Event] = []
        self.ghost: list[tuple[str, int, str, dict]] = []
        self.trace: list[Step] = []
        self.budget = {kind: budget.get(kind, 0) for kind in BUDGETED}
        # counts the changes of what only faults change: the budgets, the nodes down or
        # paused, the partition (a strategy keeps what it reads of them until it moves)
        self.fault_version = 0
        self.nemesis = budget.get("nemesis", 0)  # targeted faults a strategy may aim
        self.phase = "run"
        self._ending_from = 0  # the trace's length when the ending began
        self._resting_since: int | None = None  # when the ending's rest began
        self._implied = False  # the next event is implied, not chosen
        self._invariant_state: dict[str, Any] = {}
        self.servers = list(cluster.servers)
        self.clients = list(cluster.clients)
        self._factories = {**cluster.servers, **cluster.clients}
        self.workload = cluster.workload
        self.final_ops = cluster.final_ops
        self._next_op = {client: 0 for client in self.clients}
        self.paused_until: dict[str, int] = {}
        # deliverable messages as ("deliver", src, dst, seq) events, kept up to date on send
        # and receipt; rebuilt only after what changes reachability (faults, pause ends)
        self._ready: dict[tuple, None] = {}
        self._ready_stale = False
        self.contexts = {node_id: Context(self, node_id, _mix(seed, i))
                         for i, node_id in enumerate(self._factories)}
        self.nodes: dict[str, Node | None] = {
            node_id: factory(node_id) for node_id, factory in self._factories.items()}
        self._down: set[str] = set()  # the nodes crashed, as `nodes` says: kept by `_set_node`
        # the clients with an operation in progress, which `clients_idle` and `_any_invoke`
        # ask at every step: kept after each handler call of a client (a client's state
        # changes only in its own handlers)
        self._busy: set[str] = set()
        for client in self.clients:
            self._note_client(client)

    def start(self) -> None:
        for node_id, node in self.nodes.items():
            self._call(node_id, node.on_start)

    def _call(self, node_id: str, handler: Callable, *args: Any) -> None:
        """Run one handler of a node; what it raises becomes `NodeRaised`."""
        HANDLERS.calls += 1
        HANDLERS.node, HANDLERS.name, HANDLERS.args = node_id, handler.__name__, args
        try:
            handler(self.contexts[node_id], *args)
        except NodeFailure:
            raise
        except Exception as exc:
            raise NodeRaised(node_id, f"{handler.__name__}{_short(args)}",
                             f"raised {exc!r}") from exc
        finally:
            HANDLERS.node = None
            if node_id in self._next_op:  # a client: whether it is busy may have changed
                self._note_client(node_id)

    def _note_client(self, client: str) -> None:
        """Keep `_busy` true of the client after its state may have changed."""
        if self.nodes[client].idle:
            self._busy.discard(client)
        else:
            self._busy.add(client)

    # --- what may happen next -------------------------------------------------------------

    def up(self, node_id: str) -> bool:
        return self.nodes[node_id] is not None

    def paused(self, node_id: str) -> bool:
        return self.paused_until.get(node_id, -1) > self.time

    def can_receive(self, node_id: str) -> bool:
        """Whether the node is up and not paused."""
        return node_id not in self._down and self.paused_until.get(node_id, -1) <= self.time

    def deliverable(self) -> list[tuple]:
        return list(self.ready())

    def ready(self) -> dict[tuple, None]:
        """The deliverable messages as ("deliver", src, dst, seq) events, in the order
        strategies draw from: kept up to date on send and receipt, rebuilt (in send order)
        only after what changes reachability. Read it, never change it."""
        if self._ready_stale:
            self._ready_stale = False
            self._ready = {}
            for envelope in self.network:
                self._admit(envelope)
        return self._ready

    def _admit(self, envelope: Envelope) -> None:
        if self._ready_stale:
            return
        src, dst, seq, _ = envelope
        network = self.network
        if self.can_receive(dst) and not network.cut(src, dst) \
                and (not self.fifo or network.is_head((src, dst, seq))):
            self._ready[("deliver", src, dst, seq)] = None

    def _admit_head(self, src: str, dst: str) -> None:
        """FIFO: the channel's message now oldest, if any, may be delivered."""
        head = self.network.head(src, dst)
        if head is not None:
            self._admit(head)

    def send(self, src: str, dst: str, msg: Any) -> None:
        self._admit(self.network.send(src, dst, msg))

    def enabled(self, kind: str) -> list[tuple]:
        """The events of one kind that may happen now, in the order strategies draw from."""
        return _ENABLED[kind](self)

    def any_enabled(self, kind: str) -> bool:
        """Whether `enabled(kind)` is not empty, found without building the list: a strategy
        asks it of every kind at every step, and builds the list of the kind it draws only."""
        return _ANY_ENABLED[kind](self)

    def clients_idle(self) -> bool:
        """Whether no client has an operation in progress."""
        return not self._busy

    def workload_done(self) -> bool:
        """Whether no client has an operation in progress or one left to invoke."""
        return not self._busy and not self._any_invoke()

    _enabled_deliver = deliverable

    def _any_deliver(self) -> bool:
        return bool(self.ready() if self._ready_stale else self._ready)

    def _enabled_fire(self) -> list[tuple]:
        return [("fire", node, name) for node, name in self.timers.earliest(self._down)]

    def _any_fire(self) -> bool:
        return self.timers.any_outside(self._down) if self._down else bool(self.timers.due)

    def _enabled_invoke(self) -> list[tuple]:
        return [("invoke", c) for c in self.clients if self._may_invoke(c)]

    def _any_invoke(self) -> bool:
        for client in self.clients:  # a loop, not any(): this runs at every step
            if self._may_invoke(client):
                return True
        return False

    def _may_invoke(self, client: str) -> bool:
        # the workload is read each time: tests extend it as a run goes
        return client not in self._busy \
            and self._next_op[client] < len(self.workload.get(client, ()))

    def _in_flight(self, kind: str) -> list[tuple]:
        if not self._any_in_flight(kind):
            return []
        return [(kind, *e.key) for e in self.network]

    def _any_in_flight(self, kind: str) -> bool:
        return self.budget[kind] > 0 and bool(self.network.in_flight)

    def _enabled_drop(self) -> list[tuple]:
        return self._in_flight("drop")

    def _any_drop(self) -> bool:
        return self._any_in_flight("drop")

    def _enabled_duplicate(self) -> list[tuple]:
        return [] if self.fifo else self._in_flight("duplicate")

    def _any_duplicate(self) -> bool:
        return not self.fifo and self._any_in_flight("duplicate")

    def _enabled_reset(self) -> list[tuple]:
        """One reset per connection with a message in flight, named by its nodes in order."""
        if not self._any_reset():
            return []
        pairs = dict.fromkeys(tuple(sorted(channel)) for channel in self.network.channels)
        return [("reset", a, b) for a, b in pairs]

    def _any_reset(self) -> bool:
        return self.fifo and self.budget["reset"] > 0 and bool(self.network.channels)

    def _enabled_crash(self) -> list[tuple]:
        if self.budget["crash"] <= 0:
            return []
        return [("crash", n) for n in self.servers if n not in self._down]

    def _any_crash(self) -> bool:
        return self.budget["crash"] > 0 and self._any_server_up()

    def _any_server_up(self) -> bool:
        return len(self._down) < len(self.servers)  # only servers crash

    def _enabled_restart(self) -> list[tuple]:
        return [("restart", n) for n in self.servers if n in self._down]

    def _any_restart(self) -> bool:
        return bool(self._down)  # only servers crash

    def _enabled_partition(self) -> list[tuple]:
        # the island is drawn by the strategy
        return [("partition", ())] if self._any_partition() else []

    def _any_partition(self) -> bool:
        return self.budget["partition"] > 0 and not self.network.partitioned

    def _enabled_heal(self) -> list[tuple]:
        return [("heal",)] if self.network.partitioned else []

    def _any_heal(self) -> bool:
        return self.network.partitioned

    def _enabled_pause(self) -> list[tuple]:
        if self.budget["pause"] <= 0:
            return []
        return [("pause", n, 0) for n in self.servers if self.can_receive(n)]

    def _any_pause(self) -> bool:
        if self.budget["pause"] <= 0:
            return False
        for node_id in self.servers:  # a loop, not any(): a strategy asks at every step
            if self.can_receive(node_id):  # up and not paused already
                return True
        return False

    def _enabled_skew(self) -> list[tuple]:
        if not self._any_skew():
            return []
        return [("skew", n, 0) for n in self.servers if n not in self._down]

    def _any_skew(self) -> bool:
        return self.budget["skew"] > 0 and self.epsilon != 0 and self._any_server_up()

    def _enabled_drift(self) -> list[tuple]:
        if not self._any_drift():
            return []
        return [("drift", n, 0) for n in self.servers if n not in self._down]

    def _any_drift(self) -> bool:
        return self.budget["drift"] > 0 and self.epsilon != 0 and self.max_drift != 0 \
            and self._any_server_up()

    def is_enabled(self, event: tuple) -> bool:
        """Whether a concrete event (as replayed from a trace) can happen now."""
        kind = event[0]
        if kind in MESSAGE_KINDS:
            key = tuple(event[1:])
            if key not in self.network.in_flight:
                return False
            if kind == "deliver":
                return self.can_receive(key[1]) and not self.network.cut(key[0], key[1]) \
                    and (not self.fifo or self.network.is_head(key))
            if kind == "duplicate" and self.fifo:
                return False
            return self.budget[kind] > 0
        if kind == "reset":
            return self.fifo and self.budget["reset"] > 0 and len(event) == 3 \
                and ((event[1], event[2]) in self.network.channels
                     or (event[2], event[1]) in self.network.channels)
        if kind == "partition":
            return bool(self._enabled_partition())
        if kind in ("pause", "skew", "drift"):
            return any(e[1] == event[1] for e in self.enabled(kind))
        return event in self.enabled(kind)

    def timer_before(self, event: tuple) -> tuple | None:
        """If `event` is a timer that is pending but not yet due, the one that fires first as
        time passes toward it; None if `event` is not such a timer (it is due, or gone)."""
        if event[0] != "fire" or not self.up(event[1]) or tuple(event[1:]) not in self.timers.due:
            return None
        earliest = self.enabled("fire")
        return None if not earliest or event in earliest else earliest[0]

    # --- doing it -------------------------------------------------------------------------

    def execute(self, event: tuple) -> None:
        kind = event[0]
        if kind in _FAULTS:
            self.fault_version += 1
            if kind in self.budget:
                self.budget[kind] -= 1
            if kind in _CHANGES_REACHABILITY:
                self._ready_stale = True
        if self._implied:
            phase, self._implied = "implied", False
        else:
            phase = self.phase
        try:
            detail = _DO[kind](self, *event[1:])
        except NodeFailure:  # the step that failed is the last of the trace
            self.trace.append(Step(event, self.time, None, phase))
            raise
        self.trace.append(Step(event, self.time, detail, phase))

    def invariant_state(self, name: str, make: Callable[[], Any]) -> Any:
        """State an invariant keeps for this run (what it has already read of the ghost
        record, say), made on first use; never seen by the nodes nor part of the run's
        identity."""
        try:
            return self._invariant_state[name]
        except KeyError:
            state = self._invariant_state[name] = make()
            return state

    def mark_implied(self) -> None:
        """The next event executed is implied by a later choice rather than chosen: it is kept
        in the trace but not among the `choices()` that replay the run."""
        self._implied = True

    def count_as_chosen(self, since: int) -> None:
        """The implied steps from trace index `since` on become chosen ones: the choice that
        implied them never ran, so only as choices do they replay."""
        for i in range(since, len(self.trace)):
            if self.trace[i].phase == "implied":
                self.trace[i] = attrs.evolve(self.trace[i], phase="run")

    def _do_deliver(self, src: str, dst: str, seq: int) -> Any:
        self._ready.pop(("deliver", src, dst, seq), None)
        msg = self.network.take((src, dst, seq)).msg
        if self.fifo:
            self._admit_head(src, dst)
        self._call(dst, self.nodes[dst].on_message, src, msg)
        return msg

    def _do_drop(self, src: str, dst: str, seq: int) -> Any:
        self._ready.pop(("deliver", src, dst, seq), None)
        msg = self.network.take((src, dst, seq)).msg
        if self.fifo:
            self._admit_head(src, dst)
        return msg

    def _do_reset(self, a: str, b: str) -> int:
        """The connection between a and b breaks: returns how many messages were lost."""
        lost = self.network.reset(a, b)
        for envelope in lost:
            self._ready.pop(("deliver", *envelope.key), None)
        for node_id in dict.fromkeys((a, b)):
            node = self.nodes[node_id]
            if node is not None:
                self._call(node_id, node.on_reset, b if node_id == a else a)
        return len(lost)

    def _do_duplicate(self, src: str, dst: str, seq: int) -> Any:
        copy = self.network.duplicate((src, dst, seq))
        self._admit(copy)
        return copy.msg

    def _do_fire(self, node_id: str, name: str) -> None:
        self.time = max(self.time, self.timers.due.pop((node_id, name)))
        if self.paused_until:
            self._end_pauses()
        self._call(node_id, self.nodes[node_id].on_timer, name)

    def _end_pauses(self) -> None:
        """The paused nodes whose pause is over receive again."""
        ended = [n for n, until in self.paused_until.items() if until <= self.time]
        for node in ended:
            del self.paused_until[node]
            self._ready_stale = True
            self.fault_version += 1

    def _do_invoke(self, client: str) -> tuple:
        f, args = self.workload[client][self._next_op[client]]
        self._next_op[client] += 1
        self._call(client, self.nodes[client].invoke, f, args)
        return (f, args)

    def _set_node(self, node_id: str, node: Node | None) -> None:
        self.nodes[node_id] = node
        if node is None:
            self._down.add(node_id)
        else:
            self._down.discard(node_id)

    def _do_crash(self, node_id: str) -> int:
        self._set_node(node_id, None)
        self.timers.clear_node(node_id)
        self.paused_until.pop(node_id, None)
        return self.contexts[node_id].storage.lose_unsynced()

    def _do_restart(self, node_id: str) -> None:
        node = self._factories[node_id](node_id)
        self._set_node(node_id, node)
        self._call(node_id, node.on_recover)

    def _do_partition(self, island: tuple) -> None:
        self.network.partition(list(island))

    def _do_heal(self) -> None:
        self.network.heal()

    def _do_pause(self, node_id: str, ticks: int) -> None:
        self.paused_until[node_id] = self.time + ticks
        self.timers.postpone_node(node_id, self.time + ticks)

    def _do_skew(self, node_id: str, offset: int) -> None:
        self.contexts[node_id].offset = max(-self.epsilon, min(self.epsilon, offset))

    def _do_drift(self, node_id: str, rate: int) -> None:
        self.contexts[node_id].drift(max(-self.max_drift, min(self.max_drift, rate)))

    # --- clients and histories ------------------------------------------------------------

    def record(self, process: str, type_: str, f: str, value: Any) -> None:
        self.history.append(Event(process, type_, f, value, self.time))

    def operations(self) -> list[Operation]:
        return pair(self.history)

    # --- the ending -----------------------------------------------------------------------

    def ending_began(self, default: int | None = None) -> int | None:
        """The time of the ending's first step, or `default` until it has taken one."""
        since = itertools.islice(self.trace, self._ending_from, None)
        return next((step.time for step in since if step.phase == "quiesce"), default)

    def rest_began(self, default: int | None = None) -> int | None:
        """The time the ending's rest began (see `quiesce`), or `default` if it has not."""
        return default if self._resting_since is None else self._resting_since

    def quiesce(self, horizon: int, max_steps: int,
                after_step: Callable[[], bool] = lambda: False, rest: int = 0) -> None:
        """Heal, restart, stop faulting; deliver everything; let timers settle; final reads;
        then, with `rest`, let that much time pass at rest.

        Deterministic: deliveries in send order, timers in due order. `after_step` is called
        after every step and returns True to stop early (an invariant was violated). The rest
        runs only if the final operations are done (an operation still under way must not
        finish in it): no faults, no operations, only the deliveries and timers the nodes
        bring about, so that what a system does when nothing is asked of it is judged too.
        """
        self.phase, self._ending_from = "quiesce", len(self.trace)
        self.budget = dict.fromkeys(self.budget, 0)
        self.fault_version += 1
        for event in self._healing_events():
            self.execute(event)
        deadline = self.time + horizon
        steps = [max_steps]
        if self._settle(deadline, steps, after_step) \
                or self._final_operations(deadline + horizon, steps, after_step):
            return
        if rest and self.clients_idle():
            self._resting_since = self.time
            self._settle(self.time + rest, steps, after_step, until_idle=False)

    def _final_operations(self, deadline: int, steps: list[int],
                          after_step: Callable[[], bool]) -> bool:
        """Each idle client's final operation, settled in turn; True if a check stopped it."""
        for client, f, args in self.final_ops:
            if not self.nodes[client].idle:
                continue
            # the final read is the client's next operation; unissued workload is abandoned
            self.workload[client] = [*self.workload.get(client, [])[:self._next_op[client]],
                                     (f, args)]
            self.execute(("invoke", client))
            if after_step() or self._settle(deadline, steps, after_step):
                return True
        return False

    def _healing_events(self) -> list[tuple]:
        events: list[tuple] = [("heal",)] if self.network.partitioned else []
        return events + [("restart", n) for n in self.servers if not self.up(n)]

    def _settle(self, deadline: int, steps: list[int], after_step: Callable[[], bool],
                until_idle: bool = True) -> bool:
        """Deliver in send order, else fire the earliest timer due by `deadline`; stop once
        neither is left or (`until_idle`) nothing is in flight and the clients are idle. True
        if a check stopped it."""
        self.paused_until.clear()
        self._ready_stale = True
        self.fault_version += 1
        while steps[0] > 0:
            steps[0] -= 1
            first = next(iter(self.ready()), None)
            if first is not None:
                self.execute(first)
            elif until_idle and self.clients_idle():
                return False
            else:
                timers = self._enabled_fire()
                if not timers or self.timers.due[timers[0][1:]] > deadline:
                    return False
                self.execute(timers[0])
            if after_step():
                return True
        return False

    # --- identity -------------------------------------------------------------------------

    def fingerprint(self) -> str:
        """A hash of everything that happened, stable across processes and PYTHONHASHSEED."""
        h = hashlib.blake2b(digest_size=12)
        for step in self.trace:
            h.update(repr((step.event, step.time, step.detail, step.phase)).encode())
        for event in self.history:
            h.update(repr(event).encode())
        return h.hexdigest()

    def choices(self) -> list[tuple]:
        """The events that replay this run: those chosen, and implied ones left at the end of
        the run by a choice that never came to run (the run ended while time passed)."""
        return [step.event for step in self.chosen_steps()]

    def chosen_steps(self) -> list[Step]:
        """The trace's steps whose events are the run's `choices()`."""
        steps = [step for step in self.trace if step.phase in ("run", "implied")]
        last_chosen = max((i for i, step in enumerate(steps) if step.phase == "run"), default=-1)
        return [step for i, step in enumerate(steps) if step.phase == "run" or i > last_chosen]


_DO: dict[str, Callable[..., Any]] = {kind: getattr(Simulation, "_do_" + kind) for kind in KINDS}
_ENABLED: dict[str, Callable[[Simulation], list[tuple]]] = {
    kind: getattr(Simulation, "_enabled_" + kind) for kind in KINDS}
_ANY_ENABLED: dict[str, Callable[[Simulation], bool]] = {
    kind: getattr(Simulation, "_any_" + kind) for kind in KINDS}


def any_enabled_test(kind: str) -> Callable[[Simulation], bool]:
    """`Simulation.any_enabled` for one kind, as a function of the simulation: for a strategy
    that asks the same kinds at every step."""
    return _ANY_ENABLED[kind]


def _mix(seed: int, index: int) -> int:
    """A per-node seed derived from the run's seed, independent of hashing."""
    return int.from_bytes(hashlib.blake2b(f"{seed}/{index}".encode(), digest_size=8).digest(),
                          "big")
