"""The mutation benchmark's mutator: which code it touches and that each mutant is one change."""

from __future__ import annotations

import ast
import difflib
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks.mutation import (
    choose_mutants,
    evaluate,
    left_alone,
    mutate,
    ok_shares,
    probe_print,
    seeded_only_classes,
    sites,
    unreached_definitions,
)
from checker import registry

SOURCE = '''
@state_invariant("x")
def invariant(sim):
    return sim.a < 1

def build(config):
    return config.n + 1

class Node:
    LIMIT = 3

    def step(self, a, b):
        """Docstring."""
        if a < b and not self.done:
            self.count += 1
        return max(a, b)

class Buggy(Node):
    def step(self, a, b):
        return a == b
'''


def _sites(tmp_path: Path, skip: set[str]) -> tuple[Path, list]:
    path = tmp_path / "module.py"
    path.write_text(SOURCE)
    return path, sites(path, skip)


def test_only_protocol_functions_are_mutated(tmp_path: Path) -> None:
    _, found = _sites(tmp_path, {"Buggy"})
    kinds = sorted(site.kind for site in found)
    assert kinds == sorted(["delete statement", "< -> <=", "and -> or", "drop not",
                            "delete statement", "+= -> -=", "1 -> 2", "1 -> 0",
                            "delete statement", "max -> min"])
    assert {site.line for site in found} == {14, 15, 16}


def test_each_mutant_changes_one_place(tmp_path: Path) -> None:
    path, found = _sites(tmp_path, {"Buggy"})
    original = ast.unparse(ast.parse(SOURCE)).splitlines()
    for site in found:
        mutant = mutate(path, site, {"Buggy"}).splitlines()
        changes = [op for op in difflib.SequenceMatcher(None, original, mutant).get_opcodes()
                   if op[0] != "equal"]
        assert len(changes) == 1, site


def test_classes_only_seeded_bugs_run_are_left_alone() -> None:
    skip = seeded_only_classes(registry.lookup("percolator"))
    assert skip == {"AckBeforeCommitPoint", "CleanupSecondaryFirst", "MissingLockMeansRunning",
                    "OracleReusesBatch", "ReadsIgnoreLocks"}


def test_a_property_systems_seeded_libraries_are_left_alone() -> None:
    """Arrow's variants are instances of the library class and its subclasses."""
    skip = seeded_only_classes(registry.lookup("arrow"))
    assert skip == {"NullCountFromParent", "SliceIgnoresBitOffset"}


def test_a_sampled_mutant_can_be_chosen_alone_by_its_description() -> None:
    skip = seeded_only_classes(registry.lookup("gfs"))
    sampled = choose_mutants("gfs", skip, 3, seed=0, only=[])
    named = [site.describe() for site, _ in sampled]
    assert [site for site, _ in choose_mutants("gfs", skip, 0, seed=0, only=named)] == \
        sorted((site for site, _ in sampled), key=lambda s: (s.path, s.index))
    with pytest.raises(SystemExit, match="no such mutation site of gfs"):
        choose_mutants("gfs", skip, 0, seed=0, only=["implementations/gfs/master.py:1 0 -> 1"])


REACHABILITY = '''
class _Ledger:
    def note(self): return helper()

def helper(): return 1

def shared(): return 2

@state_invariant("x")
def invariant(sim):
    return _Ledger().note() + shared()

def transaction(): return Client

class Client:
    def step(self): return shared() + codec()

def codec(): return 3

def build(config):
    return [Client(), transaction()]

class Server:
    pass

SYSTEM = dict(impl=Server, build=build, invariants=[invariant])
'''


def test_helpers_only_checks_or_the_workload_reach_are_left_alone(tmp_path: Path) -> None:
    """A check's bookkeeping class and what only it calls, and a function only `build`
    calls, are not protocol code; a class `build` adds is a role, and what roles call is."""
    path = tmp_path / "module.py"
    path.write_text(REACHABILITY)
    assert unreached_definitions([path], unexpanded=set()) == {"_Ledger", "helper",
                                                                "transaction"}


def test_a_property_systems_mutant_always_faces_the_hunt() -> None:
    """Its probe is empty, as is the baseline's: that must not make it equivalent."""
    assert evaluate("arrow", 5, 3, baseline=[])["outcome"] == "survived"
    assert evaluate("gfs", 5, 2, baseline=evaluate("gfs", 5, 2, None)["probe"])["outcome"] \
        == "equivalent"


def test_proofs_and_a_property_systems_inputs_are_left_alone() -> None:
    """Snowflake registers z3 proofs (soundness.py) and draws its inputs in cases.py: neither
    is protocol code, and neither is mutated; its pruner is."""
    system = registry.lookup("snowflake")
    skip = left_alone("snowflake", system)
    assert {"proofs", "prove_pruning"} <= skip
    mutated = {site.path for site, _ in choose_mutants("snowflake", skip, 10_000, 0, [])}
    assert not {p for p in mutated if p.endswith(("cases.py", "soundness.py"))}
    assert "implementations/snowflake/pruning.py" in mutated


def test_a_property_systems_library_is_what_its_properties_call() -> None:
    """Arrow's IPC stream is called by its properties alone, not by its registration."""
    skip = left_alone("arrow", registry.lookup("arrow"))
    mutated = {site.path for site, _ in choose_mutants("arrow", skip, 10_000, 0, [])}
    assert "implementations/arrow/ipc.py" in mutated


def test_a_survivors_ok_share_is_shown_beside_the_unmutated_codes() -> None:
    assert ok_shares([71, 100], [850, 1000]) == \
        "ok 71% of 100 operations (unmutated: 85% of 1,000)"
    assert ok_shares([0, 0], [0, 0]) == ""
    survivor = evaluate("gfs", 5, 2, baseline=["not the probe"])
    unmutated = evaluate("gfs", 5, 2, baseline=None)
    assert survivor["outcome"] == "survived" and survivor["ok"] == unmutated["ok"]
    assert 0 < unmutated["ok"][0] <= unmutated["ok"][1]


def test_of_what_build_instantiates_only_nodes_are_roles() -> None:
    """Iceberg's build draws operations with a `Workload` object: not a node, not mutated."""
    skip = left_alone("iceberg", registry.lookup("iceberg"))
    assert "Workload" in skip and "Engine" not in skip


def _run(*steps: tuple) -> SimpleNamespace:
    """A stand-in for a simulation: its trace's steps as (event, time, detail), no history."""
    return SimpleNamespace(history=[], trace=[
        SimpleNamespace(event=event, time=time, detail=detail, phase="run")
        for event, time, detail in steps])


def test_runs_that_differ_only_in_names_probe_alike() -> None:
    """Nodes numbered from 0 instead of 1, consistently, print alike; a name used for two
    things, a number changed or events in another order do not."""
    run = _run((("deliver", "vdb1", "c"), 5, "Grant(vdb1, 3)"), (("timer", "vdb2"), 9, None))
    renamed = _run((("deliver", "vdb0", "c"), 5, "Grant(vdb0, 3)"), (("timer", "vdb1"), 9, None))
    merged = _run((("deliver", "vdb1", "c"), 5, "Grant(vdb1, 3)"), (("timer", "vdb1"), 9, None))
    renumbered = _run((("deliver", "vdb1", "c"), 5, "Grant(vdb1, 4)"), (("timer", "vdb2"), 9, None))
    reordered = _run((("timer", "vdb2"), 9, None), (("deliver", "vdb1", "c"), 5, "Grant(vdb1, 3)"))
    assert probe_print(run) == probe_print(renamed)
    assert len({probe_print(r) for r in (run, merged, renumbered, reordered)}) == 4
