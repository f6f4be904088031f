"""Where settings come from: defaults < TOML file (--config / TAXSMS_CONFIG) < TAXSMS_* env < CLI flags."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
ENV_PREFIX = "TAXSMS_"


def load_file(path: str | Path | None) -> dict[str, Any]:
    """Read a TOML settings file (flat keys, e.g. redis_url = "..."; [worker] tables are merged in)."""
    path = path or os.environ.get(f"{ENV_PREFIX}CONFIG")
    if not path:
        return {}
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    flat = {k: v for k, v in data.items() if not isinstance(v, dict)}
    for table in data.values():
        if isinstance(table, dict):
            flat.update(table)
    return flat


def build(cls: type[T], *, file: Mapping[str, Any] | None = None, overrides: Mapping[str, Any] | None = None) -> T:
    """Instantiate dataclass `cls` from the file's values, then TAXSMS_<FIELD> env vars, then overrides."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for name, value in (file or {}).items():
        if name in fields:
            values[name] = value
    for name, f in fields.items():
        raw = os.environ.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _convert(raw, f.type)
    for name, value in (overrides or {}).items():
        if value is not None and name in fields:
            values[name] = value
    return cls(**values)


def _convert(raw: str, annotation: Any) -> Any:
    kind = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "str")
    if kind.startswith("int"):
        return int(raw)
    if kind.startswith("float"):
        return float(raw)
    if kind.startswith("bool"):
        return raw.lower() in {"1", "true", "yes", "on"}
    return raw
