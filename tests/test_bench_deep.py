"""The deep-search benchmark's row: the same states with and without sleep sets, fewer
transitions with them, and nothing run to its end that the workload did not finish."""

from __future__ import annotations

from benchmarks.bench_deep import search_row


def test_sleep_sets_keep_the_states_and_cut_the_transitions() -> None:
    with_sleep = search_row("correct", 4, sleep_sets=True)
    without = search_row("correct", 4, sleep_sets=False)
    columns = ["target", "depth", "reductions", "verdict", "deepest", "states",
               "transitions", "asleep", "ended"]
    first, second = (dict(zip(columns, row)) for row in (with_sleep, without))
    assert first["states"] == second["states"] == "1,130" and first["deepest"] == "4"
    assert int(first["transitions"].replace(",", "")) < int(second["transitions"].replace(",", ""))
    assert int(first["asleep"].replace(",", "")) > 0
    assert second["asleep"] == "0" and first["verdict"] == "unknown"  # cut by the depth bound
    assert first["ended"] == second["ended"] == "0"  # no workload is done within 4 events
