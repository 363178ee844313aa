"""Lessons show what the code does today: their generated traces must be up to date."""

from __future__ import annotations

from pathlib import Path

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


def test_a_block_names_its_configuration_and_shrink_budget(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    """`config=` and `replays=` reach the hunt; a block without them hunts `default` and
    shrinks within SHRINK_REPLAYS."""
    asked = []

    def fake_block(path, target, config, replays, check, viewers):
        asked.append((target, config, replays))
        return "filled\n"

    monkeypatch.setattr(lesson, "_block", fake_block)
    page = tmp_path / "x.md"
    page.write_text("<!-- trace sso:minority-quorum config=five replays=12000 -->\n"
                    "old\n<!-- /trace -->\n<!-- trace sso:forgets-promise -->\n<!-- /trace -->\n")
    text = lesson.render(page)
    assert asked == [("sso:minority-quorum", "five", 12000),
                     ("sso:forgets-promise", "default", lesson.SHRINK_REPLAYS)]
    assert text.count("filled\n<!-- /trace -->") == 2 and "old" not in text
