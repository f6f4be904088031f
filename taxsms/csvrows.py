"""What a CSV import reports of the rows it refused: how many, and the line and reason of the first ones."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_REPORTED_ERRORS = 1000


@dataclass(slots=True)
class RefusedRows:
    """`failed` rows refused; `errors` holds (line, reason) for the first MAX_REPORTED_ERRORS of them."""

    failed: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    def error(self, line: int, reason: str) -> None:
        self.failed += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append((line, reason))
