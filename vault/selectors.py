"""Reads of the vault's key state (never key material)."""

from dataclasses import dataclass

from accounts.models import User
from tenants.models import Client
from vault.models import ClientDataKey
from vault.services import client_key_rotation_remaining


@dataclass(frozen=True)
class KeyState:
    version: int
    state: str


@dataclass(frozen=True)
class ClientKeyStatus:
    keys: list[KeyState]
    remaining: int


def client_key_status(*, actor: User | None, client: Client) -> ClientKeyStatus:
    """The client's key versions and how many values still wait for re-encryption.

    For the operator at the command line (actor None); no web view uses it yet.
    """
    keys = [
        KeyState(version=version, state=state)
        for version, state in ClientDataKey.objects.filter(client_id=client.pk)
        .order_by("version")
        .values_list("version", "state")
    ]
    return ClientKeyStatus(keys=keys, remaining=client_key_rotation_remaining(client_id=client.pk))
