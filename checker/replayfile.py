"""Counterexample replay files: JSON only (never pickle), validated on load.

A replay file names a run completely — system, variant, config, seed, choices — plus what it
violated, so `deepdives replay` can reproduce and `deepdives shrink` can minimize it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from checker.sim import KINDS
from checker.system import Config

FORMAT = "deepdives-replay"
VERSION = 1

# the argument types of each event kind, after its name
_ARITY: dict[str, tuple[type, ...]] = {
    "deliver": (str, str, int), "drop": (str, str, int), "duplicate": (str, str, int),
    "fire": (str, str), "invoke": (str,), "crash": (str,), "restart": (str,),
    "partition": (list,), "heal": (), "pause": (str, int), "skew": (str, int),
}


class ReplayFileError(ValueError):
    """A replay file that cannot be used; the message says what is wrong and where."""


@attrs.frozen
class Counterexample:
    system: str
    variant: str
    config: Config
    seed: int
    choices: list[tuple]
    invariant: str
    verdict: str
    explanation: str = ""

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "system": self.system,
                "variant": self.variant, "config": self.config.to_json(), "seed": self.seed,
                "choices": [_event_to_json(e) for e in self.choices],
                "invariant": self.invariant, "verdict": self.verdict,
                "explanation": self.explanation}

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        tmp.replace(path)  # never leave a half-written file behind


def load(path: str | Path) -> Counterexample:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ReplayFileError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReplayFileError(f"{path}: not valid JSON at line {exc.lineno} column "
                              f"{exc.colno}: {exc.msg} (truncated or hand-edited?)") from None
    try:
        return parse(data)
    except ReplayFileError as exc:
        raise ReplayFileError(f"{path}: {exc}") from None


def parse(data: Any) -> Counterexample:
    if not isinstance(data, dict):
        raise ReplayFileError("expected a JSON object at the top level")
    if data.get("format") != FORMAT:
        raise ReplayFileError(f"not a deepdives replay file (format is {data.get('format')!r})")
    if data.get("version") != VERSION:
        raise ReplayFileError(f"replay format version {data.get('version')!r} is not "
                              f"supported (this deepdives reads version {VERSION})")
    fields = {"system": str, "variant": str, "config": dict, "seed": int, "choices": list,
              "invariant": str, "verdict": str}
    for name, kind in fields.items():
        if not isinstance(data.get(name), kind) or isinstance(data.get(name), bool):
            raise ReplayFileError(f"field {name!r} must be a {kind.__name__}")
    try:
        config = Config.from_json(data["config"])
    except (TypeError, ValueError) as exc:
        raise ReplayFileError(f"field 'config' is invalid: {exc}") from None
    choices = [_event_from_json(i, e) for i, e in enumerate(data["choices"])]
    return Counterexample(data["system"], data["variant"], config, data["seed"], choices,
                          data["invariant"], data["verdict"], str(data.get("explanation", "")))


def _event_to_json(event: tuple) -> list:
    return [list(x) if isinstance(x, tuple) else x for x in event]


def _event_from_json(index: int, raw: Any) -> tuple:
    where = f"choice {index}"
    if not isinstance(raw, list) or not raw or raw[0] not in KINDS:
        raise ReplayFileError(f"{where}: expected [kind, ...] with kind one of "
                              f"{', '.join(KINDS)}, got {json.dumps(raw)[:60]}")
    kind, args = raw[0], raw[1:]
    expected = _ARITY[kind]
    if len(args) != len(expected) or not all(
            isinstance(a, t) and not isinstance(a, bool) for a, t in zip(args, expected)):
        names = ", ".join(t.__name__ for t in expected)
        raise ReplayFileError(f"{where}: {kind} takes ({names}), got {json.dumps(args)[:60]}")
    if kind == "partition":
        if not all(isinstance(n, str) for n in args[0]):
            raise ReplayFileError(f"{where}: partition takes a list of node names")
        return (kind, tuple(args[0]))
    return (kind, *args)
