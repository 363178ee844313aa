"""Replay memory: the failures hunts found, kept in a Hypothesis example database and
replayed first by the next hunt of the same variant — as Hypothesis replays a test's last
failing example before it generates new ones.

Each entry is a replay file (`checker.replayfile`), stored under the key
`deepdives:SYSTEM:VARIANT`. The next hunt of that variant replays its entries first: one
that still fails is the hunt's finding at once; one that no longer fails (the bug was fixed),
or no longer reads (the system changed), is forgotten. The database is Hypothesis's own
`ExampleDatabase`, so a team shares it as it shares Hypothesis's: a directory in the
repository or on a shared disk, or any database Hypothesis offers (a read-only
`GitHubArtifactDatabase` of CI's failures, several combined with `MultiplexedDatabase`).
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

from checker.replayfile import ReplayFileError, check_fits, counterexample, parse
from checker.run import RunResult, execute
from checker.strategies import Replay
from checker.system import System

DEFAULT_DIRECTORY = Path(".hypothesis") / "deepdives"


class ReplayMemory:
    def __init__(self, database: ExampleDatabase) -> None:
        self.database = database

    @classmethod
    def at(cls, directory: str | Path) -> ReplayMemory:
        return cls(DirectoryBasedExampleDatabase(str(directory)))

    @staticmethod
    def key(system: str, variant: str) -> bytes:
        return f"deepdives:{system}:{variant}".encode()

    def remember(self, system: System, result: RunResult) -> None:
        entry = json.dumps(counterexample(system, result).to_json(), sort_keys=True)
        self.database.save(self.key(result.system, result.variant), entry.encode())

    def entries(self, system: str, variant: str) -> list[bytes]:
        return sorted(self.database.fetch(self.key(system, variant)))

    def replay(self, system: System, variant: str) -> RunResult | None:
        """The first remembered failure of this variant that still fails, replayed; the
        entries that no longer fail or no longer read are forgotten on the way."""
        key = self.key(system.name, variant)
        for entry in self.entries(system.name, variant):
            try:
                example = parse(json.loads(entry))
                check_fits(example, system)
            except (ValueError, ReplayFileError):
                self.database.delete(key, entry)
                continue
            result = execute(system, variant, example.config, example.seed,
                             Replay(example.choices))
            if result.violated:
                return result
            self.database.delete(key, entry)
        return None
