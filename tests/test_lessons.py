"""Lessons show what the code does today: their generated traces must be up to date."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from checker import lesson, registry

ROOT = Path(__file__).parent.parent
LESSONS = sorted((ROOT / "docs" / "lessons").glob("*.md"))


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_traces_are_up_to_date(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # replay commands in lessons are typed from the repository root
    relative = path.relative_to(ROOT)
    assert lesson.BLOCK.search(path.read_text()), f"{path} has no generated trace"
    assert lesson.update(relative, check=True), \
        f"{relative} is out of date: run `deepdives lesson {relative}`"


def test_every_seeded_bug_has_its_trace_in_its_lesson() -> None:
    for system in registry.systems().values():
        body = (ROOT / "docs" / "lessons" / f"{system.name}.md").read_text()
        traced = {m.group("target") for m in lesson.BLOCK.finditer(body)}
        for variant in system.variants.values():
            if variant.seeded:
                assert f"{system.name}:{variant.name}" in traced


def test_a_block_names_its_configuration_shrink_budget_and_candidates(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`config=`, `replays=` and `candidates=` reach the hunt; a block without them hunts
    `default`, shrinks within SHRINK_REPLAYS and keeps the first counterexample."""
    asked = []

    def fake_block(path, target, config, replays, candidates, check, viewers):
        asked.append((target, config, replays, candidates))
        return "filled\n"

    monkeypatch.setattr(lesson, "_block", fake_block)
    page = tmp_path / "x.md"
    page.write_text("<!-- trace sso:minority-quorum config=five replays=12000 candidates=3 -->\n"
                    "old\n<!-- /trace -->\n<!-- trace sso:forgets-promise -->\n<!-- /trace -->\n")
    text = lesson.render(page)
    assert asked == [("sso:minority-quorum", "five", 12000, 3),
                     ("sso:forgets-promise", "default", lesson.SHRINK_REPLAYS, 1)]
    assert text.count("filled\n<!-- /trace -->") == 2 and "old" not in text


def test_the_shortest_of_the_candidates_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hunt goes on from the seed after each counterexample; the one with the fewest
    chosen events is kept, the earliest among equals, within HUNT_RUNS runs in all."""
    found = {3: 9, 5: 4, 8: 4}  # seed -> chosen events of its shrunk counterexample
    calls = []

    def fake_hunt(system, variant, config, *, budget, seed, shrink_replays):
        calls.append((seed, budget.runs))
        hit = min(s for s in found if s >= seed)
        run = SimpleNamespace(seed=hit, choices=[None] * found[hit])
        return SimpleNamespace(runs=hit - seed + 1, violation=run)

    monkeypatch.setattr(lesson, "hunt", fake_hunt)
    best, runs = lesson._shortest_found(None, "v", None, 10, 3)
    assert (best.seed, runs) == (5, 9)
    assert calls == [(0, lesson.HUNT_RUNS), (4, lesson.HUNT_RUNS - 4),
                     (6, lesson.HUNT_RUNS - 6)]
