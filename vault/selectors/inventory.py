"""The vault's answer to the quarterly hygiene audit: what it knows about credentials.

audit.hygiene defines the CredentialInventory protocol and never imports the vault; the vault
registers VaultCredentialInventory in its AppConfig.ready(). The audit has already scoped
`client_ids` to the viewer (Client.objects.for_user), so every method reads only those
clients' credentials. Each method is one query and returns names and dates, never a sealed
value: the querysets select the columns they report and nothing else.

"Active" is every status but archived: an exposed or compromised credential still exists
at the client and still needs rotating.
"""

import uuid
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from django.db.models import CharField, Count, Exists, Func, OuterRef, Q, QuerySet

from audit.catalogue import CREDENTIAL_ACCESS_ACTIONS
from audit.hygiene import CredentialRow, MfaCoverage
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


def _rows(
    queryset: QuerySet[Credential], *extra: str, detail: Callable[[dict], str]
) -> list[CredentialRow]:
    """CredentialRows from one query, by client then name; `detail` words each row's values."""
    return [
        CredentialRow(
            id=str(values["id"]),
            label=values["name"],
            client_id=values["client_id"],
            system_id=values["system_id"],
            detail=detail(values),
        )
        for values in queryset.order_by("client__name", "name", "id").values(*_ROW_FIELDS, *extra)
    ]


def _system_name(values: dict) -> str:
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

    def credential_counts(self, *, client_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, int]:
        """Active credentials per client; clients without any are absent."""
        rows = _active(client_ids).order_by().values("client_id").annotate(total=Count("id"))
        return {row["client_id"]: row["total"] for row in rows}

    def stale(self, *, client_ids: Collection[uuid.UUID], as_of: datetime) -> list[CredentialRow]:
        """Active credentials whose next rotation was due before `as_of`."""
        return _rows(
            _active(client_ids).filter(next_rotation_due__lt=as_of),
            "next_rotation_due",
            detail=lambda row: f"Rotation due {row['next_rotation_due']:%Y-%m-%d}",
        )

    def unused(self, *, client_ids: Collection[uuid.UUID], since: datetime) -> list[CredentialRow]:
        """Active credentials added before `since` and not opened since then.

        Sealed emergency credentials are left out: being unopened is their purpose. Opened
        means a successful event of CREDENTIAL_ACCESS_ACTIONS naming the credential as its
        target. The subquery filters on exactly the predicate of the events' partial
        covering index (audit_opening_time_idx: those actions, outcome success) and a range
        of its leading column, and reads only columns it holds (client, target type and id),
        so PostgreSQL answers it from the index alone.
        """
        ids = [*client_ids]
        opened = AuditEvent.objects.filter(
            action__in=sorted(CREDENTIAL_ACCESS_ACTIONS),
            outcome=Outcome.SUCCESS,
            occurred_at__gte=since,
            client_id__in=ids,
            target_type=CREDENTIAL_RECORD_TYPE,
        ).values("target_id")
        return _rows(
            _active(ids)
            .filter(created_at__lt=since, is_emergency=False)
            .alias(target_id=_UuidText("id"))
            .exclude(target_id__in=opened),
            "created_at",
            detail=lambda row: f"Added {row['created_at']:%Y-%m-%d}",
        )

    def orphaned(self, *, client_ids: Collection[uuid.UUID]) -> list[CredentialRow]:
        """Active credentials whose system is decommissioned."""
        return _rows(
            _active(client_ids).filter(system__status=System.Status.DECOMMISSIONED),
            detail=lambda row: f"{row['system__name']} is decommissioned",
        )

    def shared(self, *, client_ids: Collection[uuid.UUID]) -> list[CredentialRow]:
        """Active credentials marked as shared (a generic team login)."""
        return _rows(_active(client_ids).filter(is_shared=True), detail=_system_name)

    def mfa_coverage(self, *, client_ids: Collection[uuid.UUID]) -> list[MfaCoverage]:
        """Per client with active credentials: how many, and how many have MFA on the path."""
        rows = (
            _active(client_ids)
            .order_by()
            .values("client_id")
            .annotate(
                total=Count("id"),
                protected=Count("id", filter=Q(mfa_on_path=Credential.MfaOnPath.YES)),
            )
        )
        return [
            MfaCoverage(client_id=row["client_id"], total=row["total"], protected=row["protected"])
            for row in rows
        ]

    def inherited_not_rotated(self, *, client_ids: Collection[uuid.UUID]) -> list[CredentialRow]:
        """Active inherited credentials whose secret never changed since the import."""
        changed = CredentialSecretVersion.objects.filter(credential_id=OuterRef("pk"))
        return _rows(
            _active(client_ids).filter(source=Credential.Source.INHERITED).exclude(Exists(changed)),
            "created_at",
            detail=lambda row: f"Imported {row['created_at']:%Y-%m-%d}",
        )
