"""Imports of a previous provider's export: parse it into a sealed preview, exclude the rows
that cannot be imported, then confirm (every valid, non-excluded row becomes an inherited,
compromised credential with a rotation task) or cancel (the sealed rows are deleted).

Who: onboarding staff, managers and administrators with manage access to the client.
Secrecy: the upload is read from memory (or, from the shell, the operator's own file) and
never written anywhere; each row's secret, notes and TOTP seed are sealed with the client's
key on arrival (IMPORT_ROW_RECORD_TYPE, bound to the row's id) and opened only inside the
vault's bulk service at confirm. Events and messages carry counts and row numbers, never
values.

Transactions: a preview is one transaction, so a file-level error found deep in a streamed
file leaves nothing behind. A confirm is one transaction per chunk of CHUNK rows: each row
gets its credential in the chunk that creates it, so an interrupted confirm (a deadline, a
timeout, a crash) is continued by the next one and never imports a row twice. Chunks keep
the audit chain's head lock, taken at the end of each, short for everyone else.
"""

import re
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, BinaryIO

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import Role, User
from accounts.services import require_role
from audit.services import Attempt, Target, record, recording_failures
from config.bulk import bulk_insert
from config.errors import InvalidRequest, NotFound
from intake import importers
from intake.models import IMPORT_ROW_RECORD_TYPE, ImportBatch, ImportRow
from intake.selectors.imports import ImportSummary, import_summary
from intake.services.intakes import inherited_rotation_due
from rotation.models import RotationReason
from rotation.services.tasks import TaskRequest, rotation_tasks_open_bulk
from tenants.models import AccessLevel, Client
from tenants.selectors import client_get_for_user
from vault.envelope import field_encrypt_many
from vault.models import Credential, CredentialType
from vault.services.imports import (
    InheritedCredential,
    credential_import_bulk,
    inherited_credential_problems,
)

IMPORT_ROLES = (Role.ONBOARDING, Role.MANAGER, Role.ADMINISTRATOR)
CHUNK = 1000
FILENAME_MAX = 255
ORGANIZATIONS_KEPT = 20
# Row numbers named in a refusal before "and N more".
ROWS_NAMED = 20
SEALED_FIELDS = (("secret", "secret"), ("notes", "notes"), ("totp", "totp_seed"))
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _import_client(actor: User, client: Client) -> Client:
    scoped = client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.MANAGE)
    require_role(actor, *IMPORT_ROLES, action="import a previous provider's credentials")
    return scoped


def _batch_target(batch: ImportBatch) -> Target:
    return Target(type="intake.importbatch", id=str(batch.pk), label=batch.filename[:254])


def _filename_clean(filename: str) -> str:
    """The file's own name, without a path or control characters, for the history."""
    name = _CONTROL.sub("", filename.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return name[:FILENAME_MAX] or "upload"


def _duplicate_key(*, name: str, username: str, url: str) -> tuple[str, str, str]:
    """What makes two credentials the same one: system (its name), username and URL."""
    return (name.strip().casefold(), username.strip().casefold(), url.strip().casefold())


def _chunks(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _mapping_clean(*, upload: BinaryIO, format: str, mapping: dict[str, str] | None) -> dict:
    if format != "generic_csv":
        return {}
    mapping = {key: value for key, value in (mapping or {}).items() if value}
    unknown = sorted(set(mapping) - set(importers.GENERIC_FIELDS))
    if unknown:
        raise InvalidRequest(f"Keyhold has no field called {', '.join(unknown)}.")
    columns = importers.csv_columns(upload)
    missing = sorted(set(mapping.values()) - set(columns))
    if missing:
        raise InvalidRequest(
            "The file has no column called "
            + ", ".join(f"“{column}”" for column in missing)
            + ". Choose the file whose columns were mapped, or map its columns again."
        )
    if "secret" not in mapping:
        raise InvalidRequest("Choose the column that holds the password.")
    if not {"name", "url", "username"} & set(mapping):
        raise InvalidRequest(
            "Choose the column that names each credential (name, URL or username)."
        )
    return mapping


@sensitive_variables("password", "parsed", "plain")
def import_preview_create(
    *,
    actor: User,
    client: Client,
    upload: BinaryIO,
    filename: str,
    format: str | None = None,
    mapping: dict[str, str] | None = None,
    password: str | None = None,
    has_header: bool | None = None,
) -> ImportBatch:
    """Parse an export into a preview of sealed rows with their validation results.

    `format` None detects it; `mapping` (generic CSV) maps Keyhold's fields to the file's
    columns; `password` opens a KDBX file; `has_header` None detects a Passportal header.
    Nothing becomes a credential here.
    """
    filename = _filename_clean(filename)
    attempt = Attempt(
        actor=actor,
        action="intake.import_previewed",
        client=client,
        target=Target(type="intake.importbatch", id="", label=filename),
    )
    with recording_failures(attempt):
        _import_client(actor, client)
        if format is None:
            format = importers.detect_format(upload, filename=filename)
        elif format not in importers.FORMATS:
            raise InvalidRequest(f"{format!r} is not a format Keyhold imports.")
        mapping = _mapping_clean(upload=upload, format=format, mapping=mapping)
        existing = {
            _duplicate_key(name=name, username=username, url=host)
            for name, username, host in Credential.objects.filter(client_id=client.pk)
            .exclude(status=Credential.Status.ARCHIVED)
            .values_list("name", "username", "host")
        }
        with transaction.atomic():
            batch = ImportBatch.objects.create(
                client=client,
                format=format,
                filename=filename,
                created_by=actor,
                created_at=timezone.now(),
            )
            seen: dict[tuple[str, str, str], int] = {}
            organizations: set[str] = set()
            rows_read = errors = duplicates = 0
            parsed_rows = importers.parse(
                upload,
                format=format,
                mapping=mapping or None,
                password=password,
                has_header=has_header,
            )
            for chunk in _chunks(parsed_rows, CHUNK):
                rows, plain = [], []
                for parsed in chunk:
                    row = _preview_row(
                        batch=batch, parsed=parsed, seen=seen, existing=existing, plain=plain
                    )
                    rows.append(row)
                    if parsed.client_name:
                        organizations.add(parsed.client_name)
                    errors += bool(row.errors)
                    duplicates += row.duplicate_of is not None or _in_vault(row, existing)
                sealed = iter(
                    field_encrypt_many(
                        client=client, record_type=IMPORT_ROW_RECORD_TYPE, values=plain
                    )
                )
                by_row = {(record_id, column): next(sealed) for record_id, column, _ in plain}
                for row in rows:
                    for _, column in SEALED_FIELDS:
                        setattr(row, column, by_row.get((str(row.id), column)))
                bulk_insert(ImportRow, rows)
                rows_read += len(rows)
            if not rows_read:
                raise InvalidRequest("The file holds no credentials to import.")
            batch.row_count = rows_read
            batch.error_count = errors
            batch.duplicate_count = duplicates
            batch.mapping = {
                "columns": mapping,
                "organizations": sorted(organizations)[:ORGANIZATIONS_KEPT],
                "organization_count": len(organizations),
            }
            batch.save(update_fields=["row_count", "error_count", "duplicate_count", "mapping"])
            record(
                actor=actor,
                action="intake.import_previewed",
                client=client,
                target=_batch_target(batch),
                details={
                    "format": format,
                    "filename": filename,
                    "rows": rows_read,
                    "errors": errors,
                    "duplicates": duplicates,
                    "organizations": len(organizations),
                },
            )
    return batch


def _in_vault(row: ImportRow, existing: set[tuple[str, str, str]]) -> bool:
    return _duplicate_key(name=row.name, username=row.username, url=row.url) in existing


@sensitive_variables("parsed", "plain")
def _preview_row(
    *,
    batch: ImportBatch,
    parsed: "importers.ImportedRow",
    seen: dict[tuple[str, str, str], int],
    existing: set[tuple[str, str, str]],
    plain: list[tuple[str, str, bytes]],
) -> ImportRow:
    """One preview row: the parser's errors, then the vault's own checks and duplicates."""
    row_errors = list(parsed.errors)
    if not row_errors:
        # The vault's rules (URL, lengths) as confirm will apply them; a row the parser
        # already refused shows the parser's reasons first.
        row_errors += inherited_credential_problems(
            name=parsed.name,
            username=parsed.username,
            host=parsed.url,
            secret=parsed.secret,
            notes=parsed.notes,
            totp_seed=parsed.totp,
        )
    credential_type = parsed.credential_type or CredentialType.OTHER
    if credential_type not in CredentialType.values:
        credential_type = CredentialType.OTHER
    key = _duplicate_key(name=parsed.name, username=parsed.username, url=parsed.url)
    duplicate_of = seen.get(key)
    if duplicate_of is not None:
        row_errors.append(f"Same name, username and URL as row {duplicate_of}.")
    else:
        seen[key] = parsed.row_number
    if key in existing:
        row_errors.append(
            "A credential with the same name, username and URL is already in this client's vault."
        )
    row = ImportRow(
        id=uuid.uuid4(),
        batch=batch,
        client_id=batch.client_id,
        row_number=parsed.row_number,
        name=parsed.name,
        username=parsed.username,
        url=parsed.url,
        folder=parsed.folder,
        credential_type=credential_type,
        errors=row_errors,
        duplicate_of=duplicate_of,
    )
    for attribute, column in SEALED_FIELDS:
        value = getattr(parsed, attribute)
        if value:
            plain.append((str(row.id), column, value.encode("utf-8")))
    return row


# --- Previews without a trace (the shell's --dry-run) ---------------------------------------


@sensitive_variables("password")
def import_preview_dry_run(
    *,
    actor: User,
    client: Client,
    upload: BinaryIO,
    filename: str,
    format: str | None = None,
    mapping: dict[str, str] | None = None,
    password: str | None = None,
    has_header: bool | None = None,
) -> ImportSummary:
    """What a preview would show, leaving nothing: no batch, no rows, no key use, no event.

    The preview runs in a transaction that is rolled back. A refusal (access) is checked
    first, outside it, so its denied event stays.
    """
    attempt = Attempt(actor=actor, action="intake.import_previewed", client=client)
    with recording_failures(attempt):
        _import_client(actor, client)
    with transaction.atomic():
        batch = import_preview_create(
            actor=actor,
            client=client,
            upload=upload,
            filename=filename,
            format=format,
            mapping=mapping,
            password=password,
            has_header=has_header,
        )
        summary = import_summary(actor=actor, batch=batch)
        transaction.set_rollback(True)
    return summary


# --- Excluding rows -------------------------------------------------------------------------


def _batch_locked(batch: ImportBatch) -> ImportBatch:
    current = (
        ImportBatch.objects.select_for_update()
        .filter(pk=batch.pk, client_id=batch.client_id)
        .first()
    )
    if current is None:
        raise NotFound()
    if current.status != ImportBatch.Status.PREVIEW:
        raise InvalidRequest(
            f"This import is already {current.get_status_display().lower()}; "
            "upload the file again to start a new one."
        )
    return current


def import_rows_exclusion_set(
    *, actor: User, batch: ImportBatch, excluded: Iterable[uuid.UUID], included: Iterable[uuid.UUID]
) -> int:
    """Exclude some rows of a preview and include others again; returns how many changed.

    Rows already imported (a confirm that was interrupted) keep their state.
    """
    client = batch.client
    excluded, included = set(excluded), set(included)
    attempt = Attempt(
        actor=actor,
        action="intake.import_rows_excluded",
        client=client,
        target=_batch_target(batch),
    )
    with recording_failures(attempt):
        _import_client(actor, client)
        if excluded & included:
            raise InvalidRequest("A row cannot be excluded and included at once.")
        with transaction.atomic():
            current = _batch_locked(batch)
            pending = ImportRow.objects.filter(batch=current, credential__isnull=True)
            to_exclude = list(
                pending.filter(pk__in=excluded, excluded=False).values_list("row_number", flat=True)
            )
            to_include = list(
                pending.filter(pk__in=included, excluded=True).values_list("row_number", flat=True)
            )
            if not to_exclude and not to_include:
                return 0
            pending.filter(row_number__in=to_exclude).update(excluded=True)
            pending.filter(row_number__in=to_include).update(excluded=False)
            record(
                actor=actor,
                action="intake.import_rows_excluded",
                client=client,
                target=_batch_target(current),
                details={
                    "excluded_rows": sorted(to_exclude),
                    "included_rows": sorted(to_include),
                },
            )
    return len(to_exclude) + len(to_include)


def import_rows_exclude_invalid(*, actor: User, batch: ImportBatch) -> int:
    """Exclude every row of a preview that has an error; returns how many were excluded."""
    client = batch.client
    attempt = Attempt(
        actor=actor,
        action="intake.import_rows_excluded",
        client=client,
        target=_batch_target(batch),
    )
    with recording_failures(attempt):
        _import_client(actor, client)
        with transaction.atomic():
            current = _batch_locked(batch)
            count = (
                ImportRow.objects.filter(batch=current, credential__isnull=True, excluded=False)
                .exclude(errors=[])
                .update(excluded=True)
            )
            if not count:
                return 0
            record(
                actor=actor,
                action="intake.import_rows_excluded",
                client=client,
                target=_batch_target(current),
                details={"all_with_errors": True, "excluded": count},
            )
    return count


# --- Confirm and cancel ---------------------------------------------------------------------


@dataclass(frozen=True)
class ImportConfirmed:
    """Where a confirm got to: `finished` False when its deadline came first (continue it)."""

    imported: int
    remaining: int
    excluded: int
    finished: bool


def _blocking_refusal(batch: ImportBatch) -> InvalidRequest | None:
    blocking = list(
        ImportRow.objects.filter(batch=batch, excluded=False, credential__isnull=True)
        .exclude(errors=[])
        .order_by("row_number")
        .values_list("row_number", flat=True)
    )
    if not blocking:
        return None
    named = ", ".join(str(number) for number in blocking[:ROWS_NAMED])
    more = f" and {len(blocking) - ROWS_NAMED} more" if len(blocking) > ROWS_NAMED else ""
    count = "1 row has" if len(blocking) == 1 else f"{len(blocking)} rows have"
    return InvalidRequest(
        f"Nothing was imported: {count} errors and {'is' if len(blocking) == 1 else 'are'} not "
        f"excluded (row {named}{more}). Exclude {'it' if len(blocking) == 1 else 'them'}, or "
        "fix the file and upload it again."
    )


def _pending_rows(batch: ImportBatch):
    return (
        ImportRow.objects.filter(batch=batch, excluded=False, credential__isnull=True, errors=[])
        .order_by("row_number")
        .only(
            "id",
            "row_number",
            "name",
            "username",
            "url",
            "folder",
            "credential_type",
            "secret",
            "notes",
            "totp_seed",
        )
    )


def _import_chunk(*, actor: User, client: Client, batch: ImportBatch, due: dict, after: int) -> int:
    """Import the pending rows after row number `after`, up to CHUNK of them, in one
    transaction; returns the last row number imported, 0 when none are left.

    A row's credential takes the row's id (each id stays bound to its own record type), so
    linking every row of the chunk to its credential is one UPDATE.
    """
    with transaction.atomic():
        current = _batch_locked(batch)
        pending = _pending_rows(current)
        if after is not None:
            pending = pending.filter(row_number__gt=after)
        rows = list(pending[:CHUNK])
        if not rows:
            return None
        wanted = [
            InheritedCredential(
                id=row.id,
                source_id=str(row.id),
                name=row.name,
                credential_type=row.credential_type or CredentialType.OTHER,
                username=row.username,
                host=row.url,
                folder=row.folder,
                secret=row.secret,
                notes=row.notes,
                totp_seed=row.totp_seed,
            )
            for row in rows
        ]
        credentials = credential_import_bulk(
            actor=actor,
            client=client,
            credentials=wanted,
            source_record_type=IMPORT_ROW_RECORD_TYPE,
            batch=_batch_target(current),
        )
        # The vault holds the values now: the preview's sealed copies go at once.
        ImportRow.objects.filter(pk__in=[row.pk for row in rows]).update(
            credential_id=F("id"), secret=None, notes=None, totp_seed=None
        )
        requests = []
        for credential in credentials:
            tier = credential.privilege_tier
            if tier not in due:
                due[tier] = inherited_rotation_due(actor=actor, client=client, tier=tier)
            requests.append(TaskRequest(credential=credential, due_at=due[tier]))
        rotation_tasks_open_bulk(
            actor=actor,
            client=client,
            requests=requests,
            reason=RotationReason.INHERITED,
            detail=f"Imported from {current.filename}"[:500],
        )
        ImportBatch.objects.filter(pk=current.pk).update(
            imported_count=F("imported_count") + len(rows)
        )
    return rows[-1].row_number


def import_confirm(
    *, actor: User, batch: ImportBatch, deadline: float | None = None
) -> ImportConfirmed:
    """Import every valid, non-excluded row as an inherited, compromised credential.

    Refused while a row that is not excluded has an error. High-privilege credentials get
    a rotation task due within 48 hours of the import, the others per the client's policy.
    `deadline` (a time.monotonic() value) stops after the chunk that reaches it; confirming
    again continues.
    """
    client = batch.client
    attempt = Attempt(
        actor=actor, action="intake.import_confirmed", client=client, target=_batch_target(batch)
    )
    with recording_failures(attempt):
        _import_client(actor, client)
        with transaction.atomic():
            current = _batch_locked(batch)
            refusal = _blocking_refusal(current)
            if refusal is not None:
                raise refusal
            if not ImportRow.objects.filter(batch=current, excluded=False).exists():
                raise InvalidRequest(
                    "Every row is excluded, so there is nothing to import. Cancel the import, "
                    "or include rows again."
                )
        # One confirm gives every chunk the same due times (a row's tier decides which).
        due: dict[str, Any] = {}
        last: int | None = None
        while True:
            last = _import_chunk(actor=actor, client=client, batch=current, due=due, after=last)
            if last is None:
                break
            if deadline is not None and time.monotonic() >= deadline:
                return _progress(batch=current, finished=False)
        with transaction.atomic():
            current = _batch_locked(batch)
            refusal = _blocking_refusal(current)
            if refusal is not None:
                raise refusal
            now = timezone.now()
            current.status = ImportBatch.Status.IMPORTED
            current.finished_at = now
            current.finished_by = actor
            current.save(update_fields=["status", "finished_at", "finished_by"])
            # Rows left out keep no secret either: the preview's values end with the import.
            ImportRow.objects.filter(batch=current).update(secret=None, notes=None, totp_seed=None)
            progress = _progress(batch=current, finished=True)
            record(
                actor=actor,
                action="intake.import_confirmed",
                client=client,
                target=_batch_target(current),
                details={
                    "format": current.format,
                    "rows": current.row_count,
                    "imported": progress.imported,
                    "excluded": progress.excluded,
                },
            )
    _takeover_steps_ensure(actor=actor, client=client)
    return progress


def _takeover_steps_ensure(*, actor: User, client: Client) -> None:
    """The takeover checklist follows an import: its steps exist from now on."""
    from intake.services.takeover import takeover_steps_ensure

    takeover_steps_ensure(actor=actor, client=client)


def _progress(*, batch: ImportBatch, finished: bool) -> ImportConfirmed:
    rows = ImportRow.objects.filter(batch=batch)
    imported = rows.filter(credential__isnull=False).count()
    return ImportConfirmed(
        imported=imported,
        remaining=_pending_rows(batch).count(),
        excluded=rows.filter(excluded=True).count(),
        finished=finished,
    )


def import_cancel(*, actor: User, batch: ImportBatch) -> ImportBatch:
    """Cancel a preview: its sealed rows are deleted; the batch stays in the history."""
    client = batch.client
    attempt = Attempt(
        actor=actor, action="intake.import_cancelled", client=client, target=_batch_target(batch)
    )
    with recording_failures(attempt):
        _import_client(actor, client)
        with transaction.atomic():
            current = _batch_locked(batch)
            rows = ImportRow.objects.filter(batch=current)
            if rows.filter(credential__isnull=False).exists():
                raise InvalidRequest(
                    "Part of this import is already in the vault; confirm it again to finish "
                    "it (excluded rows stay out)."
                )
            deleted, _ = rows.delete()
            current.status = ImportBatch.Status.CANCELLED
            current.finished_at = timezone.now()
            current.finished_by = actor
            current.save(update_fields=["status", "finished_at", "finished_by"])
            record(
                actor=actor,
                action="intake.import_cancelled",
                client=client,
                target=_batch_target(current),
                details={"rows_deleted": deleted, "format": current.format},
            )
    return current
