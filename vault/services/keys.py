"""Key lifecycle of the vault: KEK rotation, client DEK rotation, crypto-shredding.

KEK rotation rewraps data keys and never touches a ciphertext. DEK rotation makes a new
active version, re-encrypts every registered field of the client in small per-row
transactions (in a Celery task), then destroys the retiring versions once nothing uses
them. Both are resumable: each committed step is durable and the next run picks up only
what is still on an old version.
"""

import struct
import uuid
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.db.models import Max, Q
from django.db.models.functions import Substr
from django.utils import timezone

from accounts.models import Role, User
from audit.models import Outcome
from audit.services import Attempt, Target, record, recording_failures
from config.errors import InvalidRequest
from tenants.models import Client
from vault import crypto
from vault.envelope import (
    ENCRYPTED_FIELDS,
    EncryptedField,
    VaultError,
    data_key_cache_clear,
    field_decrypt,
    field_encrypt,
    new_data_key,
    record_decryption_failure,
    wrap_context,
)
from vault.models import ClientDataKey, SystemKey
from vault.providers import KeyProvider, WrappedKey, provider_from_settings
from vault.system_keys import system_key_context, system_key_wrapped

_HEADER_BYTES = 7  # b"KH" | format version | key version (crypto.py)


# --- KEK rotation ------------------------------------------------------------------------


def kek_rotate(
    *,
    actor: User | None,
    batch_size: int = 500,
    max_batches: int | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> int:
    """Rewrap every live data key wrapped under an older KEK; returns how many were rewrapped.

    Each batch commits on its own, so a crash leaves finished batches done and a rerun picks
    up the rest. `max_batches` stops early (the rest waits for the next run); `on_batch`
    hears (rewrapped so far, how many needed it at the start) after each batch.
    """
    attempt = Attempt(actor=actor, action="vault.kek_rotated")
    with recording_failures(attempt):
        provider = provider_from_settings()
        current_id, current_version = provider.key_id(), provider.key_version()
        stale = (
            ClientDataKey.objects.exclude(state=ClientDataKey.State.DESTROYED)
            .filter(provider=provider.name)
            .filter(~Q(provider_key_id=current_id) | Q(provider_key_version__lt=current_version))
        )
        pending = stale.count()
        rewrapped = batches = 0
        last_pk: uuid.UUID | None = None
        while max_batches is None or batches < max_batches:
            with transaction.atomic():
                page = stale.select_for_update().order_by("pk")
                if last_pk is not None:
                    page = page.filter(pk__gt=last_pk)
                rows = list(page[:batch_size])
                for row in rows:
                    wrapped = provider.rewrap(
                        WrappedKey(
                            provider=row.provider,
                            key_id=row.provider_key_id,
                            key_version=row.provider_key_version,
                            ciphertext=bytes(row.wrapped_key),
                        ),
                        context=wrap_context(client_id=row.client_id, version=row.version),
                    )
                    ClientDataKey.objects.filter(pk=row.pk).update(
                        wrapped_key=wrapped.ciphertext,
                        provider_key_id=wrapped.key_id,
                        provider_key_version=wrapped.key_version,
                    )
            if not rows:
                break
            rewrapped += len(rows)
            batches += 1
            last_pk = rows[-1].pk
            if on_batch is not None:
                on_batch(rewrapped, pending)
        system_keys_rewrapped = _system_keys_rewrap(provider)
        remaining = stale.count()
        other_providers = (
            ClientDataKey.objects.exclude(state=ClientDataKey.State.DESTROYED)
            .exclude(provider=provider.name)
            .count()
        )
        with transaction.atomic():
            record(
                actor=actor,
                action="vault.kek_rotated",
                outcome=Outcome.SUCCESS,
                details={
                    "provider": provider.name,
                    "kek_id": current_id,
                    "kek_version": current_version,
                    "rewrapped": rewrapped,
                    "system_keys_rewrapped": system_keys_rewrapped,
                    "remaining": remaining,
                    "other_providers": other_providers,
                },
            )
    return rewrapped


def _system_keys_rewrap(provider: KeyProvider) -> int:
    """Rewrap Keyhold's own root keys (a handful of rows) under the current KEK."""
    rewrapped = 0
    with transaction.atomic():
        stale = SystemKey.objects.select_for_update().filter(provider=provider.name)
        stale = stale.filter(
            ~Q(provider_key_id=provider.key_id())
            | Q(provider_key_version__lt=provider.key_version())
        )
        for row in stale:
            wrapped = provider.rewrap(
                system_key_wrapped(row), context=system_key_context(row.version)
            )
            SystemKey.objects.filter(pk=row.pk).update(
                wrapped_key=wrapped.ciphertext,
                provider_key_id=wrapped.key_id,
                provider_key_version=wrapped.key_version,
            )
            rewrapped += 1
    return rewrapped


def kek_rotation_remaining() -> int:
    """Live data keys still wrapped under an older KEK of the configured provider."""
    provider = provider_from_settings()
    return (
        ClientDataKey.objects.exclude(state=ClientDataKey.State.DESTROYED)
        .filter(provider=provider.name)
        .filter(
            ~Q(provider_key_id=provider.key_id())
            | Q(provider_key_version__lt=provider.key_version())
        )
        .count()
    )


# --- Client DEK rotation -----------------------------------------------------------------


def client_key_rotation_start(*, actor: User | None, client: Client) -> ClientDataKey:
    """Make a new active data key for the client and queue re-encryption of its fields.

    `actor` None is the operator at the command line; a staff member must be an
    administrator.
    """
    from accounts.services import require_role
    from vault.tasks import client_key_rotation_continue

    attempt = Attempt(actor=actor, action="vault.client_key_rotation_started", client=client)
    with recording_failures(attempt):
        if actor is not None:
            require_role(actor, Role.ADMINISTRATOR, action="rotate a client's data key")
        with transaction.atomic():
            Client.objects.select_for_update().filter(pk=client.pk).first()
            # Waits for transactions still sealing under the active key (field_encrypt).
            live = list(
                ClientDataKey.objects.select_for_update()
                .filter(client_id=client.pk)
                .exclude(state=ClientDataKey.State.DESTROYED)
                .order_by("version")
            )
            if not live:
                raise InvalidRequest(
                    f"{client.name} has no data key to rotate: none was ever created, or "
                    "the client was crypto-shredded."
                )
            ClientDataKey.objects.filter(
                client_id=client.pk, state=ClientDataKey.State.ACTIVE
            ).update(state=ClientDataKey.State.RETIRING)
            highest = ClientDataKey.objects.filter(client_id=client.pk).aggregate(
                highest=Max("version")
            )["highest"]
            try:
                new_key = new_data_key(client_id=client.pk, version=highest + 1)
            except VaultError as error:
                raise InvalidRequest(
                    f"The key provider could not create a new data key ({error.code}); "
                    "nothing was changed."
                ) from None
            retiring = [row.version for row in live]
            record(
                actor=actor,
                action="vault.client_key_rotation_started",
                client=client,
                target=Target.of(new_key, label=f"Data key v{new_key.version}"),
                details={"new_version": new_key.version, "retiring_versions": retiring},
            )
            client_id = str(client.pk)
            transaction.on_commit(lambda: client_key_rotation_continue.delay(client_id))
    return new_key


def _model_of(spec: EncryptedField) -> type[models.Model]:
    return apps.get_model(spec.model_label)


def _headers(versions: list[int]) -> list[bytes]:
    return [crypto.MAGIC + struct.pack(">BI", crypto.FORMAT_VERSION, v) for v in versions]


def _rows_on(spec: EncryptedField, *, client_id: Any, versions: list[int]) -> models.QuerySet:
    """Rows of the client whose value in this field is sealed under one of `versions`."""
    return (
        _model_of(spec)
        .objects.filter(client_id=client_id)
        .exclude(**{f"{spec.field}__isnull": True})
        .annotate(
            _kh_header=Substr(spec.field, 1, _HEADER_BYTES, output_field=models.BinaryField())
        )
        .filter(_kh_header__in=_headers(versions))
    )


def _versions(client_id: Any, state: str) -> list[int]:
    return list(
        ClientDataKey.objects.filter(client_id=client_id, state=state).values_list(
            "version", flat=True
        )
    )


def client_key_rotation_remaining(*, client_id: uuid.UUID | str) -> int:
    """Values of the client still sealed under a retiring data key."""
    retiring = _versions(client_id, ClientDataKey.State.RETIRING)
    if not retiring:
        return 0
    return sum(
        _rows_on(spec, client_id=client_id, versions=retiring).count() for spec in ENCRYPTED_FIELDS
    )


def _reencrypt_row(spec: EncryptedField, *, client: Client, pk: Any, retiring: list[int]) -> bool:
    """Re-encrypt one value under the active key; the row lock keeps a concurrent write safe."""
    model = _model_of(spec)
    with transaction.atomic():
        current = (
            model.objects.select_for_update()
            .filter(pk=pk)
            .values_list(spec.field, flat=True)
            .first()
        )
        if current is None:
            return False
        current = bytes(current)
        try:
            on_retiring = crypto.sealed_key_version(current) in retiring
        except crypto.DecryptionFailed:
            on_retiring = False
        if not on_retiring:
            return False  # written again since it was picked: already under the active key
        binding = {
            "client": client,
            "record_type": spec.record_type,
            "record_id": str(pk),
            "field": spec.field,
        }
        plaintext = field_decrypt(**binding, sealed=current)
        model.objects.filter(pk=pk).update(
            **{spec.field: field_encrypt(**binding, plaintext=plaintext)}
        )
    return True


def client_key_rotation_step(*, client_id: uuid.UUID | str, batch_size: int) -> int:
    """Re-encrypt up to `batch_size` values still on a retiring key; returns how many remain.

    When none remain, the retiring keys are destroyed and the completion is recorded. A
    value that cannot be decrypted is recorded as a failure and left in place (its key is
    then kept): the step never overwrites what it could not read.
    """
    client = Client.objects.get(pk=client_id)
    retiring = _versions(client.pk, ClientDataKey.State.RETIRING)
    if not retiring:
        return 0
    budget = batch_size
    for spec in ENCRYPTED_FIELDS:
        if budget <= 0:
            break
        pks = list(
            _rows_on(spec, client_id=client.pk, versions=retiring)
            .order_by("pk")
            .values_list("pk", flat=True)[:budget]
        )
        for pk in pks:
            budget -= 1
            try:
                _reencrypt_row(spec, client=client, pk=pk, retiring=retiring)
            except VaultError as error:
                record_decryption_failure(
                    actor=None,
                    client=client,
                    target=Target(type=spec.record_type, id=str(pk), label=spec.field),
                    error=error,
                )
    remaining = client_key_rotation_remaining(client_id=client.pk)
    if remaining == 0:
        _client_key_rotation_finish(client=client)
    return remaining


def _client_key_rotation_finish(*, client: Client) -> None:
    with transaction.atomic():
        # The key rows' locks wait for any transaction still sealing under them.
        retiring = list(
            ClientDataKey.objects.select_for_update()
            .filter(client_id=client.pk)
            .exclude(state=ClientDataKey.State.DESTROYED)
            .order_by("version")
        )
        destroy = [row for row in retiring if row.state == ClientDataKey.State.RETIRING]
        if not destroy or client_key_rotation_remaining(client_id=client.pk):
            return
        ClientDataKey.objects.filter(pk__in=[row.pk for row in destroy]).update(
            state=ClientDataKey.State.DESTROYED, wrapped_key=b"", destroyed_at=timezone.now()
        )
        active = next(row for row in retiring if row.state == ClientDataKey.State.ACTIVE)
        record(
            actor=None,
            action="vault.client_key_rotated",
            client=client,
            target=Target.of(active, label=f"Data key v{active.version}"),
            details={
                "active_version": active.version,
                "destroyed_versions": [row.version for row in destroy],
            },
        )
    data_key_cache_clear(client_id=client.pk)


# --- Crypto-shredding --------------------------------------------------------------------
