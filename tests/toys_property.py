"""A toy property system: run-length encoding of short lists of digits.

`correct` encodes each run of equal digits as (digit, count) and decodes by repeating. The
seeded bug `two-bit-counts` stores each count in two bits, so a run of four or more wraps
round: the smallest input it breaks is four zeros, which decode to nothing. `nine-raises`
fails on the digit 9 with an exception, which is a finding like any other.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from checker.properties import PropertySystem, property_invariant
from checker.system import Config, Variant


class RunLength:
    def encode(self, digits: list[int]) -> list[tuple[int, int]]:
        runs: list[list[int]] = []
        for digit in digits:
            if runs and runs[-1][0] == digit:
                runs[-1][1] += 1
            else:
                runs.append([digit, 1])
        return [(digit, self.stored(count)) for digit, count in runs]

    def stored(self, count: int) -> int:
        return count

    def decode(self, runs: list[tuple[int, int]]) -> list[int]:
        return [digit for digit, count in runs for _ in range(count)]


class TwoBitCounts(RunLength):
    def stored(self, count: int) -> int:
        return count % 4


class NineRaises(RunLength):
    def encode(self, digits: list[int]) -> list[tuple[int, int]]:
        if 9 in digits:
            raise ValueError("no code for 9")
        return super().encode(digits)


@property_invariant("roundtrip")
def roundtrip(codec: RunLength, digits: list[int]) -> str | None:
    """Decoding what was encoded gives the digits back."""
    back = codec.decode(codec.encode(digits))
    return None if back == digits else f"decode(encode({digits})) is {back}"


@property_invariant("maximal-runs")
def maximal_runs(codec: RunLength, digits: list[int]) -> str | None:
    """Each run is as long as it can be: no two neighbouring runs share a digit, and no run
    is empty."""
    runs = codec.encode(digits)
    for (a, count), (b, _) in zip(runs, runs[1:] + [(None, 1)]):
        if a == b or count == 0:
            return f"encode({digits}) is {runs}"
    return None


def inputs(config: Config) -> st.SearchStrategy:
    return st.lists(st.integers(0, 9), max_size=config.params["max_length"])


def from_json(data: Any, config: Config) -> list[int]:
    if not isinstance(data, list) or len(data) > config.params["max_length"]:
        raise ValueError(f"expected a list of at most {config.params['max_length']} digits")
    if not all(type(x) is int and 0 <= x <= 9 for x in data):
        raise ValueError("every item must be a digit 0..9")
    return list(data)


TOY_RLE = PropertySystem(
    name="toyrle", paper="(toy)", summary="run-length encoding of digits",
    invariants=(roundtrip, maximal_runs),
    configs={"default": Config("default", params={"max_length": 12}),
             "small": Config("small", params={"max_length": 5})},
    variants={
        "correct": Variant("correct", RunLength()),
        "two-bit-counts": Variant("two-bit-counts", TwoBitCounts(),
                                  breaks="counts kept in two bits wrap at four",
                                  caught_by="roundtrip", teaches="fixed-width fields overflow"),
        "nine-raises": Variant("nine-raises", NineRaises(), breaks="no code for the digit 9",
                               caught_by="roundtrip", teaches="an exception is a finding"),
    },
    inputs=inputs, to_json=list, from_json=from_json, size=len,
    show=lambda digits: [f"{len(digits)} digits"],
)
