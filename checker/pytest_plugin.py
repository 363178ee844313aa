"""The pytest plugin: hunt budgets on the command line, hypothesis profiles, `assert_hunt`.

    pytest -n auto                              # the suite, hunts spread over cores
    pytest -n auto --deepdives-runs 5000 -k sso  # a longer hunt of one system
    pytest --hypothesis-profile deepdives-hunt   # long hypothesis searches
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from checker import registry
from checker.hunt import ALL_CONFIGS, Budget, HuntOutcome, hunt, hunt_config
from checker.memory import DEFAULT_DIRECTORY, ReplayMemory
from checker.system import System

# A count, so that a test's counterexample is the same on any machine; over every seeded bug,
# it costs about what the former 10 s each cost (docs/engine.md, "Shrinking").
TEST_SHRINK_REPLAYS = 250

settings.register_profile("deepdives-ci", derandomize=True, deadline=None, database=None,
                          print_blob=True, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.large_base_example])
settings.register_profile("deepdives-hunt", max_examples=5000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("deepdives")
    group.addoption("--deepdives-runs", type=int, default=None,
                    help="runs per correct-variant hunt (default: each test's own)")
    group.addoption("--deepdives-seed", type=int, default=0, help="first seed of every hunt")
    group.addoption("--deepdives-shrink-replays", type=int, default=TEST_SHRINK_REPLAYS,
                    help=f"shrink budget of each counterexample found, in replays (default: "
                         f"{TEST_SHRINK_REPLAYS}; a test needs a valid counterexample, not the "
                         f"shortest)")
    group.addoption("--deepdives-report-dir", default="reports",
                    help="where hunts write counterexamples (default: reports/)")
    group.addoption("--deepdives-database", default=str(DEFAULT_DIRECTORY),
                    help=f"replay memory: failures found are kept in this Hypothesis example "
                         f"database and replayed first by the next run (default: "
                         f"{DEFAULT_DIRECTORY}; 'none' turns it off)")


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("hypothesis_profile", None):
        settings.load_profile("deepdives-ci")


class Hunter:
    """Runs a hunt for a test and fails it with the replay command when it misses."""

    def __init__(self, config: pytest.Config) -> None:
        self.runs = config.getoption("deepdives_runs")
        self.seed = config.getoption("deepdives_seed")
        self.report_dir = Path(config.getoption("deepdives_report_dir"))
        self.shrink_replays = config.getoption("deepdives_shrink_replays")
        database = config.getoption("deepdives_database")
        self.memory = None if database == "none" else ReplayMemory.at(database)

    def __call__(self, system: str | System, variant: str, runs: int,
                 config_name: str = ALL_CONFIGS) -> HuntOutcome:
        """Hunt `variant` of `system` (a registered name, or a System of your own)."""
        system = registry.lookup(system) if isinstance(system, str) else system
        budget = Budget(runs=self.runs if self.runs and not system.variant(variant).seeded
                        else runs)
        outcome = hunt(system, variant, hunt_config(system, config_name), budget=budget,
                       seed=self.seed, report_dir=self.report_dir,
                       shrink_replays=self.shrink_replays, memory=self.memory)
        if not outcome.passed:
            pytest.fail(_explain(outcome), pytrace=False)
        return outcome


def _explain(outcome: HuntOutcome) -> str:
    name = f"{outcome.system}:{outcome.variant}"
    if outcome.seeded:
        return f"seeded bug {name} was not found in {outcome.runs} runs"
    if outcome.undecided:
        return f"correct variant {name}: {outcome.unknowns} of {outcome.runs} runs ended " \
               f"unknown (a check's budget ran out), so the hunt cannot call it clean"
    verdict = outcome.violation.verdict
    return (f"correct variant {name} violated {verdict.invariant}: {verdict.explanation}\n"
            f"  report: {outcome.report_path}\n  replay: deepdives replay {outcome.replay_path}")


@pytest.fixture
def assert_hunt(pytestconfig: pytest.Config) -> Hunter:
    return Hunter(pytestconfig)
