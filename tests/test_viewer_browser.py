"""The trace viewer in a real browser: Debian's Chromium, driven headless by Playwright.

Without the browser (or Playwright) these tests are skipped, saying why; under CI (the `CI`
environment variable set, as `.ci/run` does) they fail instead, for there they must run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from checker import registry, viewer
from checker.replayfile import load
from checker.run import execute
from checker.strategies import Replay
from checker.system import Config
from tests import toys
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
    """Opens a viewer page from a file; fails the test on any script error or dialog."""
    pages = []
    problems: list[str] = []

    def opening(html: str) -> Any:
        path = tmp_path / f"viewer{len(pages)}.html"
        path.write_text(html, encoding="utf-8")
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"),
                                          dialog.dismiss()))
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
