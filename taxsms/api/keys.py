"""Redis key names of the HTTP API (tokens, sessions, rate counters, worker heartbeats), under the prefix."""

from __future__ import annotations

from dataclasses import dataclass

from taxsms.queue.keys import Keys


@dataclass(frozen=True, slots=True)
class ApiKeys:
    """The API's own keys next to the queue's; everything carries the deployment's prefix."""

    keys: Keys

    def token(self, digest: str) -> str:
        """Hash: one API token's record, keyed by the sha256 hex digest of the token (never the token)."""
        return f"{self.keys.control}:api:token:{digest}"

    @property
    def tokens(self) -> str:
        """Set of token ids (digest prefixes) issued, for listing and revocation."""
        return f"{self.keys.control}:api:tokens"

    def rate(self, token_id: str, second: int) -> str:
        """Counter of one token's requests in one second (expires after two)."""
        return f"{self.keys.control}:api:rate:{token_id}:{second}"

    def session(self, digest: str) -> str:
        """Hash: one console session (operator, CSRF token), keyed by the sha256 of the cookie value."""
        return f"{self.keys.control}:api:session:{digest}"

    @property
    def workers(self) -> str:
        """Hash: worker consumer name -> JSON {binds, at}: the heartbeat /readyz reads (written by the workers)."""
        return self.keys.workers

    def login_failures(self, scope: str, subject: str) -> str:
        """Hash {failures, until}: failed console logins of one operator, address or (operator, address) pair."""
        return f"{self.keys.control}:api:login-failures:{scope}:{subject}"
