"""bench/'s scripts as modules, for the tests that reuse a harness (tests/test_chaos.py uses bench/chaos.py's).

bench/ is a folder of scripts run as `python bench/NAME.py`, not a package, and stays off sys.path: a script is
loaded from its file, and the sibling modules it imports by bare name (`from common import ...`) are lent to
it in sys.modules only while it loads.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench.{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None, f"no bench/{name}.py"
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def bench_module(name: str, *, siblings: tuple[str, ...] = ("common",)) -> ModuleType:
    """bench/NAME.py, with the bench/ modules it imports by bare name (`siblings`) lent to it while it loads."""
    lent = {sibling: _load(sibling) for sibling in siblings}
    saved = {sibling: sys.modules.get(sibling) for sibling in lent}
    sys.modules.update(lent)
    try:
        return _load(name)
    finally:
        for sibling, before in saved.items():
            if before is None:
                sys.modules.pop(sibling, None)
            else:
                sys.modules[sibling] = before
