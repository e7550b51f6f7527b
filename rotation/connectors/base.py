"""The connector interface of automated rotation (ecosystem.md 4.1).

A connector talks to one kind of target. It never stores anything: the service hands it
the target's settings and the secrets it needs for one call, and keeps the state machine
(pending → applied → verified → promoted). Every failure is a ConnectorError whose message
is plain words for the MSP and never holds a secret.
"""

from dataclasses import dataclass
from typing import Protocol

from config.errors import KeyholdError


class ConnectorError(KeyholdError):
    """The target refused or could not be reached; `message` is safe to show and to audit."""

    status = 502
    default_message = "The target system could not complete the rotation."


@dataclass(frozen=True)
class Endpoint:
    """Where a target is and how to reach it (no secrets): RotationTarget's fields."""

    host: str
    port: int
    database: str = ""
    base_dn: str = ""
    tls_mode: str = ""
    host_key: str = ""
    connect_timeout: int = 10


class Connector(Protocol):
    """One kind of target. `needs` names the Endpoint fields beyond host and port that the
    connector uses (the target form shows only these; `required` those it cannot do without);
    `privileged_help` says in plain words which account the privileged credential must be.
    """

    kind: str
    label: str
    default_port: int
    needs: tuple[str, ...]
    required: tuple[str, ...]
    privileged_help: str

    def check(
        self, endpoint: Endpoint, *, privileged_username: str, privileged_secret: str
    ) -> None:
        """Log in with the privileged account and change nothing (the dry-run test)."""

    def apply(
        self,
        endpoint: Endpoint,
        *,
        privileged_username: str,
        privileged_secret: str,
        username: str,
        new_secret: str,
    ) -> None:
        """Set the account's password to `new_secret`, acting as the privileged account.

        Must be idempotent: a retry applies the same pending secret again.
        """

    def verify(self, endpoint: Endpoint, *, username: str, new_secret: str) -> None:
        """Log in afresh as the account with `new_secret`; ConnectorError if refused."""
