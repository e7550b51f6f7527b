"""The vault's reads, one module per area, re-exported here for callers."""

from vault.selectors.credentials import (
    ClientKeyStatus,
    KeyState,
    client_key_status,
    credential_get_for_user,
    credential_get_to_open,
    credential_list_for_user,
)

__all__ = [
    "ClientKeyStatus",
    "KeyState",
    "client_key_status",
    "credential_get_for_user",
    "credential_get_to_open",
    "credential_list_for_user",
]
