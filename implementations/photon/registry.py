"""The IdRegistry: click ids and the tokens that registered them, kept by a Paxos cell.

The cell is SSO's (`implementations.sso.Replica`: the Multi-Paxos core of `paxos_core` with a
master lease); the replicated state machine is the registry's table. Every insert goes
through the log, so its answer is decided where it is applied, in log order, identically on
every replica: the master answers the joiner once the insert is chosen and applied.
"""

from __future__ import annotations

from typing import Any

from checker.node import Context
from implementations import sso
from implementations.paxos_core import CANDIDATE, MASTER, NOOP
from implementations.photon.messages import HowFar, Insert, Inserted, LogLength, NotMaster, Token

RENEW = 200  # the master renews its lease this often (sso.LEASE covers it easily)
CANDIDATE_TICK = 50  # a candidate looks this often whether its candidacy has failed


class IdRegistry(sso.Replica):
    """A registry replica: SSO's cell with the conditional insert as its state machine."""

    def on_start(self, ctx: Context) -> None:
        self.registry: dict[str, Token] = {}  # click id -> token; rebuilt by replaying the log
        super().on_start(ctx)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case Insert():
                self.on_insert(ctx, src, msg)
            case HowFar(round_):
                ctx.send(src, LogLength(round_, self.applied))
            case _:
                super().on_message(ctx, src, msg)

    def on_insert(self, ctx: Context, src: str, msg: Insert) -> None:
        """A click id in my table is committed, and its entry never changes: answer at once.
        Otherwise the insert goes through the log (once: a retry of an insert still being
        chosen is answered with it)."""
        if self.role != MASTER:
            ctx.send(src, NotMaster(msg.click_id, self.master_hint))
        elif msg.click_id in self.registry:
            ok = self.conditional_insert(msg.click_id, msg.token)
            ctx.send(msg.token.joiner, Inserted(msg.click_id, msg.token, ok))
        elif msg not in self.proposals.values():
            self.propose(ctx, msg)  # answered in `apply`, once chosen

    def apply(self, ctx: Context, slot: int, value: Any) -> None:
        if value is NOOP:
            return
        ok = self.conditional_insert(value.click_id, value.token)
        if self.role == MASTER:
            ctx.send(value.token.joiner, Inserted(value.click_id, value.token, ok))

    def conditional_insert(self, click_id: str, token: Token) -> bool:
        """Insert if absent; if present with the same token, a retry of the insert whose reply
        was lost: success again; with another token: already joined."""
        return self.registry.setdefault(click_id, token) == token

    def tick_period(self, ctx: Context) -> int:
        """Slower than SSO's ticks: a master renews its lease, and a candidate looks whether its
        (at least sso.CANDIDACY long) candidacy failed, less often."""
        if self.role == MASTER and not self.cut_off(ctx):
            return RENEW
        if self.role == CANDIDATE:
            return max(CANDIDATE_TICK, super().tick_period(ctx))
        return super().tick_period(ctx)

    def cut_off(self, ctx: Context) -> bool:
        return self.role == MASTER and ctx.now() - self.last_renewal > RENEW + sso.SILENT


class TokenIgnored(IdRegistry):
    """Seeded bug: the conditional insert looks at the click id only.

    Breaks: a joiner whose first insert succeeded but whose reply was lost retries with the
    same token and is told "already joined"; it drops the click, and so does the other
    datacenter, whose insert really was refused: the click is never output.
    Caught by: joined-exactly-once (lost). Teaches: Photon (SIGMOD'13), the IdRegistry: the
    token makes a retried registration succeed again.
    """

    def conditional_insert(self, click_id: str, token: Token) -> bool:
        if click_id in self.registry:
            return False
        self.registry[click_id] = token
        return True
