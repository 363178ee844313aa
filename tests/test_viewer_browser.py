"""The trace viewer in a real browser: Debian's Chromium, driven headless by Playwright.

Without the browser (or Playwright) these tests are skipped, saying why; under CI (the `CI`
environment variable set, as `.ci/run` does) they fail instead, for there they must run.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.bench_linearizability import register_invocation, simulate
from checker import registry, timeline, viewer
from checker.replayfile import load
from checker.run import execute
from checker.strategies import Replay
from checker.system import Config
from invariants.linearizability import search_linearization
from models.sequential import Register
from tests import toys
from tests.test_timeline import DATA, check_html, hostile_history
from tests.test_viewer import HOSTILE_SYSTEM, states_after

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).parent.parent


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; under CI the browser tests must run (.ci/run installs it)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture
def open_page(browser: Any, tmp_path: Path) -> Iterator[Any]:
    """Opens a viewer page from a file; fails the test on any script error, console error or
    dialog."""
    pages = []
    problems: list[str] = []

    def opening(html: str) -> Any:
        path = tmp_path / f"viewer{len(pages)}.html"
        path.write_text(html, encoding="utf-8")
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"),
                                          dialog.dismiss()))
        page.on("console", lambda message: problems.append(f"console: {message.text}")
                if message.type == "error" else None)
        page.goto(path.as_uri())
        pages.append(page)
        return page

    yield opening
    for page in pages:
        page.close()
    assert not problems


def _lesson_page(name: str) -> tuple[Any, str]:
    example = load(ROOT / "docs/lessons/traces" / f"{name}.json")
    system = registry.lookup(example.system)
    result = execute(system, example.variant, example.config, example.seed,
                     Replay(example.choices))
    return example, viewer.page(system, result)


def _step_shown(page: Any) -> int:
    return int(page.get_attribute("#where", "data-step"))


def _states_shown(page: Any) -> dict[str, dict[str, str]]:
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.card')]
        .filter(card => !card.classList.contains('down'))
        .map(card => [card.dataset.node, Object.fromEntries([...card.querySelectorAll('tr')]
            .map(tr => [tr.dataset.key, tr.querySelector('.v').textContent]))]))""")


def test_stepping_shows_the_replays_state_at_each_step(open_page: Any) -> None:
    example, html = _lesson_page("mesa.compaction-overlap")
    page = open_page(html)
    page.uncheck("#only-slice")  # every step a row
    page.keyboard.press("Home")
    assert _step_shown(page) == 0
    for k in range(1, 14):
        page.keyboard.press("ArrowRight")
        assert _step_shown(page) == k
        if k in (3, 9, 13):
            assert _states_shown(page) == states_after(registry.lookup(example.system),
                                                       example, k)
    for k in (12, 11):
        page.keyboard.press("ArrowLeft")
        assert _step_shown(page) == k
    assert _states_shown(page) == states_after(registry.lookup(example.system), example, 11)


def test_the_failing_invariant_appears_at_its_step(open_page: Any) -> None:
    example, html = _lesson_page("mesa.serves-uncommitted")
    page = open_page(html)
    page.keyboard.press("End")
    assert page.locator("#violation").is_visible()
    assert example.invariant in page.text_content("#violation")
    page.keyboard.press("ArrowLeft")
    assert page.locator("#violation").count() == 0
    page.click("#to-violation")
    assert page.locator("#violation").count() == 1


def test_the_slice_hides_other_steps_until_asked(open_page: Any) -> None:
    _, html = _lesson_page("mesa.serves-uncommitted")
    page = open_page(html)
    sliced = int(page.get_attribute("#slider", "max")) + 1
    page.uncheck("#only-slice")
    every = int(page.get_attribute("#slider", "max")) + 1
    assert sliced < every
    assert page.locator(".row.out").count() > 0


def test_hostile_values_show_as_text(open_page: Any) -> None:
    from checker.hunt import Budget, hunt

    outcome = hunt(HOSTILE_SYSTEM, "forgetful", HOSTILE_SYSTEM.configs["default"],
                   budget=Budget(runs=300), shrink_found=False)
    page = open_page(viewer.page(HOSTILE_SYSTEM, outcome.violation))
    page.uncheck("#only-slice")
    assert page.locator("img").count() == 0 and page.locator("b").count() <= 1
    assert page.evaluate("document.scripts.length") == 2
    text = page.text_content("body")
    assert "</script><script>alert(1)</script>" in text
    assert 'c"<b>1</b>' in text


def test_five_thousand_steps_open_and_step_quickly(open_page: Any) -> None:
    config = Config("long", servers=1, clients=1, ops_per_client=0, max_steps=5000)
    result = execute(toys.COUNTER, "correct", config, 0, Replay([("fire", "s", "tick")] * 5000))
    assert len(result.sim.trace) >= 5000
    started = time.perf_counter()
    page = open_page(viewer.page(toys.COUNTER, result))
    page.uncheck("#only-slice")
    opened = time.perf_counter() - started
    stepped = page.evaluate("""() => {
        const started = performance.now();
        for (let i = 0; i < 5000; i++)
          document.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowRight'}));
        return performance.now() - started; }""")
    assert _step_shown(page) == len(result.sim.trace) - 1
    assert page.locator(".row").count() < 200  # only the rows in view exist
    assert opened < 20 and stepped < 20_000, (opened, stepped)


# -- the history timeline (`deepdives check --html`) -------------------------------------------

def _tip(page: Any) -> str:
    assert page.locator("#tip").is_visible()
    return page.text_content("#tip")


def test_timeline_marks_the_prefix_and_the_op_that_cannot_be_placed(open_page: Any,
                                                                    tmp_path: Path) -> None:
    _, _, html = check_html(tmp_path, DATA / "register-stale-read.jsonl", "--model", "register")
    page = open_page(html)
    assert page.locator("#spacer .bar").count() == 2
    assert page.locator("#spacer .bar.linearized").count() == 1
    assert page.locator("#spacer .bar.stuck").count() == 1
    assert page.text_content("#spacer .lp") == "1"
    page.hover('#spacer .bar[data-id="0"]')
    assert "state after: value=1" in _tip(page)
    page.click('#spacer .bar[data-id="0"]')
    assert page.text_content("#op-state") == "value=1"
    page.click("#to-problem")
    assert "CANNOT BE PLACED" in page.text_content("#op-text")
    assert "could only return 1" in page.text_content("#op-text")


def test_timeline_steps_through_the_order_found(open_page: Any, tmp_path: Path) -> None:
    _, data, html = check_html(tmp_path, ROOT / "benchmarks/histories/register-10c.jsonl",
                               "--model", "register")
    page = open_page(html)
    [part] = data["partitions"]
    for k in range(6):
        page.keyboard.press("ArrowRight")
        assert page.get_attribute("#spacer .bar.sel", "data-id") == str(part["order"][k])
        assert page.text_content("#op-state") == data["states"][part["states"][k]]
    page.click("#prev")
    assert page.get_attribute("#spacer .bar.sel", "data-id") == str(part["order"][4])


def test_timeline_draws_a_cycles_edges(open_page: Any, tmp_path: Path) -> None:
    _, data, html = check_html(tmp_path, DATA / "append-g-single.jsonl",
                               "--consistency", "serializable")
    page = open_page(html)
    anomaly = data["anomalies"][0]
    kinds = page.evaluate("[...document.querySelectorAll('#links path.edge')]"
                          ".map(p => p.dataset.kind)")
    assert kinds == [edge["type"] for edge in anomaly["edges"]] and "rw" in kinds
    assert page.locator("#spacer .bar.in-anomaly").count() == len(anomaly["txns"])
    page.hover(f'#spacer .bar[data-id="{anomaly["txns"][0]}"]')
    assert f"#{anomaly['txns'][0]}" in _tip(page)


def test_timeline_shows_hostile_values_as_text(open_page: Any, tmp_path: Path) -> None:
    _, _, html = check_html(tmp_path, hostile_history(tmp_path), "--model", "register")
    page = open_page(html)
    assert page.evaluate("document.scripts.length") == 2
    assert page.locator("img").count() == 0 and page.locator("b").count() == 0
    page.evaluate("document.getElementById('scroll').scrollTo(0, 0)")
    page.wait_for_function("document.getElementById('spacer').textContent"
                           ".includes('</script><script>alert(1)</script>')")
    assert "participant evil" in page.text_content("#names")
    assert 'h"<img src=x onerror=alert(1)>' in page.title()


def test_timeline_of_ten_thousand_ops_opens_and_scrolls(open_page: Any) -> None:
    ops = simulate(Register(), register_invocation, 10_000, 10, 0.01, random.Random(5))
    found = search_linearization(ops, Register(), max_steps=None)
    page = open_page(timeline.check_page("10k", ops, found.verdict, linearization=found,
                                         model=Register()))
    assert 0 < int(page.get_attribute("#where", "data-drawn")) < 1_000  # only those in view
    page.evaluate("""() => { const s = document.getElementById('scroll');
        s.scrollLeft = s.scrollWidth; s.scrollTop = s.scrollHeight; }""")
    page.wait_for_function("() => Math.max(...[...document.querySelectorAll('#spacer .bar')]"
                           ".map(b => Number(b.dataset.id))) > 9_000")
    page.click("#fit")  # the whole history's width in view: every bar of the lanes in view
    assert page.evaluate("(s => s.scrollWidth <= s.clientWidth + 1)"
                         "(document.getElementById('scroll'))")
    assert int(page.get_attribute("#where", "data-drawn")) > 1_000
    for _ in range(3):
        page.click("#zoom-in")
    page.keyboard.press("ArrowRight")
    assert page.locator("#spacer .bar.sel").count() == 1
