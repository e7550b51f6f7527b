"""The vault's answer to the quarterly hygiene audit: what it knows about credentials.

audit.hygiene defines the CredentialInventory protocol and never imports the vault; the vault
registers VaultCredentialInventory in its AppConfig.ready(). The audit has already scoped
`client_ids` to the viewer (Client.objects.for_user), so every method reads only those
clients' credentials. Each method is one query, however many credentials there are: the counts
of every check in one pass over the credentials, and a check's first rows from the clients the
audit names. They return names and dates, never a sealed value: the querysets select the
columns they report and nothing else.

"Active" is every status but archived: an exposed or compromised credential still exists
at the client and still needs rotating.
"""

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from django.db.models import CharField, Count, Func, Q, QuerySet

from audit.catalogue import CREDENTIAL_ACCESS_ACTIONS
from audit.hygiene import CREDENTIAL_CHECKS, ClientCredentialCounts, CredentialRow
from audit.models import AuditEvent, Outcome
from tenants.models import System
from vault.models import CREDENTIAL_RECORD_TYPE, Credential, CredentialSecretVersion

# The columns a check reports: names and dates, never `secret`, `notes` or `totp_seed`.
_ROW_FIELDS = ("id", "name", "client_id", "system_id", "system__name")


class _UuidText(Func):
    """A UUID column as audit targets spell it: str(uuid), lowercase with hyphens.

    PostgreSQL casts its uuid type to that text; SQLite keeps Django's 32 hex digits, so the
    hyphens go back in. Comparing on this side keeps the audit events' target_id as stored,
    which their partial covering index returns without a cast.
    """

    arity = 1
    output_field = CharField()

    def as_sql(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, list]:
        # PostgreSQL, the database Keyhold runs on; SQLite (tests, development) below.
        return super().as_sql(compiler, connection, template="(%(expressions)s)::text")

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, list]:
        sql, params = compiler.compile(self.source_expressions[0])
        parts = ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
        template = " || '-' || ".join(
            f"substr({sql}, {start}, {length})" for start, length in parts
        )
        return f"({template})", params * len(parts)


def _active(client_ids: Collection[uuid.UUID]) -> QuerySet[Credential]:
    # exclude() spells the predicate of vault_cred_rotation_due_idx (NOT status = 'archived').
    return Credential.objects.filter(client_id__in=list(client_ids)).exclude(
        status=Credential.Status.ARCHIVED
    )


def _opened_since(client_ids: list[uuid.UUID], since: datetime) -> QuerySet[AuditEvent]:
    """Targets of successful openings since `since`. The filter is exactly the predicate of
    the events' partial covering index (audit_opening_time_idx: those actions, outcome
    success) and a range of its leading column, and reads only columns it holds (client,
    target type and id), so PostgreSQL answers it from the index alone."""
    return AuditEvent.objects.filter(
        action__in=sorted(CREDENTIAL_ACCESS_ACTIONS),
        outcome=Outcome.SUCCESS,
        occurred_at__gte=since,
        client_id__in=client_ids,
        target_type=CREDENTIAL_RECORD_TYPE,
    ).values("target_id")


def _check_filters(client_ids: list[uuid.UUID], as_of: datetime, since: datetime) -> dict[str, Q]:
    """What each check finds, as a condition on an active credential.

    Unused: added before `since`, not opened since (a successful event of
    CREDENTIAL_ACCESS_ACTIONS naming it); sealed emergency credentials are left out, being
    unopened is their purpose. Inherited unrotated: imported, and no secret version kept
    since (the first change of a secret keeps the imported one as a version).
    """
    changed = CredentialSecretVersion.objects.values("credential_id")
    return {
        "stale": Q(next_rotation_due__lt=as_of),
        "unused": Q(created_at__lt=since, is_emergency=False)
        & ~Q(target_id__in=_opened_since(client_ids, since)),
        "orphaned": Q(system__status=System.Status.DECOMMISSIONED),
        "shared": Q(is_shared=True),
        "inherited_unrotated": Q(source=Credential.Source.INHERITED) & ~Q(pk__in=changed),
    }


def _detail(check: str, values: dict) -> str:
    match check:
        case "stale":
            return f"Rotation due {values['next_rotation_due']:%Y-%m-%d}"
        case "unused":
            return f"Added {values['created_at']:%Y-%m-%d}"
        case "orphaned":
            return f"{values['system__name']} is decommissioned"
        case "inherited_unrotated":
            return f"Imported {values['created_at']:%Y-%m-%d}"
    return values["system__name"] or ""


class VaultCredentialInventory:
    """The CredentialInventory of audit.hygiene, answered from the vault's credentials."""

    # The vault exists: a client without credentials is a finding, not missing data.
    available = True

    def system_ids_with_credentials(self, *, client_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        """Systems that have at least one active credential."""
        return set(
            _active(client_ids)
            .filter(system_id__isnull=False)
            .order_by()
            .values_list("system_id", flat=True)
            .distinct()
        )

    def counts(
        self, *, client_ids: Collection[uuid.UUID], as_of: datetime, since: datetime
    ) -> list[ClientCredentialCounts]:
        """Per client with active credentials: totals, MFA on the path, and each check's
        count, from one pass over the credentials (a whole MSP's 500,000 are read once, not
        once per check)."""
        ids = [*client_ids]
        checks = _check_filters(ids, as_of, since)
        rows = (
            _active(ids)
            .alias(target_id=_UuidText("id"))
            .order_by()
            .values("client_id")
            .annotate(
                total=Count("id"),
                protected=Count("id", filter=Q(mfa_on_path=Credential.MfaOnPath.YES)),
                **{f"found_{key}": Count("id", filter=found) for key, found in checks.items()},
            )
        )
        return [
            ClientCredentialCounts(
                client_id=row["client_id"],
                total=row["total"],
                protected=row["protected"],
                found={key: row[f"found_{key}"] for key in CREDENTIAL_CHECKS},
            )
            for row in rows
        ]

    def rows(
        self,
        check: str,
        *,
        client_ids: Collection[uuid.UUID],
        as_of: datetime,
        since: datetime,
        limit: int,
    ) -> list[CredentialRow]:
        """The first `limit` credentials the check finds, by client name then name."""
        ids = [*client_ids]
        found = _check_filters(ids, as_of, since)[check]
        values = (
            _active(ids)
            .alias(target_id=_UuidText("id"))
            .filter(found)
            .order_by("client__name", "name", "id")
            .values(*_ROW_FIELDS, "next_rotation_due", "created_at")[:limit]
        )
        return [
            CredentialRow(
                id=str(row["id"]),
                label=row["name"],
                client_id=row["client_id"],
                system_id=row["system_id"],
                detail=_detail(check, row),
            )
            for row in values
        ]
