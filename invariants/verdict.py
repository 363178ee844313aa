"""The one answer every checker gives: ok, violated or unknown, with a witness in words."""

from __future__ import annotations

from typing import Any

import attrs

OK = "ok"
VIOLATED = "violated"
UNKNOWN = "unknown"


@attrs.frozen
class Verdict:
    """A checker's answer.

    `status` is one of OK, VIOLATED, UNKNOWN (a budget was spent: never a silent pass).
    `explanation` is the witness in words a student can follow; `witness` is the same as
    JSON-able data (sub-history, cycle, quorums) for reports.
    """

    invariant: str
    status: str
    explanation: str = ""
    witness: Any = None

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def violated(self) -> bool:
        return self.status == VIOLATED


def passed(invariant: str, explanation: str = "") -> Verdict:
    return Verdict(invariant, OK, explanation)


def violated(invariant: str, explanation: str, witness: Any = None) -> Verdict:
    return Verdict(invariant, VIOLATED, explanation, witness)


def unknown(invariant: str, explanation: str, witness: Any = None) -> Verdict:
    return Verdict(invariant, UNKNOWN, explanation, witness)
