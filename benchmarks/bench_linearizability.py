"""Time the linearizability checker: `python benchmarks/bench_linearizability.py`.

The histories are files under `benchmarks/histories/`, written from fixed seeds the first time
(delete one to write it anew), so that every run times the same ones. Each comes from a
simulated store whose every op takes effect at a random instant between its call and its
return; a few ops are `info` (the client crashed): half of those take effect later, half
never.

- Register and kv (100 keys): the histories of this benchmark's first version. The
  "corrupted" variant makes one read return a value never written.
- The append key-value store of the Raft labs (`append-kv`: get, put, append on strings),
  with 1, 10 and 50 clients and as many keys as clients, each op on a random key: 2,000 ops
  checked split by key, and 400 ops checked as one map (`AppendKV(by_key=False)`). Besides
  the correct store, one with a planted stale read and one with a planted lost append
  (`simulate_append_kv`), each certainly not linearizable. They are EDN with the key as a
  field of its own, read as `deepdives check FILE --model append-kv` reads them.

`--long` measures instead the peak memory and the time of a check of long register histories
(100,000 and 400,000 ops by default, `--sizes` to change), each in a child process of its own,
and how long a check with `max_seconds=0.5` takes to answer on them.
"""

from __future__ import annotations

import argparse
import functools
import gc
import heapq
import itertools
import json
import random
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.results import markdown_table, write_section
from checker.check_cmd import MODELS, as_model_calls, with_event_keys
from checker.historyio import load_history
from invariants.history import FAIL, INFO, OK, Operation, pair
from invariants.linearizability import check_linearizable
from models.appendkv import AppendKV
from models.kv import KV
from models.sequential import Register, SequentialModel

Invocation = tuple[str, Any]  # (f, args)


@attrs.frozen
class _Planned:
    process: str
    call: int
    ret: int | None
    effect: float | None  # when the store applies it; None: never
    status: str
    f: str
    args: Any


def simulate(model: SequentialModel, invoke: Callable[[random.Random], Invocation],
             n_ops: int, processes: int, info_rate: float, rng: random.Random) -> list[Operation]:
    """`n_ops` ops from `processes` clients, each running one op at a time."""
    planned = _plan(invoke, n_ops, processes, info_rate, rng)
    results = _results_at_effect_points(model, planned)
    return [Operation(i, op.process, op.f, op.args, results.get(i) if op.status == OK else None,
                      op.status, op.call, op.ret)
            for i, op in enumerate(planned)]


def _plan(invoke: Callable[[random.Random], Invocation], n_ops: int, processes: int,
          info_rate: float, rng: random.Random) -> list[_Planned]:
    clients = [(rng.randint(0, 100), slot, 0) for slot in range(processes)]  # (free at, ...)
    heapq.heapify(clients)
    planned = []
    while len(planned) < n_ops:
        call, slot, incarnation = heapq.heappop(clients)
        ret: int | None = call + rng.randint(1, 100)
        effect: float | None = rng.uniform(call, ret)
        status = OK
        if rng.random() < info_rate:  # the client crashes: a fresh one takes its slot
            status, ret, incarnation = INFO, None, incarnation + 1
            effect = rng.uniform(call, call + 1000) if rng.random() < 0.5 else None
        planned.append(_Planned(f"p{slot}.{incarnation}", call, ret, effect, status,
                                *invoke(rng)))
        heapq.heappush(clients, ((ret or call) + rng.randint(1, 50), slot, incarnation))
    return planned


def _results_at_effect_points(model: SequentialModel, planned: list[_Planned]) -> dict[int, Any]:
    """Run the ops that take effect through the model, in order of their effect."""
    state: Hashable = model.initial()
    results = {}
    for _, i in sorted((op.effect, i) for i, op in enumerate(planned) if op.effect is not None):
        results[i], state = model.apply(state, planned[i].f, planned[i].args)[0]
    return results


def kv_invocation(keys: int) -> Callable[[random.Random], Invocation]:
    def invoke(rng: random.Random) -> Invocation:
        key, roll = rng.randrange(keys), rng.random()
        if roll < 0.5:
            return "read", (key,)
        if roll < 0.8:
            return "write", (key, rng.randrange(5))
        return "cas", (key, rng.choice([None, *range(5)]), rng.randrange(5))
    return invoke


def register_invocation(rng: random.Random) -> Invocation:
    roll = rng.random()
    if roll < 0.5:
        return "read", None
    if roll < 0.8:
        return "write", rng.randrange(5)
    return "cas", (rng.randrange(5), rng.randrange(5))


def corrupt_one_read(ops: list[Operation], rng: random.Random) -> list[Operation]:
    reads = [op for op in ops if op.f == "read" and op.status == OK]
    victim = rng.choice(reads[len(reads) // 3: 2 * len(reads) // 3])
    wrong = "corrupted"
    return [Operation(op.id, op.process, op.f, op.args, wrong, op.status, op.call, op.ret)
            if op is victim else op for op in ops]


def main(only: str | None = None) -> None:
    """Time every history under `HISTORIES` (written first if missing); `only`: names
    containing it."""
    rows = []
    for case in cases():
        if only and only not in case.name:
            continue
        ops, model = case.load()
        rows.append(bench(case, ops, model))
    header = ["history", "clients", "ops", "info", "partitions", "time", "verdict",
              "search steps"]
    write_section("Linearizability checker",
                  "python benchmarks/bench_linearizability.py",
                  "Histories are files under `benchmarks/histories/`, written by this script "
                  "from fixed seeds if missing, so that every run times the same ones; the "
                  "time is the best of three checks (one, if it took over a second; the file "
                  f"read once, not timed), with a budget of {BUDGET_SECONDS:.0f} s. "
                  "Append-kv histories are EDN with the key as a field of its own, read as "
                  "`deepdives check --model append-kv` reads them; *whole map* is one search "
                  "over the map, without splitting it by key.\n\n"
                  + markdown_table(header, rows))


# -- the histories, as files ----------------------------------------------------------------

HISTORIES = Path(__file__).resolve().parent / "histories"
APPEND_KV_INFO_RATE = 0.005
APPEND_KV_BUGS = ("stale-read", "lost-append")


@attrs.frozen
class Case:
    """One timed history: its file, how to write it, and the model it is checked against."""

    name: str
    file: str
    clients: int
    model: str  # a `deepdives check --model` name
    write: Callable[[Path], None]
    whole_map: bool = False  # append-kv only: check the map as one object
    corrupt: bool = False  # derive it from the file by `corrupt_one_read` (seed 7)

    def load(self) -> tuple[list[Operation], SequentialModel]:
        path = HISTORIES / self.file
        if not path.exists():
            HISTORIES.mkdir(exist_ok=True)
            self.write(path)
        history = load_history(path)
        spec = MODELS[self.model]
        ops = pair(history.events)
        if spec.keyed and history.keys:
            ops = with_event_keys(ops, history)
        calls = as_model_calls(ops, spec)
        if self.corrupt:
            calls = corrupt_one_read(calls, random.Random(7))
        model = AppendKV(by_key=False) if self.whole_map else spec.make()
        return calls, model


def cases() -> list[Case]:
    registers = _register_writers()
    listed = [
        Case("kv 100 keys, 5 clients", "kv-100keys-5c.jsonl", 5, "kv", registers["kv5"]),
        Case("kv 100 keys, 5 clients, corrupted", "kv-100keys-5c.jsonl", 5, "kv",
             registers["kv5"], corrupt=True),
        Case("kv 100 keys, 10 clients", "kv-100keys-10c.jsonl", 10, "kv", registers["kv10"]),
        Case("kv 100 keys, 10 clients, corrupted", "kv-100keys-10c.jsonl", 10, "kv",
             registers["kv10"], corrupt=True),
        Case("register, 10 clients", "register-10c.jsonl", 10, "register",
             registers["register"]),
        Case("register, 10 clients, corrupted", "register-10c-corrupted.jsonl", 10,
             "register", registers["register-corrupted"]),
    ]
    for n_ops, whole_map in ((2_000, False), (400, True)):
        for clients in (1, 10, 50):
            for bug in (None, *APPEND_KV_BUGS):
                file = f"append-kv-{clients}c-{n_ops}.{bug or 'correct'}.edn"
                name = f"append-kv, {'whole map' if whole_map else 'by key'}, " \
                       f"{bug or 'correct'}"
                listed.append(Case(name, file, clients, "append-kv",
                                   _append_kv_writer(n_ops, clients, bug), whole_map))
    return listed


def _register_writers() -> dict[str, Callable[[Path], None]]:
    """The register and kv histories of this benchmark's first version, from one seeded rng
    in its order: kv 5 clients, its corruption, kv 10 clients, its corruption, register."""
    @functools.cache
    def generate() -> dict[str, list[Operation]]:
        rng = random.Random(42)
        made = {}
        for key, model, invoke, n_ops, processes in (
                ("kv5", KV(), kv_invocation(100), 10_000, 5),
                ("kv10", KV(), kv_invocation(100), 10_000, 10),
                ("register", Register(), register_invocation, 1_000, 10)):
            made[key] = simulate(model, invoke, n_ops, processes, info_rate=0.01, rng=rng)
            made[key + "-corrupted"] = corrupt_one_read(made[key], rng)
        return made

    def writer(key: str) -> Callable[[Path], None]:
        return lambda path: write_jsonl(path, generate()[key])
    return {key: writer(key) for key in ("kv5", "kv10", "register", "register-corrupted")}


def write_jsonl(path: Path, ops: list[Operation]) -> None:
    """The ops as JSON lines, in real-time order (a completion before a call at one time)."""
    lines = []
    for time_, _, _, event in _events_in_order(ops):
        event["time"] = time_
        lines.append(json.dumps(event, separators=(",", ":")))
    path.write_text("\n".join(lines) + "\n")


def _events_in_order(ops: list[Operation]) -> list[tuple[int, int, Operation, dict]]:
    """(time, 0 for a completion or 1 for a call, op, event), sorted."""
    events = []
    for op in ops:
        events.append((op.call, 1, op, {"process": op.process, "type": "invoke", "f": op.f,
                                        "value": _jsonable(op.args)}))
        if op.ret is not None:
            events.append((op.ret, 0, op, {"process": op.process, "type": op.status, "f": op.f,
                                           "value": _jsonable(op.result)}))
    events.sort(key=lambda event: event[:2])
    return events


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# -- the append key-value store of the Raft labs ---------------------------------------------

def _append_kv_writer(n_ops: int, clients: int, bug: str | None) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        seed = 1000 * clients + n_ops
        ops = simulate_append_kv(n_ops, clients, clients, random.Random(seed), bug)
        write_edn(path, ops, clients)
    return write


def append_kv_invocation(keys: int) -> Callable[[random.Random], Invocation]:
    """get 45%, append 45%, put 10%; every value written is unique ("x 17 y", "put 18")."""
    counter = itertools.count()

    def invoke(rng: random.Random) -> Invocation:
        key, roll, n = f"k{rng.randrange(keys)}", rng.random(), next(counter)
        if roll < 0.45:
            return "get", (key,)
        if roll < 0.9:
            return "append", (key, f"x {n} y")
        return "put", (key, f"put {n} ")
    return invoke


def simulate_append_kv(n_ops: int, clients: int, keys: int, rng: random.Random,
                       bug: str | None = None) -> list[Operation]:
    """A store whose every op takes effect at one instant inside its interval; with `bug`,
    one get returns a stale value ("stale-read") or one acknowledged append is lost
    ("lost-append"), chosen so that no linearization can explain it (`_plant_site`).

    The benchmark uses as many keys as clients, each op on a key drawn at random, as the Raft
    labs' tests with random keys do: a few clients contend for a key at any time."""
    model = AppendKV()
    planned = _plan(append_kv_invocation(keys), n_ops, clients, APPEND_KV_INFO_RATE, rng)
    lost = None
    if bug == "lost-append":
        lost, _ = _plant_site(planned, rng)
        planned[lost] = attrs.evolve(planned[lost], effect=None)
    results = _results_at_effect_points(model, planned)
    if bug == "stale-read":
        append, get = _plant_site(planned, rng)
        results[get] = _value_before(model, planned, append)
    return [Operation(i, op.process, op.f, op.args, results.get(i) if op.status == OK else None,
                      op.status, op.call, op.ret)
            for i, op in enumerate(planned)]


def _plant_site(planned: list[_Planned], rng: random.Random) -> tuple[int, int]:
    """An acknowledged append and the first get of its key called after it returned, in the
    middle third of the history if it can be, with no put of that key overlapping them: every
    linearization then puts the append before the get and no put between, so the get must
    see the append's value. Losing the append, or answering the get with the value from
    before it, cannot be linearized."""
    third = len(planned) // 3
    sites = _sites(planned, range(third, 2 * third)) or _sites(planned, range(len(planned)))
    return rng.choice(sites)


def _sites(planned: list[_Planned], appends: range) -> list[tuple[int, int]]:
    sites = []
    for i in appends:
        append = planned[i]
        if append.f != "append" or append.status != OK:
            continue
        key = append.args[0]
        get = next((j for j, op in enumerate(planned) if op.f == "get" and op.status == OK
                    and op.args[0] == key and op.call > append.ret), None)
        if get is not None and not any(
                op.f == "put" and op.args[0] == key and op.call <= planned[get].ret
                and (op.ret is None or op.ret >= append.call) for op in planned):
            sites.append((i, get))
    return sites


def _value_before(model: AppendKV, planned: list[_Planned], append: int) -> str:
    """The key's value just before the append took effect."""
    key, state = planned[append].args[0], model.initial()
    for _, i in sorted((op.effect, i) for i, op in enumerate(planned) if op.effect is not None):
        if i == append:
            break
        state = model.apply(state, planned[i].f, planned[i].args)[0][1]
    return dict(state).get(key, "")


def write_edn(path: Path, ops: list[Operation], clients: int) -> None:
    """Jepsen-style EDN, one event map a line, the key a field of its own; processes are
    numbers, a crashed client's successor numbered `clients` higher."""
    lines = []
    for index, (time_, _, op, event) in enumerate(_events_in_order(ops)):
        slot, incarnation = op.process[1:].split(".")
        process = int(slot) + clients * int(incarnation)
        key = op.args[0]
        value = (op.args[1:] or [None])[0] if event["type"] == "invoke" else op.result
        lines.append(f"{{:index {index}, :time {time_}, :type :{event['type']}, "
                     f":process {process}, :f :{event['f']}, :key {_edn(key)}, "
                     f":value {_edn(value)}}}")
    path.write_text("\n".join(lines) + "\n")


def _edn(value: Any) -> str:
    return "nil" if value is None else json.dumps(value)


def bench(case: Case, ops: list[Operation], model: SequentialModel) -> list[str]:
    times, verdict = [], None
    for _ in range(3):
        start = time.perf_counter()
        verdict = check_linearizable(ops, model, max_steps=None, max_seconds=BUDGET_SECONDS)
        times.append(time.perf_counter() - start)
        if times[-1] > 1:
            break
    elapsed = min(times)
    info = sum(op.status == INFO for op in ops)
    summary = verdict.explanation.splitlines()[-1]
    steps = re.search(r"(\d+) search steps", verdict.explanation)
    parts = len(model.partition([op for op in ops if op.status != FAIL]))
    print(f"{case.name:<40} {case.clients:>3}c {len(ops):>6} ops ({info:>3} info) "
          f"{parts:>4} parts {elapsed * 1000:8.1f} ms  {verdict.status:<8}  {summary[:70]}")
    return [case.name, str(case.clients), str(len(ops)), str(info), str(parts),
            f"{elapsed * 1000:.0f} ms", verdict.status, steps.group(1) if steps else "-"]


BUDGET_SECONDS = 30.0  # per check: past it, `unknown`



# -- long histories: memory ---------------------------------------------------------------

LONG_CLIENTS, LONG_INFO_RATE, LONG_BUDGET = 5, 0.002, 0.5
MEMORY_CAP_GB = 3  # the child's address space: past it, MemoryError rather than swapping

# Measured once with the search this benchmark was written for (commit 32999e8: a memo entry
# held a bitset of every op, `1 << i` per op), same histories, same cap: the full check, its
# peak RSS, and the check with `max_seconds=0.5`.
BEFORE = {
    100_000: ("47.2 s, ok", "1,759 MB", "0.68 s, unknown"),
    400_000: ("MemoryError after 4.7 s", "3,066 MB (the cap)", "MemoryError after 4.1 s"),
}


def long_history(n_ops: int, seed: int = 1) -> list[Operation]:
    """A register history from 5 clients, 1 op in 500 crashed (`info`).

    A crashed read is recorded as `fail`, as Jepsen does: a read changes nothing, so whether
    it happened does not matter (an `info` read would only be retried at every dead end).
    """
    ops = simulate(Register(), register_invocation, n_ops, LONG_CLIENTS, LONG_INFO_RATE,
                   random.Random(seed))
    return [attrs.evolve(op, status=FAIL) if op.status == INFO and op.f == "read" else op
            for op in ops]


def _rss_mb() -> float:
    """The resident set size now (Linux), else the peak so far."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_long(n_ops: int) -> dict:
    """In this process (a child of its own): build the history, check it, measure."""
    cap = MEMORY_CAP_GB * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    ops = long_history(n_ops)
    gc.collect()
    result: dict[str, Any] = {"ops": len(ops), "info": sum(op.status == INFO for op in ops),
                              "history_mb": _rss_mb()}
    for name, budget in (("full", {"max_steps": None}), ("budget", {"max_seconds": LONG_BUDGET})):
        start = time.perf_counter()
        try:
            verdict = check_linearizable(ops, Register(), **budget)
            outcome = verdict.explanation.splitlines()[-1]
        except MemoryError:
            verdict, outcome = None, "MemoryError"
        steps = re.search(r"(\d+) search steps", outcome)
        result[name] = {"seconds": time.perf_counter() - start, "outcome": outcome,
                        "status": verdict.status if verdict else "MemoryError",
                        "steps": int(steps.group(1)) if steps else None}
        if name == "full":
            result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        gc.collect()
    return result


def long_histories(sizes: list[int]) -> None:
    rows = []
    for n_ops in sizes:
        child = subprocess.run([sys.executable, __file__, "--child", str(n_ops)],
                               capture_output=True, text=True, check=True)
        got = json.loads(child.stdout.splitlines()[-1])
        full, budget = got["full"], got["budget"]
        print(f"{n_ops:>7} ops ({got['info']} info): check {full['seconds']:.1f} s, "
              f"{full['outcome']}; peak RSS {got['peak_mb']:.0f} MB (the history alone "
              f"{got['history_mb']:.0f} MB); max_seconds={LONG_BUDGET}: answered in "
              f"{budget['seconds']:.2f} s, {budget['outcome']}")
        before = BEFORE.get(n_ops, ("-", "-", "-"))
        rows.append([f"{n_ops:,}", str(got["info"]), f"{full['steps'] or 0:,}",
                     f"{full['seconds']:.1f} s, {full['status']}",
                     f"{got['peak_mb']:,.0f} MB ({got['history_mb']:,.0f} MB)",
                     f"{budget['seconds']:.2f} s, {budget['status']}", *before])
    header = ["ops", "info", "search steps", "check", "peak RSS (the history alone)",
              f"max_seconds={LONG_BUDGET}", "before: check", "before: peak RSS",
              f"before: max_seconds={LONG_BUDGET}"]
    write_section("Linearizability checker: long histories",
                  "python benchmarks/bench_linearizability.py --long",
                  f"Register, {LONG_CLIENTS} clients, 1 op in {round(1 / LONG_INFO_RATE)} "
                  f"`info` (crashed reads as `fail`); each size in a child process capped at "
                  f"{MEMORY_CAP_GB} GB of address space. Peak RSS is the process's, history "
                  f"included (in brackets, the RSS once the history is built). "
                  f"`max_seconds={LONG_BUDGET}`: how long the check took to answer `unknown`, "
                  f"the history in memory. Search steps grow faster than the history: every "
                  f"dead end walks past the `info` ops still pending (crashed cas that never "
                  f"need to take effect), and there are more of them the longer the history."
                  f"\n\n" + markdown_table(header, rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true",
                        help="only the long histories: peak memory and time")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 400_000],
                        help="history lengths for --long")
    parser.add_argument("--only", help="time only the histories whose name contains this")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_long(args.child)))
    elif args.long:
        long_histories(args.sizes)
    else:
        main(args.only)
