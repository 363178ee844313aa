"""The systems the engine can run: every module of this package that defines `SYSTEM`.

Shared building blocks (the Paxos core, the protected resource) define no `SYSTEM` and are
skipped. Systems are listed by module name, so the order never depends on the file system.
"""

from __future__ import annotations

import importlib
import pkgutil

from checker.system import System


def registered() -> list[System]:
    systems = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if isinstance(getattr(module, "SYSTEM", None), System):
            systems.append(module.SYSTEM)
    return systems
