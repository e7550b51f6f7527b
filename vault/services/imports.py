"""Inherited credentials in bulk: a previous provider's export becomes vault credentials.

An import creates thousands of credentials at once. The one-at-a-time path
(credential_create) locks the client's data key, bumps its counter and appends an audit
event for every value, about a millisecond each, so a 50,000-row import would take minutes.
Here one call seals a whole chunk under one lock of the active data key, counts the
encryptions in one update, bulk-inserts the credentials and records one
`credential.imported` event listing their ids: the audit chain appends one event at a time
(audit.services.record takes the chain head's row lock for each), so one event per
credential would cost a chain round trip each and hold up every other audited action.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import User
from audit.services import Attempt, Target, record, recording_failures
from config.bulk import bulk_insert
from config.errors import InvalidRequest
from tenants.models import AccessLevel, Client
from tenants.selectors import client_get_for_user
from vault.envelope import (
    field_decrypt_many,
    field_encrypt_many,
    recording_decryption_failures,
)
from vault.hosts import host_clean
from vault.models import (
    CREDENTIAL_RECORD_TYPE,
    Credential,
    CredentialType,
    privilege_tier_for,
)
from vault.services.credentials import NAME_MAX

USERNAME_MAX = 254
# The limits of the credential form: an import holds no more than a person could type.
SECRET_MAX = 4096
NOTES_MAX = 20000
TOTP_SEED_MAX = 512
FOLDER_NOTE = "Folder at the previous provider: "


# --- Inherited credentials ----------------------------------------------------------------


@sensitive_variables("secret", "notes", "totp_seed")
def inherited_credential_problems(
    *, name: str, username: str, host: str, secret: str, notes: str, totp_seed: str
) -> list[str]:
    """Why these values cannot become a credential, in plain words (never the values)."""
    problems = []
    if not name.strip():
        problems.append("The row has no name.")
    elif len(name.strip()) > NAME_MAX:
        problems.append(f"The name is longer than {NAME_MAX} characters.")
    if len(username.strip()) > USERNAME_MAX:
        problems.append(f"The username is longer than {USERNAME_MAX} characters.")
    try:
        host_clean(host)
    except InvalidRequest as error:
        problems.append(f"The URL is refused: {error.message}")
    if not secret:
        problems.append("The row has no password or secret.")
    elif len(secret) > SECRET_MAX:
        problems.append(f"The password is longer than {SECRET_MAX} characters.")
    if len(notes) > NOTES_MAX:
        problems.append(f"The notes are longer than {NOTES_MAX} characters.")
    if len(totp_seed) > TOTP_SEED_MAX:
        problems.append(f"The TOTP seed is longer than {TOTP_SEED_MAX} characters.")
    return problems


@dataclass(frozen=True)
class InheritedCredential:
    """One credential to create from an import row whose values are still sealed.

    `id` is chosen by the caller, so it can link its row to the credential in the same
    transaction (an import gives the credential its row's id). `secret`, `notes` and
    `totp_seed` are sealed under the row's binding (client, `source_record_type`,
    `source_id`, field); `folder` is not secret.
    """

    id: uuid.UUID
    source_id: str
    name: str
    credential_type: str
    username: str
    host: str
    folder: str
    secret: bytes
    notes: bytes | None
    totp_seed: bytes | None

    def __repr__(self) -> str:
        return f"<InheritedCredential {self.id} from {self.source_id}>"


def _notes_with_folder(notes: str, folder: str) -> str:
    """Tags are global and strict; a folder path is kept where the team reads it, in the notes."""
    if not folder.strip():
        return notes
    line = f"{FOLDER_NOTE}{folder.strip()}"
    return f"{line}\n\n{notes}" if notes else line


@sensitive_variables("opened", "plain", "secret", "notes", "totp_seed")
def credential_import_bulk(
    *,
    actor: User,
    client: Client,
    credentials: Sequence[InheritedCredential],
    source_record_type: str,
    batch: Target,
) -> list[Credential]:
    """Create inherited, compromised credentials from sealed import rows (manage level).

    Each value is opened from the row's binding and sealed for its credential in memory;
    plaintext is never written. Records one credential.imported event naming `batch` and
    listing the new credentials' ids.
    """
    attempt = Attempt(
        actor=actor,
        action="credential.imported",
        client=client,
        target=batch,
        details={"count": len(credentials)},
    )
    with (
        recording_failures(attempt),
        recording_decryption_failures(actor=actor, client=client, target=batch),
    ):
        client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.MANAGE)
        if not credentials:
            raise InvalidRequest("There is nothing to import.")
        if any(item.secret is None for item in credentials):
            raise InvalidRequest("A row without a password cannot become a credential.")
        sources = []
        for item in credentials:
            for field in ("secret", "notes", "totp_seed"):
                sealed = getattr(item, field)
                if sealed is not None:
                    sources.append((item.source_id, field, sealed))
        with transaction.atomic():
            opened = iter(
                field_decrypt_many(client=client, record_type=source_record_type, values=sources)
            )
            plain: list[tuple[str, str, bytes]] = []
            seeded: list[bool] = []
            for item in credentials:
                secret = next(opened).decode("utf-8")
                notes = next(opened).decode("utf-8") if item.notes is not None else ""
                totp_seed = next(opened) if item.totp_seed is not None else b""
                problems = inherited_credential_problems(
                    name=item.name,
                    username=item.username,
                    host=item.host,
                    secret=secret,
                    notes=notes,
                    totp_seed=totp_seed.decode("utf-8"),
                )
                if problems:
                    raise InvalidRequest(f"{item.name[:NAME_MAX]}: {' '.join(problems)}")
                record_id = str(item.id)
                plain.append((record_id, "secret", secret.encode("utf-8")))
                notes = _notes_with_folder(notes, item.folder)
                plain.append((record_id, "notes", notes.encode("utf-8")))
                seeded.append(bool(totp_seed))
                if totp_seed:
                    plain.append((record_id, "totp_seed", totp_seed))
            sealed_values = iter(
                field_encrypt_many(client=client, record_type=CREDENTIAL_RECORD_TYPE, values=plain)
            )
            now = timezone.now()
            rows = []
            for item, has_seed in zip(credentials, seeded, strict=True):
                credential_type = item.credential_type or CredentialType.OTHER
                if credential_type not in CredentialType.values:
                    raise InvalidRequest(f"{credential_type!r} is not a known credential type.")
                rows.append(
                    Credential(
                        id=item.id,
                        client=client,
                        name=item.name.strip(),
                        credential_type=credential_type,
                        privilege_tier=privilege_tier_for(credential_type),
                        username=item.username.strip(),
                        host=host_clean(item.host),
                        secret=next(sealed_values),
                        notes=next(sealed_values),
                        totp_seed=next(sealed_values) if has_seed else None,
                        source=Credential.Source.INHERITED,
                        status=Credential.Status.COMPROMISED,
                        created_at=now,
                        updated_at=now,
                    )
                )
            bulk_insert(Credential, rows)
            record(
                actor=actor,
                action="credential.imported",
                client=client,
                target=batch,
                details={
                    "count": len(rows),
                    "source": str(Credential.Source.INHERITED),
                    "status": str(Credential.Status.COMPROMISED),
                    "high_privilege": sum(1 for row in rows if row.is_high_privilege),
                    "vault_item_ids": [str(row.id) for row in rows],
                },
            )
    return rows
