"""The vault's services: one module per area, re-exported here for callers."""

from vault.services.credentials import (
    HIGH_TIER_REFUSAL,
    NAME_MAX,
    REVEAL_PURPOSES,
    TAG_PATTERN,
    TICKET_MAX,
    credential_archive,
    credential_create,
    credential_reveal,
    credential_update,
    reveal_ticket_required,
)
from vault.services.keys import (
    client_key_rotation_remaining,
    client_key_rotation_start,
    client_key_rotation_step,
    kek_rotate,
    kek_rotation_remaining,
)
from vault.services.shredding import client_keys_shred

__all__ = [
    "HIGH_TIER_REFUSAL",
    "NAME_MAX",
    "REVEAL_PURPOSES",
    "TAG_PATTERN",
    "TICKET_MAX",
    "client_key_rotation_remaining",
    "client_key_rotation_start",
    "client_key_rotation_step",
    "client_keys_shred",
    "credential_archive",
    "credential_create",
    "credential_reveal",
    "credential_update",
    "kek_rotate",
    "kek_rotation_remaining",
    "reveal_ticket_required",
]
