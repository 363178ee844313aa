"""Finds systems: the ones in `implementations/`, and a user's own — registered by a Python
entry point in the group `deepdives.systems`, or named on the command line
(`deepdives --system-module mypkg.raft hunt raft`). The engine names none itself.

A user's module defines `SYSTEM` (a `checker.system.System`) as the project's own do; an
entry point may name the module or the `System` object itself:

    [project.entry-points."deepdives.systems"]
    raft = "mypkg.raft"
"""

from __future__ import annotations

import importlib
import os
import sys
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from checker.system import System

ENTRY_POINTS = "deepdives.systems"
_added: dict[str, System] = {}  # systems of modules named on the command line


def systems() -> dict[str, System]:
    package = importlib.import_module("implementations")
    found = {system.name: system for system in package.registered()}
    for entry in sorted(entry_points(group=ENTRY_POINTS), key=lambda e: e.name):
        system = _system_of(entry.load(), f"entry point {entry.name!r} ({entry.value})")
        found.setdefault(system.name, system)
    for system in _added.values():
        found.setdefault(system.name, system)
    return found


def add_module(name: str) -> System:
    """Import a user's module and register the `SYSTEM` it defines; LookupError (saying
    why) if it cannot be imported or defines none. The working directory is searched
    first, as `python -m` would."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise LookupError(f"cannot import system module {name!r}: {exc}") from None
    system = _system_of(module, f"module {name!r}")
    _added[system.name] = system
    return system


def _system_of(loaded: Any, where: str) -> System:
    found = getattr(loaded, "SYSTEM", None) if isinstance(loaded, ModuleType) else loaded
    if not isinstance(found, System):
        raise LookupError(f"{where} defines no SYSTEM (a checker.system.System)")
    return found


def lookup(name: str) -> System:
    known = systems()
    if name not in known:
        raise LookupError(f"unknown system {name!r} (known: {', '.join(sorted(known))})")
    return known[name]


def parse_target(target: str) -> tuple[System, list[str]]:
    """`system` (all variants) or `system:variant` -> the system and variant names."""
    name, _, variant = target.partition(":")
    system = lookup(name)
    if variant:
        system.variant(variant)
        return system, [variant]
    return system, list(system.variants)
