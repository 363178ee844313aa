"""Search, replay, shrinking, replay files and reports, tested on the toy counter system."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

from checker import report
from checker.client import Client
from checker.hunt import Budget, hunt, write_counterexample
from checker.hypothesis_adapter import hypothesis_hunt
from checker.node import Context, Node
from checker.recovery import bounded_recovery
from checker.replayfile import Counterexample, ReplayFileError, load, parse
from checker.run import execute, new_simulation
from checker.shrink import Replays, ddmin, drop_alike, minimize, one_pass, shrink
from checker.sim import Cluster
from checker.strategies import RandomWalk, Replay
from checker.system import Config, System, Variant, state_invariant
from invariants.history import Event
from tests.toys import COUNTER, Counter, acked_puts_durable
from tests.toys_explore import COMMIT

CONFIG = COUNTER.configs["default"]


def first_violation(variant: str = "forgetful", seeds: range = range(200)):
    for seed in seeds:
        result = execute(COUNTER, variant, CONFIG, seed, RandomWalk(seed))
        if result.violated:
            return result
    raise AssertionError("no violation found")


def test_random_walk_finds_the_seeded_bug_and_not_in_the_correct_variant() -> None:
    assert first_violation().verdict.invariant == "acked-puts-durable"
    for seed in range(200):
        assert not execute(COUNTER, "correct", CONFIG, seed, RandomWalk(seed)).violated


def test_same_seed_same_trace() -> None:
    a = execute(COUNTER, "forgetful", CONFIG, 11, RandomWalk(11))
    b = execute(COUNTER, "forgetful", CONFIG, 11, RandomWalk(11))
    assert a.sim.fingerprint() == b.sim.fingerprint()
    assert a.sim.fingerprint() != execute(COUNTER, "forgetful", CONFIG, 12,
                                          RandomWalk(12)).sim.fingerprint()


def test_replaying_the_choices_reproduces_the_run_exactly() -> None:
    found = first_violation()
    again = execute(COUNTER, "forgetful", CONFIG, found.seed, Replay(found.choices))
    assert again.verdict == found.verdict
    assert again.sim.fingerprint() == found.sim.fingerprint()


def test_ddmin_finds_a_one_minimal_subsequence() -> None:
    def fails(candidate: list) -> list | None:
        return candidate if {3, 7, 12} <= set(candidate) else None
    assert ddmin(list(range(40)), fails) == [3, 7, 12]


def test_minimize_keeps_the_whole_lists_result_when_the_cut_leads_further() -> None:
    """The shortest failing prefix ends at 3 and shrinks to [1, 2, 3]; the whole list holds
    a one-item failure, found within the replays the cut took (labelled by tens, as choices
    are by kind), and the shrink ends well within its budget."""
    calls = []

    def fails(candidate: list) -> list | None:
        calls.append(candidate)
        return candidate if {1, 2, 3} <= set(candidate) or 50 in candidate else None
    budget = Replays(spent=0, limit=1000)
    assert minimize(list(range(60)), lambda c: fails(c) if budget.take() else None,
                    lambda item: item // 10, budget) == [50]
    assert len(calls) == budget.spent < 100


def test_minimize_is_one_minimal_where_a_single_sweep_is_not() -> None:
    """7 is needed while 2 is there, and 2 is not needed: the sweep from the end tries 7
    first, keeps it, then removes 2; a second sweep removes 7. Every other event is needed,
    and chunks of two or more always hold one."""
    needed = {0, 1, 3, 4, 5, 6, 8, 9}

    def fails(candidate: list) -> list | None:
        return candidate if needed <= set(candidate) and (7 in candidate or
                                                           2 not in candidate) else None
    assert ddmin(list(range(10)), fails) == sorted(needed | {7})
    assert minimize(list(range(10)), fails, lambda item: item // 10,
                    Replays(spent=0, limit=1000)) == sorted(needed)


def test_minimize_keeps_what_starting_over_finds_when_it_is_shorter() -> None:
    """Going on after removing the b's, one pass removes c, which leaves the a's needed;
    starting over tries the a's again first, and they go, which leaves [c, x]: a list the
    first result does not contain, so no removal from it could reach it. Without `thorough`
    (the hunt's budget) the first result stands."""
    def fails(candidate: list) -> list | None:
        a, b, c = (candidate.count(name) for name in "abc")
        allowed = a in (0, 3) and b in (0, 2) and (a, b) != (0, 2) and (a, c) != (0, 0)
        return candidate if "x" in candidate and allowed else None

    items = ["a", "b", "a", "b", "a", "c", "x"]
    assert one_pass(items, fails, lambda item: item) == ["a", "a", "a", "x"]
    assert minimize(items, fails, lambda item: item, Replays(spent=0, limit=1000)) == ["c", "x"]
    assert minimize(items, fails, lambda item: item, Replays(spent=0, limit=1000),
                    thorough=False) == ["a", "a", "a", "x"]


def test_minimize_spends_no_more_than_its_budget() -> None:
    budget = Replays(spent=0, limit=5)
    shrunk = minimize(list(range(60)),
                      lambda c: (c if 50 in c else None) if budget.take() else None,
                      lambda item: item, budget)
    assert budget.spent == 5 and 50 in shrunk


def test_shrinking_keeps_the_violation_and_is_one_minimal() -> None:
    found = first_violation()
    shrunk = shrink(COUNTER, "forgetful", CONFIG, found.seed, found.choices,
                    found.verdict.invariant)
    assert shrunk.after <= shrunk.before and shrunk.result.violated
    assert shrunk.result.verdict.invariant == "acked-puts-durable"
    choices = shrunk.result.choices
    for i in range(len(choices)):  # removing any single event loses the violation
        fewer = choices[:i] + choices[i + 1:]
        assert not execute(COUNTER, "forgetful", CONFIG, found.seed, Replay(fewer)).violated


def test_the_hypothesis_strategy_finds_and_replays_the_bug() -> None:
    result, examples = hypothesis_hunt(COUNTER, "forgetful", CONFIG, 3, Budget(runs=300))
    assert result is not None and result.violated and examples <= 300
    again = execute(COUNTER, "forgetful", result.config, result.seed, Replay(result.choices))
    assert again.violated and again.sim.fingerprint() == result.sim.fingerprint()
    assert hypothesis_hunt(COUNTER, "correct", CONFIG, 3, Budget(runs=20))[0] is None


def test_the_hypothesis_strategy_stops_when_its_time_is_up() -> None:
    quiet = attrs.evolve(COMMIT.configs["small"], faults={})
    result, examples = hypothesis_hunt(COMMIT, "correct", quiet, 0,
                                       Budget(runs=10**6, seconds=0.5))
    assert result is None and 0 < examples < 10**6


HYPOTHESIS_RUN = """
{imports}
from checker.hypothesis_adapter import hypothesis_hunt
from tests.toys import COUNTER
from checker.hunt import Budget
result, examples = hypothesis_hunt(COUNTER, "forgetful", COUNTER.configs["default"], 0,
                                   Budget(runs=40))
print(examples, result.sim.fingerprint() if result else None)
"""


def test_the_hypothesis_strategy_does_not_depend_on_what_the_process_imported() -> None:
    """Hypothesis draws constants from the local modules loaded so far; the hunt must not."""
    outputs = set()
    for imports in ("", "import tests.test_explore, tests.test_external, tests.test_cli"):
        done = subprocess.run([sys.executable, "-c", HYPOTHESIS_RUN.format(imports=imports)],
                              capture_output=True, text=True, check=True,
                              cwd=Path(__file__).resolve().parent.parent)
        outputs.add(done.stdout)
    assert len(outputs) == 1


def test_hunt_writes_a_replay_file_that_loads_and_reproduces(tmp_path: Path) -> None:
    outcome = hunt(COUNTER, "forgetful", CONFIG, budget=Budget(runs=200), report_dir=tmp_path)
    assert outcome.passed and outcome.verdict == "found"
    example = load(outcome.replay_path)
    again = execute(COUNTER, example.variant, example.config, example.seed,
                    Replay(example.choices))
    assert (again.verdict.invariant, again.verdict.status) == (example.invariant, "violated")
    text = Path(outcome.report_path).read_text()
    assert "```mermaid" in text and "deepdives replay" in text
    assert f"{outcome.after} chosen events (shrunk from {outcome.before})" in text


def test_correct_variant_hunt_passes_when_clean() -> None:
    outcome = hunt(COUNTER, "correct", CONFIG, budget=Budget(runs=50))
    assert outcome.passed and outcome.verdict == "clean" and outcome.runs == 50


def _valid_file() -> dict:
    found = first_violation()
    return Counterexample("counter", "forgetful", CONFIG, found.seed, found.choices,
                          "acked-puts-durable", "violated").to_json()


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(version=99), "version 99 is not supported"),
    (lambda d: d.update(format="x"), "not a deepdives replay file"),
    (lambda d: d.update(seed="7"), "field 'seed' must be a int"),
    (lambda d: d["choices"].append(["teleport", "n1"]), "expected [kind, ...]"),
    (lambda d: d["choices"].append(["deliver", "a", "b"]), "deliver takes (str, str, int)"),
    (lambda d: d["config"].update(colour=1), "unknown config field 'colour'"),
])
def test_bad_replay_files_say_what_is_wrong(edit, message: str) -> None:
    data = _valid_file()
    edit(data)
    with pytest.raises(ReplayFileError, match=None) as info:
        parse(data)
    assert message in str(info.value)


def test_truncated_replay_file_names_the_place(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text(json.dumps(_valid_file())[:80])
    with pytest.raises(ReplayFileError) as info:
        load(path)
    assert str(path) in str(info.value) and "line 1" in str(info.value)


def test_reports_escape_what_the_system_says(tmp_path: Path) -> None:
    found = first_violation()
    line = report._mermaid_text("Put(value='<script>;#')")
    assert "<" not in line and ";#" not in line.replace("#59;", "").replace("#35;", "")
    replay, md = write_counterexample(COUNTER, found, tmp_path)
    assert md.read_text().count("sequenceDiagram") == 1 and replay.exists()


DETERMINISM = """
import sys
from checker.run import execute
from checker.strategies import RandomWalk
from tests.toys import COUNTER
from checker import registry
systems = {"counter": COUNTER, **registry.systems()}
for name, variant, config in [("counter", "forgetful", "default"), *[
        (s.name, v, "default") for s in registry.systems().values() for v in s.variants]]:
    system = systems[name]
    for seed in range(3):
        r = execute(system, variant, system.config(config), seed, RandomWalk(seed))
        print(name, variant, seed, r.sim.fingerprint(), r.verdict.status)
"""


def test_fingerprints_do_not_depend_on_the_process_or_its_hash_seed() -> None:
    outputs = []
    for hash_seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, "-c", DETERMINISM], capture_output=True,
                              text=True, env=env, cwd=Path(__file__).parent.parent, check=True)
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1] and outputs[0].count("\n") >= 3


def test_drop_alike_removes_a_family_that_only_goes_all_at_once() -> None:
    """The failure needs 'x' and either every 'a' or none: removing one 'a' at a time never
    helps, removing them all at once does."""
    items = ["a", "x", "a", "b", "a", "b"]

    def fails(candidate: list) -> list | None:
        a_count = candidate.count("a")
        return candidate if "x" in candidate and a_count in (0, 3) else None

    assert drop_alike(items, fails, lambda item: item) == ["x"]


class Talker(Node):
    """Says "one" to b when c1 asks it to, and "two" at time 1."""

    def on_start(self, ctx: Context) -> None:
        ctx.set_timer("later", 1)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        ctx.send("b", "one")

    def on_timer(self, ctx: Context, name: str) -> None:
        ctx.send("b", "two")


class Listener(Node):
    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        pass


class Asker(Client):
    def start(self, ctx: Context, f: str, args: Any) -> None:
        ctx.send("a", "please")


TALK = System(name="talk", paper="(toy)", summary="one node talks to another",
              build=lambda config, impl, rng: Cluster(
                  servers={"a": Talker, "b": Listener}, clients={"c1": Asker},
                  workload={"c1": [("ask", None)]}),
              invariants=(), configs={"default": Config("default", servers=2, clients=1)},
              variants={"correct": Variant("correct", None)})


def test_replay_finds_a_message_by_content_when_its_number_moved() -> None:
    """Without c1's request, "one" is never sent and "two" is the channel's message 0, not 1:
    replay with the messages the choices took still delivers it; by number alone it cannot."""
    config = TALK.config("default")
    full = [("invoke", "c1"), ("deliver", "c1", "a", 0), ("fire", "a", "later"),
            ("deliver", "a", "b", 1)]
    assert execute(TALK, "correct", config, 0, Replay(full)).choices == full
    unasked = full[2:]
    by_number = execute(TALK, "correct", config, 0, Replay(unasked))
    by_content = execute(TALK, "correct", config, 0, Replay(unasked, [None, "two"]))
    assert by_number.choices == [("fire", "a", "later")]
    assert by_content.choices == [("fire", "a", "later"), ("deliver", "a", "b", 0)]


def test_bounded_recovery_times_the_system_and_then_its_clients() -> None:
    down_until = 30
    check = bounded_recovery("toy-recovery",
                             lambda s: "the counter is down" if s.time < down_until else None,
                             recovery=20, returns=5, untimed=("wait",))
    late = new_simulation(COUNTER, "correct", CONFIG, 0)
    assert check(late) is None  # not in the ending: nothing is timed
    late.phase = "quiesce"  # the faults end now, at t=0
    assert check(late) is None
    late.time = 21
    assert check(late) == ("the faults ended at t=0; the system was due to recover by t=20 "
                           "(RECOVERY=20), and at t=21: the counter is down")
    sim = new_simulation(COUNTER, "correct", CONFIG, 0)
    sim.phase, sim.time = "quiesce", 15
    assert check(sim) is None
    sim.history += [Event("c1", "invoke", "put", (1,), 16), Event("c2", "invoke", "wait", (), 16)]
    sim.time = down_until  # recovered now, within the bound (due at t=35)
    assert check(sim) is None
    sim.time = down_until + 5
    assert check(sim) is None
    sim.time += 1
    assert check(sim) == "c1's put (called at t=16) has not returned by t=36, 6 ticks after " \
                         "the system recovered (t=30)"


def test_bounded_recovery_from_the_latest_recovery_times_only_what_it_names() -> None:
    state = {"problem": None}
    check = bounded_recovery("toy-latest", lambda s: state["problem"], None, returns=5,
                             timed=("put",), latest=True)
    sim = new_simulation(COUNTER, "correct", CONFIG, 0)
    sim.phase = "quiesce"
    sim.history += [Event("c1", "invoke", "put", (1,), 0), Event("c2", "invoke", "get", (), 0)]
    assert check(sim) is None  # recovered at t=0
    sim.time, state["problem"] = 4, "a send in flight"
    assert check(sim) is None
    sim.time = 20  # never recovered again: nothing is timed, and no recovery bound is set
    assert check(sim) is None
    state["problem"] = None
    assert check(sim) is None  # recovered again, at t=20
    sim.time = 26
    assert check(sim) == "c1's put (called at t=0) has not returned by t=26, 6 ticks after " \
                         "the system recovered (t=20)"  # the get is not timed


FORGET_AFTER = 5000  # longer than a walk of CONFIG's 400 steps can let pass (ticks of 10)


class ForgetsWhenIdle(Counter):
    """Wrong only at rest: forgets what it counted once nobody has put anything for
    FORGET_AFTER ticks, as a background job that discards data it should keep."""

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        self.last_put = ctx.now()

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        super().on_message(ctx, src, msg)
        self.last_put = ctx.now()

    def on_timer(self, ctx: Context, name: str) -> None:
        if ctx.now() - self.last_put >= FORGET_AFTER:
            self.seen.clear()
            ctx.storage.put("seen", ())
        super().on_timer(ctx, name)


@state_invariant("acked-puts-kept")
def acked_puts_kept(sim: Any) -> str | None:
    """After every step, every put acknowledged so far is in the server's set."""
    node = sim.nodes["s"]
    acked = {event.value for event in sim.history if event.type == "ok"}
    missing = sorted(acked - node.seen) if node is not None else []
    return f"the acknowledged put {missing[0]} is gone (t={sim.time})" if missing else None


IDLE = System(name="idle", paper="(toy)", summary="a counter that forgets when left alone",
              build=COUNTER.build, invariants=(acked_puts_kept, acked_puts_durable),
              configs={"default": CONFIG,
                       "rest": attrs.evolve(CONFIG, name="rest", rest=FORGET_AFTER + 100)},
              variants={"forgets-when-idle": Variant("forgets-when-idle", ForgetsWhenIdle)})


def test_a_defect_that_shows_only_at_rest_is_caught_only_with_a_rest() -> None:
    without, with_rest = IDLE.config("default"), IDLE.config("rest")
    caught = 0
    for seed in range(20):
        quiet = execute(IDLE, "forgets-when-idle", without, seed, RandomWalk(seed))
        assert not quiet.violated and quiet.sim.rest_began() is None
        rested = execute(IDLE, "forgets-when-idle", with_rest, seed, RandomWalk(seed))
        assert rested.sim.trace[:len(quiet.sim.trace)] == quiet.sim.trace  # the same run, then rest
        if not rested.violated:
            assert not any(e.type == "ok" for e in rested.sim.history)  # nothing to forget
            continue
        caught += 1
        assert rested.verdict.invariant == "acked-puts-kept"  # checked after each step at rest
        began = rested.sim.rest_began()
        assert began == quiet.sim.time
        at_rest = rested.sim.trace[len(quiet.sim.trace):]
        assert at_rest and all(step.phase == "quiesce" and step.time >= began
                               for step in at_rest)
        assert {step.event[0] for step in at_rest} <= {"deliver", "fire"}  # no op, no fault
        assert [step.time for step in at_rest] == sorted(step.time for step in at_rest)
        assert at_rest[-1].event == ("fire", "s", "tick")
        again = execute(IDLE, "forgets-when-idle", with_rest, seed, Replay(rested.choices))
        assert again.sim.fingerprint() == rested.sim.fingerprint()
    assert caught >= 15


def test_the_rest_lasts_its_ticks_and_waits_for_the_final_operations() -> None:
    """A correct counter at rest ticks until the rest is over; a run whose clients are still
    busy when the ending gives up gets no rest (its operation must not finish there)."""
    config = attrs.evolve(CONFIG, rest=95)
    rested = execute(COUNTER, "correct", config, 3, RandomWalk(3))
    began = rested.sim.rest_began()
    assert not rested.violated and began is not None
    assert began < rested.sim.time <= began + 95 < rested.sim.time + 10  # ticks every 10
    busy = new_simulation(COUNTER, "correct", config, 0)
    busy.start()
    busy.execute(("invoke", "c0"))
    busy.quiesce(horizon=0, max_steps=1, rest=95)  # no time to answer
    assert not busy.clients_idle() and busy.rest_began() is None
