"""What the history checkers share: one budget for all their work, and one error for an
operation they cannot read.

A budget counts seconds (for people: `deepdives check --budget-seconds`) and steps (for
simulations: deterministic, so a hunt's verdict never depends on the machine). A step is one
unit of work the checker defines; it calls `spend` wherever the work is, and a spent budget
raises `BudgetSpent`, which the checker turns into `unknown`.
"""

from __future__ import annotations

import math
import time

from invariants.history import Operation

CLOCK_EVERY = 256  # steps between two looks at the clock


class BudgetSpent(Exception):
    pass


class Budget:
    """Seconds and steps left (None: no such limit)."""

    def __init__(self, max_seconds: float | None, max_steps: int | None) -> None:
        self.deadline = math.inf if max_seconds is None else time.monotonic() + max_seconds
        self.max_steps = math.inf if max_steps is None else max_steps
        self.steps = 0
        self._next_look = 0  # look at the clock at the first step

    def spend(self, steps: int = 1) -> None:
        self.steps += steps
        if self.steps > self.max_steps:
            raise BudgetSpent(f"step budget ({self.max_steps} steps) spent")
        if self.steps >= self._next_look:
            self._next_look = self.steps + CLOCK_EVERY
            if time.monotonic() > self.deadline:
                raise BudgetSpent(f"time budget spent after {self.steps} steps")


class MalformedOperation(ValueError):
    """An operation whose value a checker cannot read: bad input, never skipped.

    `in_completion`: the problem is in the `ok` completion's value (the result), else in the
    invocation's (the args); `problem` says what was expected.
    """

    def __init__(self, op: Operation, in_completion: bool, problem: str) -> None:
        part = "completion" if in_completion else "invocation"
        super().__init__(f"#{op.id} ({part}): {problem}")
        self.op, self.in_completion, self.problem = op, in_completion, problem
