"""The tutorial `docs/your-own-system.md`, run exactly as written: its files are written to a
fresh directory, its command is run there, and its test file passes under pytest."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "your-own-system.md"
FILE = re.compile(r"<!-- file: (?P<name>[\w.]+) -->\n```python\n(?P<code>.*?)```", re.DOTALL)
COMMAND = re.compile(r"<!-- command -->\n```sh\n(?P<command>.*?)\n```", re.DOTALL)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("tutorial")
    text = TUTORIAL.read_text()
    for match in FILE.finditer(text):
        (where / match.group("name")).write_text(match.group("code"))
    return where


def run(args: list[str], where: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # deepdives itself, however it is installed
    return subprocess.run(args, cwd=where, capture_output=True, text=True, env=env, timeout=600)


def test_the_tutorial_writes_its_two_files(project: Path) -> None:
    assert sorted(p.name for p in project.iterdir()) == ["pbstore.py", "test_pbstore.py"]


def test_the_tutorials_hunt_finds_the_bug_and_passes_the_correct_store(project: Path) -> None:
    command = COMMAND.search(TUTORIAL.read_text()).group("command").split()
    assert command[0] == "deepdives"
    done = run([sys.executable, "-m", "checker.cli", *command[1:], "--quiet", "--jobs", "1"],
               project)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split()[1]: line.split()[2] for line in done.stdout.splitlines()
            if line.startswith("pbstore ")}
    assert rows == {"correct": "clean", "eager-backup": "found"}


def test_the_tutorials_tests_pass(project: Path) -> None:
    done = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "test_pbstore.py"], project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_the_tutorials_files_are_the_skeleton_deepdives_new_writes() -> None:
    from checker.new_cmd import skeleton

    written = {m.group("name"): m.group("code") for m in FILE.finditer(TUTORIAL.read_text())}
    assert skeleton("pbstore") == written


def test_deepdives_new_writes_a_system_that_hunts(tmp_path: Path) -> None:
    made = run([sys.executable, "-m", "checker.cli", "new", "kv2"], tmp_path)
    assert made.returncode == 0 and (tmp_path / "kv2.py").exists()
    again = run([sys.executable, "-m", "checker.cli", "new", "kv2"], tmp_path)
    assert again.returncode == 2 and "exists: not overwritten" in again.stderr
    hunted = run([sys.executable, "-m", "checker.cli", "--system-module", "kv2", "hunt",
                  "kv2:eager-backup", "--quiet"], tmp_path)
    assert hunted.returncode == 0 and " found " in hunted.stdout
