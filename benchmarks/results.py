"""Write one section of `benchmarks/RESULTS.md`, stamped with the machine and the date."""

from __future__ import annotations

import datetime
import os
import platform
import re
from pathlib import Path

RESULTS = Path(__file__).parent / "RESULTS.md"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return (f"{platform.system()} {platform.machine()} ({cpu}), {os.cpu_count()} cores, "
            f"Python {platform.python_version()}")


def write_section(name: str, command: str, table: str) -> None:
    """Replace the section `name` (or append it), keeping every other section."""
    stamp = datetime.date.today().isoformat()
    body = (f"<!-- {name} -->\n## {name}\n\n`{command}` — {stamp}, {machine()}\n\n"
            f"{table}\n<!-- /{name} -->\n")
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\n"
    pattern = re.compile(rf"<!-- {re.escape(name)} -->.*?<!-- /{re.escape(name)} -->\n",
                         re.DOTALL)
    text = pattern.sub(lambda _: body, text) if pattern.search(text) else text + "\n" + body
    RESULTS.write_text(text)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
