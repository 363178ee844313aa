"""Finds systems through the registry in `implementations/`; the engine names none itself."""

from __future__ import annotations

import importlib

from checker.system import System


def systems() -> dict[str, System]:
    package = importlib.import_module("implementations")
    return {system.name: system for system in package.registered()}


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
