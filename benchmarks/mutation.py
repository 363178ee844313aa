"""Mutation test: the share of small changes to a system's protocol code the default hunt kills.

    python benchmarks/mutation.py SYSTEM [SYSTEM ...] [--mutants 60] [--runs 1000]
                                  [--probe-seeds 20] [--jobs 2] [--seed 0]
                                  [--only SITE ...] [--show]

A mutant is one small change at one place of the system's code, of the kinds real protocol
mistakes take: a comparison flipped (`<` for `<=`, `==` for `!=`, `in` for `not in`), `and`
for `or`, a `not` dropped, an integer off by one, `+` for `-`, `min` for `max`, `True` for
`False`, a statement deleted. Mutated are the bodies of the functions in the system's module
(or package) that the correct variant runs: not its invariants (`checks.py` and functions
registered as invariants), not `build` (the workload), not the static proofs the system
registers (`deepdives prove` runs them, not the hunt), not what draws and reads a property
system's inputs, not the classes only seeded bugs use, and not the helpers only those reach
(a check's bookkeeping class, a workload's transaction maker, a class `build` draws
operations with that is not a node): a module-level function or class is mutated only when
the protocol code refers to it (for a property system, the library its properties call).

Each mutant is written into a private copy of the code and run in its own process, which
first probes it: the correct variant's runs on the probe seeds (each on the configuration
the default hunt gives its seed), compared with the unmutated code's. A mutant whose every
probe run is identical changes nothing the hunt can see (equivalent, or out of the
workload's reach) and is not counted; identical includes up to a consistent renaming of names
(`probe_print`: a mutant that numbers nodes from 0 where the code numbers them from 1 names
them otherwise and does the same). (A property system's run checks one input, too little
to call a mutant equivalent: its mutants are all counted, so its figure is a lower bound.)
The others face the default hunt of the correct variant (`--runs`, every configuration as
`deepdives hunt` mixes them, random walk or the property search): killed when a run is
violated or undecided, or when the code cannot even be built. The figure is
killed / (killed + survived); survivors are listed to be read, each with the share of client
operations its hunt completed ok beside the unmutated code's over the same seeds (a mutant
that only slows a system down shows there, where no check can tell it from a correct one).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib
import inspect
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import attrs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.results import markdown_table, write_section  # noqa: E402

PACKAGES = ("checker", "models", "invariants", "implementations", "benchmarks")
MUTANT_TIMEOUT = 900  # seconds; a mutant that hangs the hunt this long counts as killed
FLIPS: dict[type, type] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.And: ast.Or, ast.Or: ast.And,
    ast.Add: ast.Sub, ast.Sub: ast.Add,
}
SWAPPED_CALLS = {"min": "max", "max": "min"}


@attrs.frozen
class Site:
    """One place a mutant changes: the file, the line, and what it does there."""

    path: str
    line: int
    kind: str
    index: int  # the site's number among the file's sites, in walk order

    def describe(self) -> str:
        return f"{self.path}:{self.line} {self.kind}"


def system_named(name: str):
    """The system registered by `implementations.<name>`, imported alone: the other systems'
    modules (perhaps being edited) play no part in its mutants' fate."""
    return importlib.import_module(f"implementations.{name}").SYSTEM


# --- finding the code to mutate --------------------------------------------------------------


def protocol_files(system_name: str) -> list[Path]:
    """The system's module, or its package's modules except the invariants in `checks.py`
    and the module that draws a property system's inputs (its workload)."""
    package = ROOT / "implementations" / system_name
    if package.is_dir():
        inputs = getattr(system_named(system_name), "inputs", None)
        workload = Path(inspect.getsourcefile(inputs)).resolve() if inputs else None
        return sorted(p for p in package.glob("*.py")
                      if p.name != "checks.py" and p.resolve() != workload)
    return [ROOT / "implementations" / f"{system_name}.py"]


def left_alone(system_name: str, system) -> set[str]:
    """Names of the module-level definitions whose mutants test nothing real: classes only
    seeded bugs run, invariants, `build`, the system's static proofs, and whatever only
    those refer to."""
    unexpanded = seeded_only_classes(system) | registered_proofs(system)
    files = protocol_files(system_name)
    return unexpanded | unreached_definitions(files, unexpanded,
                                              library_calls(system_name, system),
                                              node_classes(files))


def node_classes(files: list[Path]) -> set[str]:
    """The names of the classes in `files` that are nodes (`checker.node.Node`): of what
    `build` instantiates, these are roles; anything else (a workload's drawing of
    operations) is the workload."""
    from checker.node import Node
    names = set()
    for path in files:
        parts = path.relative_to(ROOT).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for name, value in vars(importlib.import_module(module)).items():
            if isinstance(value, type) and issubclass(value, Node):
                names.add(name)
    return names


def library_calls(system_name: str, system) -> frozenset[str]:
    """A property system's properties are where its library is called (a simulated system's
    roles are named by its registration): every name they use is a root."""
    checks = ROOT / "implementations" / system_name / "checks.py"
    if system.kind != "property" or not checks.exists():
        return frozenset()
    return frozenset(_names_used(ast.parse(checks.read_text())))


def registered_proofs(system) -> set[str]:
    """The function a system registers as its static proofs: a check (`deepdives prove` runs
    it, the hunt does not), not protocol code."""
    return {system.proofs.__name__} if system.proofs is not None else set()


def seeded_only_classes(system) -> set[str]:
    """Names of the classes that only seeded bugs run (their mutants test nothing real)."""
    correct = _classes_in(system.variant("correct").impl)
    seeded = set().union(*(_classes_in(v.impl) for v in system.variants.values() if v.seeded))
    return {cls.__name__ for cls in seeded - correct}


def _classes_in(impl, depth: int = 0) -> set[type]:
    """The classes a variant's impl names: itself, or the fields of an attrs record of roles,
    or the function of a `functools.partial`, one or two levels down, or the class of an
    instance."""
    if depth > 2:
        return set()
    if isinstance(impl, type):
        return {impl}
    if attrs.has(type(impl)):
        return set().union(*(_classes_in(getattr(impl, f.name), depth + 1)
                             for f in attrs.fields(type(impl))))
    if hasattr(impl, "func"):
        return _classes_in(impl.func, depth + 1)
    return {type(impl)}  # an instance: a property system's library (Arrow's `Arrow()`)


def _skipped_function(node: ast.FunctionDef) -> bool:
    """Invariants and the workload are not protocol code."""
    names = {ast.unparse(d).split("(")[0] for d in node.decorator_list}
    return node.name == "build" or bool(names & {"state_invariant", "history_invariant"})


def unreached_definitions(files: list[Path], unexpanded: set[str],
                          roots: frozenset[str] = frozenset(),
                          roles: set[str] | None = None) -> set[str]:
    """The module-level functions and classes of `files` that the protocol code never refers
    to. Reached are `roots`, the names module-level statements use (the system's registration
    names its roles), the classes `build` instantiates that are `roles` (None: any class;
    the clients and services it adds are roles too, the functions it calls and the other
    classes it uses are workload) and, transitively, the names reached definitions use;
    invariants and `unexpanded` (seeded-only classes, registered proofs) are never
    expanded."""
    definitions: dict[str, list[ast.AST]] = {}
    roots = set(roots)
    for path in files:
        for stmt in ast.parse(path.read_text()).body:
            if isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
                definitions.setdefault(stmt.name, []).append(stmt)
            else:
                roots |= _names_used(stmt)
    classes = {name for name, nodes in definitions.items()
               if any(isinstance(n, ast.ClassDef) for n in nodes)
               and (roles is None or name in roles)}
    invariants = {name for name, nodes in definitions.items()
                  if any(isinstance(n, ast.FunctionDef) and _skipped_function(n)
                         for n in nodes)} - {"build"}
    reached, frontier = set(), (roots | {"build"}) & definitions.keys()
    while frontier:
        name = frontier.pop()
        reached.add(name)
        if name in invariants | unexpanded:
            continue
        used = set().union(*(_names_used(node) for node in definitions[name]))
        frontier |= (used & (classes if name == "build" else definitions.keys())) - reached
    return set(definitions) - reached


def _names_used(node: ast.AST) -> set[str]:
    """Every name and attribute name `node` mentions (attributes too: a package's modules
    refer to each other's definitions as `module.name`)."""
    return {n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(node)
            if isinstance(n, (ast.Name, ast.Attribute))}


class _Walker(ast.NodeTransformer):
    """Numbers every mutation site of a module in walk order; with `target`, applies the
    site of that number and leaves the rest alone."""

    def __init__(self, skip: set[str], target: int | None = None) -> None:
        self.skip, self.target = skip, target
        self.sites: list[tuple[int, str]] = []
        self.in_function = False

    def _site(self, node: ast.AST, kind: str) -> bool:
        """Record a site inside a function body; whether it is the one to apply."""
        if not self.in_function:
            return False
        self.sites.append((getattr(node, "lineno", 0), kind))
        return self.target == len(self.sites) - 1

    def visit_Module(self, node: ast.Module) -> ast.AST:
        node.body = [stmt if getattr(stmt, "name", None) in self.skip else self.visit(stmt)
                     for stmt in node.body]
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        if _skipped_function(node):
            return node
        outer, self.in_function = self.in_function, True
        self.generic_visit(node)
        self.in_function = outer
        return node

    def generic_visit(self, node: ast.AST) -> ast.AST:
        for field, value in ast.iter_fields(node):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                setattr(node, field, self._statements(value))
            elif isinstance(value, list):
                setattr(node, field, [self.visit(item) if isinstance(item, ast.AST) else item
                                      for item in value])
            elif isinstance(value, ast.AST):
                setattr(node, field, self.visit(value))
        return node

    def _statements(self, body: list[ast.stmt]) -> list[ast.stmt]:
        """Each statement of a function (but a docstring, a nested definition or a `pass`)
        may be deleted; the others are visited."""
        kept = []
        for stmt in body:
            docstring = isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
            definition = isinstance(stmt, (ast.FunctionDef, ast.ClassDef, ast.Pass))
            if not (docstring or definition) and self._site(stmt, "delete statement"):
                kept.append(ast.copy_location(ast.Pass(), stmt))
            else:
                kept.append(self.visit(stmt))
        return kept

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        for i, op in enumerate(node.ops):
            if type(op) in FLIPS and self._site(node, f"{_sym(op)} -> {_sym(FLIPS[type(op)]())}"):
                node.ops[i] = FLIPS[type(op)]()
        return self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        if self._site(node, f"{_sym(node.op)} -> {_sym(FLIPS[type(node.op)]())}"):
            node.op = FLIPS[type(node.op)]()
        return self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        if type(node.op) in FLIPS and \
                self._site(node, f"{_sym(node.op)} -> {_sym(FLIPS[type(node.op)]())}"):
            node.op = FLIPS[type(node.op)]()
        return self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        if type(node.op) in FLIPS and \
                self._site(node, f"{_sym(node.op)}= -> {_sym(FLIPS[type(node.op)]())}="):
            node.op = FLIPS[type(node.op)]()
        return self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        if isinstance(node.op, ast.Not) and self._site(node, "drop not"):
            return self.visit(node.operand)
        return self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, bool):
            if self._site(node, f"{node.value} -> {not node.value}"):
                return ast.copy_location(ast.Constant(not node.value), node)
        elif isinstance(node.value, int):
            for delta in (1, -1):
                if self._site(node, f"{node.value} -> {node.value + delta}"):
                    return ast.copy_location(ast.Constant(node.value + delta), node)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name in SWAPPED_CALLS and self._site(node, f"{name} -> {SWAPPED_CALLS[name]}"):
            node.func = ast.copy_location(ast.Name(SWAPPED_CALLS[name], ast.Load()), node.func)
        return self.generic_visit(node)


def _sym(op: ast.AST) -> str:
    return {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
            ast.NotEq: "!=", ast.In: "in", ast.NotIn: "not in", ast.Is: "is",
            ast.IsNot: "is not", ast.And: "and", ast.Or: "or", ast.Add: "+",
            ast.Sub: "-"}[type(op)]


def sites(path: Path, skip: set[str]) -> list[Site]:
    walker = _Walker(skip)
    walker.visit(ast.parse(path.read_text()))
    relative = str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return [Site(relative, line, kind, i) for i, (line, kind) in enumerate(walker.sites)]


def mutate(path: Path, site: Site, skip: set[str]) -> str:
    """The source of `path` with `site` applied."""
    walker = _Walker(skip, target=site.index)
    tree = ast.fix_missing_locations(walker.visit(ast.parse(path.read_text())))
    return ast.unparse(tree)


# --- running a mutant ------------------------------------------------------------------------


def evaluate(system_name: str, runs: int, probe_seeds: int, baseline: list[str] | None) -> dict:
    """Run inside a mutant's copy: the probe's fingerprints and, if they differ from the
    baseline's, the hunt's verdict."""
    from checker.hunt import Budget, ConfigMix, hunt
    from checker.portfolio import run_strategy
    from checker.run import execute

    system = system_named(system_name)
    mix = ConfigMix.every(system)  # the default hunt's configurations
    probe = []
    # a property system's run checks one input, which says too little to call a mutant
    # equivalent: every mutant of one faces the hunt (its kill share is a lower bound)
    probed = system.kind == "simulation"
    for seed in range(probe_seeds if probed else 0):
        config = mix.for_seed(seed)
        result = execute(system, "correct", config, seed, run_strategy("random", seed, config))
        probe.append(probe_print(result.sim) + result.verdict.status)
    if probed and probe == baseline:
        return {"probe": probe, "outcome": "equivalent"}
    outcome = hunt(system, "correct", mix, budget=Budget(runs=runs), shrink_found=False)
    if baseline is None:
        return {"probe": probe, "ok": [outcome.completed_ok, outcome.invoked]}
    if outcome.violation is not None:
        return {"probe": probe, "outcome": "killed",
                "by": outcome.violation.verdict.invariant, "runs": outcome.runs}
    if outcome.unknowns:
        return {"probe": probe, "outcome": "killed", "by": "unknown verdicts",
                "runs": outcome.runs}
    return {"probe": probe, "outcome": "survived", "runs": outcome.runs,
            "ok": [outcome.completed_ok, outcome.invoked]}


# a name (letters, digits, underscores, not starting with a digit), a number, or one character
TOKEN = re.compile(r"[A-Za-z_]\w*|\d+|\S")


def probe_print(sim) -> str:
    """A hash of everything that happened, blind to what things are called: each name in the
    trace and history is replaced by the order of its first appearance, so that two runs
    print alike exactly when one is the other with names consistently renamed (a one-to-one
    renaming; numbers and the order of events stay as they are)."""
    labels: dict[str, str] = {}
    h = hashlib.blake2b(digest_size=12)
    texts = [repr((step.event, step.time, step.detail, step.phase)) for step in sim.trace]
    for text in texts + [repr(event) for event in sim.history]:
        tokens = TOKEN.findall(text)
        h.update(" ".join(labels.setdefault(token, f"#{len(labels)}")
                          if token[0].isalpha() or token[0] == "_" else token
                          for token in tokens).encode() + b"\n")
    return h.hexdigest()


def run_copy(copy: Path, args: list[str]) -> dict:
    """Run this script's `--evaluate` in `copy`, whose packages shadow the installed ones."""
    try:
        done = subprocess.run([sys.executable, str(copy / "benchmarks" / "mutation.py"),
                               "--evaluate", *args], cwd=copy, capture_output=True, text=True,
                              timeout=MUTANT_TIMEOUT, env=_env(copy))
    except subprocess.TimeoutExpired:
        return {"outcome": "killed", "by": f"no end within {MUTANT_TIMEOUT} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"outcome": "killed", "by": f"does not run: {last[:100]}"}
    return json.loads(lines[-1])


def _env(copy: Path) -> dict:
    import os
    return {**os.environ, "PYTHONPATH": str(copy), "PYTHONHASHSEED": "0"}


def fresh_copy() -> Path:
    copy = Path(tempfile.mkdtemp(prefix="deepdives-mutant-"))
    for package in PACKAGES:
        shutil.copytree(ROOT / package, copy / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_mutant(site: Site, source: str, system_name: str, runs: int, probe_seeds: int,
                baseline: list[str]) -> dict:
    copy = fresh_copy()
    try:
        (copy / site.path).write_text(source)
        result = run_copy(copy, [system_name, str(runs), str(probe_seeds), json.dumps(baseline)])
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    result.pop("probe", None)
    return {"site": site.describe(), **result}


def choose_mutants(system_name: str, skip: set[str], mutants: int, seed: int,
                   only: list[str]) -> list[tuple[Site, Path]]:
    """The sample of `mutants` sites drawn with `seed`, or the sites described in `only`
    (as the survivors' list writes them: `implementations/chubby.py:269 + -> -`)."""
    candidates = [(site, path) for path in protocol_files(system_name)
                  for site in sites(path, skip)]
    if only:
        named = [(site, path) for site, path in candidates if site.describe() in only]
        missing = set(only) - {site.describe() for site, _ in named}
        if missing:
            raise SystemExit(f"no such mutation site of {system_name}: {sorted(missing)[0]}")
        return named
    return random.Random(f"mutants/{system_name}/{seed}").sample(
        candidates, min(mutants, len(candidates)))


def show(chosen: list[tuple[Site, Path]], skip: set[str]) -> None:
    """Print each chosen mutant as a unified diff of its file (both sides unparsed, so the
    diff is the mutation alone)."""
    import difflib
    for site, path in chosen:
        before = ast.unparse(ast.parse(path.read_text())).splitlines()
        after = mutate(path, site, skip).splitlines()
        print(f"# {site.describe()}")
        print("\n".join(difflib.unified_diff(before, after, site.path, site.path, n=2,
                                             lineterm="")))


def mutation_test(system_name: str, chosen: list[tuple[Site, Path]], skip: set[str],
                  runs: int, probe_seeds: int, jobs: int) -> list[dict]:
    copy = fresh_copy()
    try:
        unmutated = run_copy(copy, [system_name, str(runs), str(probe_seeds), "null"])
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    print(f"{system_name}: testing {len(chosen)} mutants", flush=True)

    def one(item: tuple[Site, Path]) -> dict:
        site, path = item
        result = test_mutant(site, mutate(path, site, skip), system_name, runs, probe_seeds,
                             unmutated["probe"])
        if "ok" in result:
            result["ok share"] = ok_shares(result["ok"], unmutated["ok"])
        print(f"  {result['outcome']:<10} {result['site']}  "
              f"{result.get('by', result.get('ok share', ''))}", flush=True)
        return result

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, chosen))


def ok_shares(mutant: list[int], unmutated: list[int]) -> str:
    """A survivor's share of client operations completed ok over the hunt's runs, beside the
    unmutated code's over the same seeds: what a mutant that only slows the system down
    changes, where no check can tell it from a correct one."""
    if not mutant[1] or not unmutated[1]:
        return ""  # a property system's runs invoke no operations
    return f"ok {100 * mutant[0] / mutant[1]:.0f}% of {mutant[1]:,} operations " \
           f"(unmutated: {100 * unmutated[0] / unmutated[1]:.0f}% of {unmutated[1]:,})"


def summary_row(system_name: str, results: list[dict]) -> list[str]:
    count = {kind: sum(r["outcome"] == kind for r in results)
             for kind in ("equivalent", "killed", "survived")}
    counted = count["killed"] + count["survived"]
    share = f"{100 * count['killed'] / counted:.0f}%" if counted else "-"
    return [system_name, str(len(results)), str(count["equivalent"]), str(count["killed"]),
            str(count["survived"]), share]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--evaluate":
        name, runs, probe_seeds, baseline = sys.argv[2:6]
        print(json.dumps(evaluate(name, int(runs), int(probe_seeds), json.loads(baseline))))
        return
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("systems", nargs="+")
    parser.add_argument("--mutants", type=int, default=60, help="mutants sampled per system")
    parser.add_argument("--runs", type=int, default=1000, help="the hunt's runs per mutant")
    parser.add_argument("--probe-seeds", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="which mutants are sampled")
    parser.add_argument("--only", action="append", default=[], metavar="SITE",
                        help="test this mutant alone, named as the survivors' list names it "
                             "(repeatable; nothing is written to RESULTS.md)")
    parser.add_argument("--show", action="store_true",
                        help="print the chosen mutants as diffs instead of testing them")
    args = parser.parse_args()
    rows, survivors = [], []
    for name in args.systems:
        skip = left_alone(name, system_named(name))
        chosen = choose_mutants(name, skip, args.mutants, args.seed, args.only)
        if args.show:
            show(chosen, skip)
            continue
        results = mutation_test(name, chosen, skip, args.runs, args.probe_seeds, args.jobs)
        rows.append(summary_row(name, results))
        survivors += [f"- `{r['site']}`" + (f": {r['ok share']}" if r.get("ok share") else "")
                      for r in results if r["outcome"] == "survived"]
        print(*rows[-1], sep="\t", flush=True)
    if args.show or args.only:
        return
    table = markdown_table(["system", "mutants", "equivalent", "killed", "survived",
                            "killed share"], rows)
    # each sample has its own section, so that several samples of one system stand together
    sample = f" (mutant sample {args.seed})" if args.seed else ""
    write_section(f"Mutation: {', '.join(args.systems)}{sample}",
                  f"python benchmarks/mutation.py {' '.join(args.systems)} --mutants "
                  f"{args.mutants} --runs {args.runs} --seed {args.seed}",
                  table + ("\n\nSurvivors:\n\n" + "\n".join(survivors) if survivors else ""))


if __name__ == "__main__":
    main()
