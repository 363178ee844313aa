"""The user's side of a job: the input file and the map, combine, reduce and partition
functions (the paper's word count, section 2.1), and a sampling variant whose map is not a
deterministic function of its split.

The input is a file in a GFS-like store, already cut into splits. GFS keeps three replicas of
every chunk and the master schedules maps near one, so a map's read of its split does not
fail here: the splits are fixed data every worker holds (`INPUT`), and what can fail is the
framework around them.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

INPUT = ("the cat sat", "the dog sat", "a cat ran", "a dog")


class WordCount:
    """map emits (word, 1) for every word; the combiner and reduce both sum."""

    name = "word-count"
    choices = 1  # the map's draws: one, so the map is a function of its split

    def map(self, split: str, draw: int) -> Iterator[tuple[str, int]]:
        for word in split.split():
            yield word, 1

    def combine(self, key: str, values: list[int]) -> int:
        """Run on each map's output before it is written: partial counts, so that one split
        sends `('the', 2)` to its reducer instead of `('the', 1)` twice."""
        return sum(values)

    def reduce(self, key: str, values: list[int]) -> int:
        return sum(values)

    def partition(self, key: str, reduces: int) -> int:
        """The paper's default, hash(key) mod R, with a hash that is the same in every
        process (Python's `hash` of a string is not)."""
        return zlib.crc32(key.encode()) % reduces


class SampledWordCount(WordCount):
    """Counts a sample: every other word of the split, from the first or the second as the
    map draws. Sampling maps are common (say, to pick a sort's split points); this one makes
    the map's output depend on which execution of it the reducers read."""

    name = "sampled-word-count"
    choices = 2

    def map(self, split: str, draw: int) -> Iterator[tuple[str, int]]:
        for word in split.split()[draw::2]:
            yield word, 1


PROGRAMS = {program.name: program for program in (WordCount(), SampledWordCount())}
