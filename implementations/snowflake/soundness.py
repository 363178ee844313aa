"""z3 proves the pruner's rules sound, one predicate form at a time, in three-valued logic.

The pruner's rules (`pruning.py`) are written against a `logic`; here they run on z3 terms, so
what is proved is the code a query runs, not a restatement of it. For an atom, the claim is:
for every zone map (row_count >= 1, 0 <= null_count <= row_count, min <= max when some value
is not NULL), every row value it allows (NULL if null_count > 0; any value in [min, max] if
null_count < row_count) and every literal (NULL or not), the truth value SQL gives the atom
on that row is one the rule says is possible. Keys are integers and strings (z3's strings,
ordered by code point as the binary collation is; a case-insensitive column compares
lower-cased keys, the same order on other strings). For NOT, AND and OR the claim is
inductive: if each operand's truth value on a row is one its set allows, the connective's
truth value on that row is one the combined set allows. TRUE possible on every row that makes
the predicate TRUE means no such file is ever pruned.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import z3

from implementations.snowflake.pruning import Possible, Pruner, Zone
from implementations.snowflake.services import Parts
from invariants.verdict import Verdict, passed, unknown, violated

RLIMIT = 50_000_000  # z3's deterministic budget per check; each takes far less
OPS = ("=", "<>", "<", "<=", ">", ">=")
FORMS = (*OPS, "BETWEEN", "IN", "IS NULL", "IS NOT NULL", "NOT", "AND", "OR")
Truth = tuple[Any, Any]  # (is TRUE, is FALSE) as z3 Booleans; neither is UNKNOWN


class Z3Logic:
    true, false = z3.BoolVal(True), z3.BoolVal(False)
    and_, or_, not_ = staticmethod(z3.And), staticmethod(z3.Or), staticmethod(z3.Not)

    @staticmethod
    def eq(a: Any, b: Any) -> Any:
        return a == b

    @staticmethod
    def lt(a: Any, b: Any) -> Any:
        return a < b

    @staticmethod
    def le(a: Any, b: Any) -> Any:
        return a <= b


# --- SQL's truth values, in z3 --------------------------------------------------------------


def sql_compare(op: str, value: Any, is_null: Any, literal: Any) -> Truth:
    if literal is None:
        return z3.BoolVal(False), z3.BoolVal(False)
    holds = {"=": value == literal, "<>": value != literal, "<": value < literal,
             "<=": value <= literal, ">": value > literal, ">=": value >= literal}[op]
    return z3.And(z3.Not(is_null), holds), z3.And(z3.Not(is_null), z3.Not(holds))


def sql_and(a: Truth, b: Truth) -> Truth:
    return z3.And(a[0], b[0]), z3.Or(a[1], b[1])


def sql_or(a: Truth, b: Truth) -> Truth:
    return z3.Or(a[0], b[0]), z3.And(a[1], b[1])


def allowed(truth: Truth, possible: Possible) -> Any:
    """The truth value is one of those `possible` allows."""
    is_true, is_false = truth
    return z3.And(z3.Implies(is_true, possible.true), z3.Implies(is_false, possible.false),
                  z3.Implies(z3.Not(z3.Or(is_true, is_false)), possible.unknown))


# --- the claims ---------------------------------------------------------------------------


class Claim:
    """A file's zone map and one row value it allows, symbolic, in one key sort."""

    def __init__(self, sort: Callable[[str], Any]) -> None:
        self.sort = sort
        self.zone = Zone(sort("min"), sort("max"), z3.Int("null_count"), z3.Int("row_count"))
        self.value, self.is_null = sort("value"), z3.Bool("value_is_null")
        zone = self.zone
        self.assumptions = [
            zone.row_count >= 1, zone.null_count >= 0, zone.null_count <= zone.row_count,
            z3.Implies(zone.null_count < zone.row_count, zone.low <= zone.high),
            z3.Implies(self.is_null, zone.null_count > 0),
            z3.Implies(z3.Not(self.is_null),
                       z3.And(zone.null_count < zone.row_count, zone.low <= self.value,
                              self.value <= zone.high))]

    def literals(self, *names: str) -> list[list[Any]]:
        """Every way the named literals can be NULL or not (a NULL is None to the rules)."""
        return [[None if null else self.sort(name) for name, null in zip(names, nulls)]
                for nulls in itertools.product((False, True), repeat=len(names))]

    def compare(self, op: str, literal: Any) -> Truth:
        return sql_compare(op, self.value, self.is_null, literal)


def atom_cases(pruner: Pruner, form: str, claim: Claim) -> list[tuple[Any, Possible, str]]:
    """(SQL's truth value on the row, the rule's possible set, the atom in words) for each
    pattern of NULL literals."""
    zone, cases = claim.zone, []
    if form in OPS:
        for (literal,) in claim.literals("k"):
            cases.append((claim.compare(form, literal), pruner.compare(form, zone, literal),
                          f"x {form} {_name(literal)}"))
    elif form == "BETWEEN":
        for low, high in claim.literals("a", "b"):
            truth = sql_and(claim.compare(">=", low), claim.compare("<=", high))
            cases.append((truth, pruner.between(zone, low, high),
                          f"x BETWEEN {_name(low)} AND {_name(high)}"))
    elif form == "IN":
        for count in (1, 2, 3):
            for literals in claim.literals(*(f"k{i + 1}" for i in range(count))):
                truth = claim.compare("=", literals[0])
                for literal in literals[1:]:
                    truth = sql_or(truth, claim.compare("=", literal))
                names = ", ".join(_name(literal) for literal in literals)
                cases.append((truth, pruner.in_list(zone, literals), f"x IN ({names})"))
    else:
        is_null = (claim.is_null, z3.Not(claim.is_null))
        truth = is_null if form == "IS NULL" else (is_null[1], is_null[0])
        rule = pruner.is_null(zone) if form == "IS NULL" else pruner.is_not_null(zone)
        cases.append((truth, rule, f"x {form}"))
    return cases


def connective_case(pruner: Pruner, form: str) -> tuple[list[Any], Truth, Possible]:
    """Assumptions (each operand's truth value is one its set allows), SQL's truth value of
    the connective on the operands, and the rule's set for it."""
    def operand(name: str) -> tuple[Truth, Possible, Any]:
        truth = (z3.Bool(f"{name}_true"), z3.Bool(f"{name}_false"))
        possible = Possible(*(z3.Bool(f"{name}_may_be_{v}") for v in ("true", "false",
                                                                      "unknown")))
        return truth, possible, z3.And(z3.Not(z3.And(*truth)), allowed(truth, possible))

    a, a_sets, a_ok = operand("p")
    if form == "NOT":
        return [a_ok], (a[1], a[0]), pruner.negation(a_sets)
    b, b_sets, b_ok = operand("q")
    if form == "AND":
        return [a_ok, b_ok], sql_and(a, b), pruner.conjunction(a_sets, b_sets)
    return [a_ok, b_ok], sql_or(a, b), pruner.disjunction(a_sets, b_sets)


def prove_form(pruner: Pruner, form: str) -> Verdict:
    """Prove the rule for one form, or give z3's counterexample in words."""
    name = f"pruning-sound[{form}]"
    started = time.perf_counter()
    if form in ("NOT", "AND", "OR"):
        assumptions, truth, rule = connective_case(pruner, form)
        checks = [(assumptions, truth, rule, f"p {form} q" if form != "NOT" else "NOT p", None)]
    else:
        checks = []
        for sort_name, sort in (("integer", z3.Int), ("string", z3.String)):
            claim = Claim(sort)
            checks += [(claim.assumptions, truth, rule, words, (sort_name, claim))
                       for truth, rule, words in atom_cases(pruner, form, claim)]
    for assumptions, truth, rule, words, symbolic in checks:
        solver = z3.Solver()
        solver.set("rlimit", RLIMIT)
        solver.add(*assumptions, z3.Not(allowed(truth, rule)))
        outcome = solver.check()
        if outcome == z3.sat:
            return violated(name, _counterexample(solver.model(), words, symbolic, truth))
        if outcome != z3.unsat:
            return unknown(name, f"z3 gave up on {words} ({solver.reason_unknown()})")
    seconds = time.perf_counter() - started
    scope = "every pair of operand truth values their sets allow" \
        if form in ("NOT", "AND", "OR") else "every zone map, every row value it allows, " \
        "integer and string keys, NULL and non-NULL literals"
    return passed(name, f"z3 proved {len(checks)} case(s) for {scope}: the truth value is "
                        f"always one the rule allows, so a file with a TRUE row is never "
                        f"pruned ({seconds * 1000:.0f} ms)")


def _counterexample(found: z3.ModelRef, words: str, symbolic: Any, truth: Truth) -> str:
    def show(term: Any) -> str:
        return str(found.eval(term, model_completion=True))

    value = "TRUE" if show(truth[0]) == "True" else "FALSE" if show(truth[1]) == "True" \
        else "UNKNOWN"
    consequence = ": a query would prune the file and lose the row" if value == "TRUE" else \
        " (under NOT, FALSE becomes TRUE)" if value == "FALSE" else ""
    if symbolic is None:
        return f"z3 found operand truth values whose {words} is {value}, which the rule " \
               f"leaves out{consequence}: {found}"
    sort_name, claim = symbolic
    zone = claim.zone
    row = "NULL" if show(claim.is_null) == "True" else show(claim.value)
    literals = [f"{d.name()} = {found[d]}" for d in found.decls()
                if d.name() in ("k", "a", "b") or d.name()[:1] == "k" and d.name()[1:].isdigit()]
    return (f"with {sort_name} keys, a file of {show(zone.row_count)} rows, "
            f"{show(zone.null_count)} NULL, min {show(zone.low)}, max {show(zone.high)} holds "
            f"the row x = {row}" + (f" ({', '.join(sorted(literals))})" if literals else "")
            + f", on which {words} is {value}, and the rule says it cannot be{consequence}")


def _name(literal: Any) -> str:
    return "NULL" if literal is None else str(literal)


def prove_pruning(parts: Parts) -> list[Verdict]:
    """One verdict per predicate form, for the variant's pruner."""
    pruner = parts.pruner((), logic=Z3Logic)
    return [prove_form(pruner, form) for form in FORMS]
