"""The one error root: every failure taxsms explains to a person is a TaxsmsError, and says what to do.

Each subclass carries the exit code `taxsms` ends with (documented in the README, "Exit codes"):

| code | meaning |
|---|---|
| 0 | done |
| 1 | refused: the request was understood and said no to (permission, content review, not found, check failed) |
| 2 | usage: bad arguments or input (an unknown option, a missing file, an invalid value in the input) |
| 3 | configuration: a settings file, environment variable or flag is wrong |
| 4 | unavailable: a dependency (Redis, the SMSC, a lookup service) cannot be reached |
| 5 | partial: done, but some of the input was refused (each refusal is reported) |
| 70 | internal error: a bug; run again with `-v` for the traceback and report it |
| 130 | interrupted (Ctrl-C) |
"""

from __future__ import annotations

OK = 0
REFUSED = 1
USAGE = 2
CONFIG = 3
UNAVAILABLE = 4
PARTIAL = 5
INTERNAL = 70
INTERRUPTED = 130


class TaxsmsError(Exception):
    """A failure with a message a person can act on; `hint` says what to do about it."""

    exit_code = INTERNAL

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message, self.hint = message, hint

    def __str__(self) -> str:
        return self.message

    def line(self) -> str:
        """The one line `taxsms` prints: what was wrong, then what to do."""
        return f"{self.message}; {self.hint}" if self.hint else self.message


class InvalidInput(TaxsmsError, ValueError):
    """Input that cannot be used as given (a job, a CSV row, an argument)."""

    exit_code = USAGE


class ConfigError(TaxsmsError, ValueError):
    """A setting that is missing, of the wrong type, out of range or unknown; the message names the key."""

    exit_code = CONFIG


class Unavailable(TaxsmsError):
    """A dependency that cannot be reached (Redis, the SMSC, a lookup service)."""

    exit_code = UNAVAILABLE


class Refused(TaxsmsError):
    """A request understood and refused (by a rule, a permission, a review)."""

    exit_code = REFUSED


class NotFound(TaxsmsError, LookupError):
    """Something asked for by name or id that does not exist."""

    exit_code = REFUSED
