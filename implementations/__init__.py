"""The systems the engine can run: one module per system, each exposing `SYSTEM`."""

from __future__ import annotations

import importlib

from checker.system import System

MODULES = ("sso",)


def registered() -> list[System]:
    return [importlib.import_module(f"implementations.{name}").SYSTEM for name in MODULES]
