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
