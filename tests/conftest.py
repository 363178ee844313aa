"""What every test here shares."""

from __future__ import annotations

import pytest

from checker import registry


@pytest.fixture(autouse=True)
def _systems_named_on_the_command_line_stay_in_their_test(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that runs the CLI with `--system-module` registers that system in this
    process; without this, later tests in the same worker would find it among the project's
    own (and, say, look for its lesson)."""
    monkeypatch.setattr(registry, "_added", {})
