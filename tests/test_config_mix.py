"""The default hunt spreads its runs over every configuration a system registers."""

from __future__ import annotations

from collections import Counter

import attrs

from checker.hunt import ALL_CONFIGS, Budget, ConfigMix, hunt, hunt_config
from checker.run import execute
from checker.strategies import Replay
from checker.system import Config
from tests.toys import COUNTER

NO_CRASHES = Config("default", servers=1, clients=2, ops_per_client=3,
                    faults={"drop": 1, "duplicate": 1})
CRASHES = Config("crashes", servers=1, clients=2, ops_per_client=3, faults={"crash": 1})
ROOMY = Config("roomy", servers=1, clients=3, ops_per_client=3, faults={"drop": 1})
# the forgetful counter loses a put only in a crash: only one configuration can show it
TWO_SHAPES = attrs.evolve(COUNTER, configs={"crashes": CRASHES, "default": NO_CRASHES,
                                            "roomy": ROOMY})


def test_the_mix_puts_default_first_and_keeps_the_others_in_order() -> None:
    mix = ConfigMix.every(TWO_SHAPES)
    assert [c.name for c in mix.configs] == ["default", "crashes", "roomy"]
    assert hunt_config(TWO_SHAPES, ALL_CONFIGS) == mix
    assert hunt_config(TWO_SHAPES, "roomy") is ROOMY


def test_two_runs_in_three_are_on_default_and_the_rest_spread_evenly() -> None:
    mix = ConfigMix.every(TWO_SHAPES)
    shares = Counter(mix.for_seed(seed).name for seed in range(3000))
    assert 1900 < shares["default"] < 2100
    assert 400 < shares["crashes"] < 600 and 400 < shares["roomy"] < 600
    # a function of the seed alone
    assert [mix.for_seed(s).name for s in range(50)] == \
        [ConfigMix.every(TWO_SHAPES).for_seed(s).name for s in range(50)]


def test_one_configuration_is_a_mix_of_one() -> None:
    assert all(ConfigMix((CRASHES,)).for_seed(seed) is CRASHES for seed in range(20))


def test_a_bug_only_another_configuration_shows_is_found_by_the_mix_and_replays() -> None:
    alone = hunt(TWO_SHAPES, "forgetful", NO_CRASHES, budget=Budget(runs=200))
    assert alone.verdict == "MISSED"
    mixed = hunt(TWO_SHAPES, "forgetful", ConfigMix.every(TWO_SHAPES), budget=Budget(runs=200))
    found = mixed.violation
    assert found is not None and found.config == CRASHES
    again = execute(TWO_SHAPES, "forgetful", found.config, found.seed, Replay(found.choices))
    assert again.verdict.invariant == "acked-puts-durable" and again.violated
    assert hunt(TWO_SHAPES, "correct", ConfigMix.every(TWO_SHAPES),
                budget=Budget(runs=100)).verdict == "clean"
