"""Hunts on a Dask cluster (`deepdives hunt --dask`) give what local hunts give — the same
table, seeds and shrunk counterexamples, written here — on a LocalCluster of two worker
processes; and a cluster that cannot hunt is one line and exit 2."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from distributed import LocalCluster

from checker import cluster
from checker.cli import cli
from tests.toys import COUNTER

# The workers are other processes: they load the toy system through
# `--system-module tests.test_cluster`, as they would a user's own.
SYSTEM = COUNTER
TOY = ("--system-module", "tests.test_cluster")


@pytest.fixture(scope="module")
def address() -> str:
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                      dashboard_address=None) as local:
        yield local.scheduler_address


def hunt(out: Path, *args: object, dask: str | None = None):
    where = ["--dask", dask] if dask else ["--jobs", "1"]
    return CliRunner().invoke(cli, [*TOY, "hunt", *map(str, args), "--quiet", "--report-dir",
                                    str(out), *where])


def table(result, out: Path) -> list[list[str]]:
    """The hunt's table without its wall-clock cells (first violation) and its directory."""
    rows = [line.replace(str(out), "DIR").split() for line in result.stdout.splitlines()]
    return [[cell for cell in row if not re.fullmatch(r"[\d.]+s", cell)] for row in rows]


def written(out: Path) -> dict[str, str]:
    return {path.name: path.read_text().replace(str(out), "DIR")
            for path in sorted(out.iterdir())}


@pytest.mark.parametrize("args", [
    # the toy's bug first fails at its 20th run from seed 160: after several tasks
    ("counter", "--runs", 300, "--seed", 160),
    ("counter:forgetful", "--runs", 100, "--strategy", "hypothesis", "--database", "none"),
    ("arrow", "--runs", 30),  # a property system: one search, run on a worker
], ids=["random", "hypothesis", "property-system"])
def test_a_dask_hunt_gives_the_local_hunts_table_and_counterexamples(
        tmp_path: Path, address: str, args: tuple) -> None:
    local = hunt(tmp_path / "local", *args)
    on_dask = hunt(tmp_path / "dask", *args, dask=address)
    assert on_dask.exit_code == local.exit_code == 0, on_dask.output
    assert table(on_dask, tmp_path / "dask") == table(local, tmp_path / "local")
    assert "found" in local.stdout
    assert written(tmp_path / "dask") == written(tmp_path / "local") != {}


def test_one_seed_per_task_finishing_out_of_order_still_gives_the_first_violation(
        tmp_path: Path, address: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tasks of one seed each, four in flight: later seeds come back before earlier ones
    and several violate; the hunt reports the first in seed order, as a local one does."""
    monkeypatch.setattr(cluster, "TASK_SECONDS", 0.0)
    args = ("counter:forgetful", "--runs", 300, "--seed", 160, "--no-shrink")
    local = hunt(tmp_path / "local", *args)
    on_dask = hunt(tmp_path / "dask", *args, dask=address)
    assert table(on_dask, tmp_path / "dask") == table(local, tmp_path / "local")
    assert written(tmp_path / "dask") == written(tmp_path / "local")
    assert "counter.forgetful.seed179.json" in written(tmp_path / "dask")


def test_tasks_take_about_a_second_of_runs_and_the_last_ones_end_together() -> None:
    batches = cluster.Batches(range(1000), window=4)
    assert [len(batches.next()) for _ in range(4)] == [1, 1, 1, 1]  # nothing measured yet
    batches.took(4, 0.08)  # 20 ms a run: 50 runs a second
    assert len(batches.next()) == 50
    batches = cluster.Batches(range(10), window=4)
    batches.took(1, 0.001)
    assert [len(batches.next()) for _ in range(6)] == [3, 2, 2, 1, 1, 1]
    assert batches.next() == []


def assert_one_line_exit_2(result, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("deepdives: error: ") and fragment in line, line


def test_an_unreachable_scheduler_is_one_line_and_exit_2(tmp_path: Path) -> None:
    assert_one_line_exit_2(hunt(tmp_path, "counter", dask="nonsense://host:8786"),
                           "cannot reach the Dask scheduler at nonsense://host:8786")


def test_without_distributed_it_says_how_to_install_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    assert_one_line_exit_2(hunt(tmp_path, "counter", dask="tcp://127.0.0.1:8786"),
                           "pip install -e '.[cluster]'")


class WorkersOfAnotherCheckout:
    def wait_for_workers(self, n: int, timeout: float) -> None:
        pass

    def run(self, fn: object) -> dict[str, str]:
        return {"tcp://10.0.0.2:4000": "another digest"}


def test_workers_running_another_deepdives_are_refused() -> None:
    with pytest.raises(cluster.ClusterUnavailable, match="tcp://10.0.0.2:4000 run another"):
        cluster._check_workers(WorkersOfAnotherCheckout(), "tcp://scheduler:8786")
