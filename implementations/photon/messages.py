"""The events Photon joins, the IdRegistry's token, and every message, in pipeline order."""

from __future__ import annotations

from typing import NamedTuple

import attrs

# --- the events ------------------------------------------------------------------------------


@attrs.frozen
class Query:
    """An entry of the primary log: a search query, and the ad it showed."""

    query_id: str
    ad: str


@attrs.frozen
class Click:
    """An entry of the foreign log: a click on the ad a query showed."""

    click_id: str
    query_id: str


@attrs.frozen
class JoinedClick:
    """The output: a click with the query it followed."""

    click_id: str
    query_id: str
    ad: str


class Token(NamedTuple):
    """Who registers a click id: the joiner, its life (a durable count of its boots) and its
    attempt within that life. A retry of one attempt shows the same token; a new attempt, a
    new one. Shown as `j1:2.5`."""

    joiner: str
    life: int
    attempt: int

    def __repr__(self) -> str:
        return f"{self.joiner}:{self.life}.{self.attempt}"


# --- logging: the frontends write both logs in both datacenters -------------------------------


@attrs.frozen
class LogQuery:
    query: Query


@attrs.frozen
class LogClick:
    click: Click


@attrs.frozen
class Logged:
    """The entry named `id` is durably in the receiver's log."""

    id: str


# --- dispatcher and joiner -------------------------------------------------------------------


@attrs.frozen
class Join:
    click: Click


@attrs.frozen
class Joined:
    """The click is in this datacenter's output log."""

    click_id: str


@attrs.frozen
class AlreadyJoined:
    """The IdRegistry holds the click for another token: someone else joined it."""

    click_id: str


@attrs.frozen
class NotYet:
    """The click's query is not in the event store yet: try again later."""

    click_id: str


# --- joiner and event store ------------------------------------------------------------------


@attrs.frozen
class Lookup:
    query_id: str


@attrs.frozen
class Found:
    query: Query


@attrs.frozen
class Missing:
    query_id: str


# --- joiner and IdRegistry -------------------------------------------------------------------


@attrs.frozen
class Insert:
    """Register `click_id` for `token`, unless it is registered already; also the command the
    registry's Paxos log carries."""

    click_id: str
    token: Token


@attrs.frozen
class Inserted:
    """The registry's answer: `ok` (the id is registered with this token) or not (with
    another: already joined)."""

    click_id: str
    token: Token
    ok: bool


@attrs.frozen
class NotMaster:
    """Ask `hint` (None: no master known yet)."""

    click_id: str
    hint: str | None


# --- joiner and output log -------------------------------------------------------------------


@attrs.frozen
class Output:
    joined: JoinedClick


@attrs.frozen
class OutputDone:
    click_id: str


# --- the harness waiting for the pipeline to settle ------------------------------------------


@attrs.frozen
class HowFar:
    """From the harness: a dispatcher or joiner answers once it has nothing left to do; a
    registry replica answers at once, with how much of its log it has applied."""

    round: int


@attrs.frozen
class Idle:
    """From a dispatcher or a joiner: no click is left to work on."""

    round: int


@attrs.frozen
class LogLength:
    round: int
    applied: int
