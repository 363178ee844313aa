"""Hunts on a Dask cluster: `deepdives hunt --dask tcp://HOST:8786` (docs/cluster.md).

A `DaskRunner` is a `checker.hunt.Runner`: it runs a variant's seeds as tasks of consecutive
seeds on the cluster's workers and hands their runs back in seed order, and it shrinks there
too; the hunt itself — its budget, its first violation, its reports — stays here, the same
code as a local hunt's. So a hunt gives the same table, trace and files as a local one with
the same seeds: every run is a function of its seed, a task stops at its own first violation
(later seeds could not count), and the hunt counts runs in seed order, stopping at the first
violation as it does here, however the tasks were cut or whichever finished first.

Dask's `distributed` is imported only when a hunt connects (`pip install -e '.[cluster]'`).
Systems travel by name and are looked up on the workers, which therefore need the same
deepdives checkout (checked when connecting) and the modules of `--system-module`.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sized
from pathlib import Path
from typing import Any

import attrs

from checker import registry
from checker.hunt import ConfigMix, SeedRun, run_seed
from checker.system import System

CONNECT_SECONDS = 10
# Each task runs about this long, once the first tasks have measured a run's time: the
# cluster's cost per task (scheduling, sending the seeds and the counts back) is tens of
# milliseconds of CPU at most (benchmarks/bench_cluster.py), a few percent of it or less.
TASK_SECONDS = 1.0
PACKAGES = ("checker", "implementations", "invariants", "models")


class ClusterUnavailable(Exception):
    """No hunt on this cluster: distributed is not installed, the scheduler cannot be
    reached, it has no workers, or they run another deepdives. The message is one line."""


def connect(address: str, modules: tuple[str, ...] = ()) -> DaskRunner:
    """A runner on the cluster whose scheduler is at `address`; `modules` are the
    `--system-module`s the workers load too."""
    try:
        from distributed import Client
        from distributed.comm import resolve_address
    except ImportError:
        raise ClusterUnavailable("--dask needs Dask's distributed: "
                                 "pip install -e '.[cluster]'") from None
    try:
        resolve_address(address)  # before a Client, which a bad address leaves half-made
        client = Client(address, timeout=f"{CONNECT_SECONDS}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterUnavailable(f"cannot reach the Dask scheduler at {address}: "
                                 f"{_one_line(exc)}") from None
    try:
        _check_workers(client, address)
    except ClusterUnavailable:
        client.close()
        raise
    return DaskRunner(client, modules)


def _check_workers(client: Any, address: str) -> None:
    try:
        client.wait_for_workers(1, timeout=CONNECT_SECONDS)
    except TimeoutError:
        raise ClusterUnavailable(f"the Dask scheduler at {address} has no workers "
                                 f"(start some: dask worker {address})") from None
    here = source_fingerprint()
    try:
        theirs = client.run(source_fingerprint)
    except Exception as exc:  # a worker that cannot even import deepdives
        raise ClusterUnavailable(f"a worker of {address} cannot run deepdives: "
                                 f"{_one_line(exc)}") from None
    other = sorted(worker for worker, fingerprint in theirs.items() if fingerprint != here)
    if other:
        raise ClusterUnavailable(f"workers {', '.join(other)} run another deepdives checkout "
                                 "than this one (every machine needs the same)")


def source_fingerprint() -> str:
    """A digest of deepdives' own Python sources: equal on two machines when their runs
    are the same functions of their seeds."""
    digest = hashlib.blake2b(digest_size=16)
    root = Path(__file__).resolve().parent.parent
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class DaskRunner:
    """Runs a hunt's work on a Dask cluster; a context manager that closes the client."""

    def __init__(self, client: Any, modules: tuple[str, ...] = ()) -> None:
        self.client = client
        self.modules = modules

    def __enter__(self) -> DaskRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.client.close()

    def call(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        kwargs.pop("progress", None)  # a callback of this process: the caller reports
        return self._submit(fn, *args, **kwargs).result()

    def seed_runs(self, system: System, variant: str, mix: ConfigMix, seeds: Iterable[int],
                  strategy: str) -> Iterator[SeedRun]:
        """Tasks of consecutive seeds, two per worker thread in flight so that none waits;
        their runs yielded in seed order. Closing the iterator cancels the tasks left."""
        window = 2 * max(1, sum(self.client.nthreads().values()))
        plan = Batches(seeds, window)
        pending: deque = deque()
        try:
            while True:
                while len(pending) < window and (batch := plan.next()):
                    pending.append(self._submit(run_batch, system, variant, mix, batch,
                                                strategy))
                if not pending:
                    return
                runs, seconds = pending.popleft().result()
                plan.took(len(runs), seconds)
                yield from runs
        finally:
            self.client.cancel(list(pending))

    def _submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        sent = [_Named(arg.name) if isinstance(arg, System) else arg for arg in args]
        return self.client.submit(_on_worker, fn, self.modules, sent, kwargs, pure=False,
                                  key=f"deepdives-{fn.__name__}-{uuid.uuid4().hex}")


class Batches:
    """Cuts seeds into tasks of about TASK_SECONDS, by the time the runs that came back took
    (one seed per task until some have); when the number of seeds is known, a task takes at
    most its share of those left over the tasks in flight, so that the last ones end together.
    How the seeds are cut changes nothing but the time."""

    def __init__(self, seeds: Iterable[int], window: int) -> None:
        self.seeds = iter(seeds)
        self.left = len(seeds) if isinstance(seeds, Sized) else None
        self.window = window
        self.runs = 0
        self.seconds = 0.0

    def took(self, runs: int, seconds: float) -> None:
        self.runs += runs
        self.seconds += seconds

    def size(self) -> int:
        size = 1
        if self.runs:
            size = max(1, round(TASK_SECONDS * self.runs / max(self.seconds, 1e-6)))
        if self.left is not None:
            size = min(size, max(1, math.ceil(self.left / self.window)))
        return size

    def next(self) -> list[int]:
        batch = list(itertools.islice(self.seeds, self.size()))
        if self.left is not None:
            self.left -= len(batch)
        return batch


def run_batch(system: System, variant: str, mix: ConfigMix, seeds: list[int],
              strategy: str) -> tuple[list[SeedRun], float]:
    """On a worker: the runs of `seeds` in order, up to the first violation (the hunt counts
    none after it), and the seconds they took."""
    started = time.perf_counter()
    runs = []
    for seed in seeds:
        runs.append(run_seed(system, variant, mix, seed, strategy))
        if runs[-1].violation is not None:
            break
    return runs, time.perf_counter() - started


@attrs.frozen
class _Named:
    """A system sent by its name: a worker looks it up in its own registry."""

    name: str


def _on_worker(fn: Callable[..., Any], modules: tuple[str, ...], args: list[Any],
               kwargs: dict[str, Any]) -> Any:
    found = [_system(arg.name, modules) if isinstance(arg, _Named) else arg for arg in args]
    return fn(*found, **kwargs)


@functools.cache
def _system(name: str, modules: tuple[str, ...]) -> System:
    for module in modules:
        registry.add_module(module)
    return registry.lookup(name)
