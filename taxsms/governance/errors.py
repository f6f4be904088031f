"""The errors governance rules raise: each carries a reason a person can act on."""

from __future__ import annotations

from taxsms import errors
from taxsms.errors import Refused


class PermissionDenied(Refused, PermissionError):
    """An operator (or upstream credential) may not do what it asked; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OutOfScope(PermissionDenied):
    """A message to a recipient outside the sender's jurisdiction, or of a kind its roles do not allow."""


class NotFound(errors.NotFound):
    """An unknown unit, operator or campaign."""
