"""The comma-separated lists settings and flags use: 'a, b' names and 'kind=3,other=5' pairs."""

from __future__ import annotations


def names(spec: str | None) -> frozenset[str]:
    """'a, b,,c' -> {'a', 'b', 'c'} (blanks dropped)."""
    return frozenset(filter(None, (part.strip() for part in (spec or "").split(","))))


def items(spec: str | None) -> list[tuple[str, str]]:
    """'a=1, b = x' -> [('a', '1'), ('b', 'x')], in order; an item without '=' raises ValueError."""
    result = []
    for item in filter(None, (part.strip() for part in (spec or "").split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{item!r}: expected NAME=VALUE")
        result.append((name.strip(), value.strip()))
    return result


def pairs(spec: str | None) -> dict[str, int]:
    """'a=1,b=2' -> {'a': 1, 'b': 2}; a value that is not a whole number raises ValueError."""
    result = {}
    for name, value in items(spec):
        if not value.isdigit():
            raise ValueError(f"{name}={value}: expected a whole number")
        result[name] = int(value)
    return result
