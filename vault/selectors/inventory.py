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

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from audit.hygiene import (
    CREDENTIAL_CHECKS,
    ClientCredentialCounts,
    CredentialRow,
    UncoveredSystem,
)
from tenants.models import System
from vault.models import Credential, CredentialSecretVersion

# The columns a check reports: names and dates, never `secret`, `notes` or `totp_seed`.
_ROW_FIELDS = ("id", "name", "client_id", "system_id", "system__name")


def _active(client_ids: Collection[uuid.UUID]) -> QuerySet[Credential]:
    """`client_ids` is a list or a queryset of ids (then a subquery, not parameters)."""
    # exclude() spells the predicate of vault_cred_rotation_due_idx (NOT status = 'archived').
    return Credential.objects.filter(client_id__in=client_ids).exclude(
        status=Credential.Status.ARCHIVED
    )


def _check_filters(as_of: datetime, since: datetime, *, few: bool = False) -> dict[str, Q]:
    """What each check finds, as a condition on an active credential.

    Unused: added before `since` and not opened since (last_opened_at, which follows the
    audit log's successful openings); sealed emergency credentials are left out, being
    unopened is their purpose. Inherited unrotated: imported, and no secret version kept
    since (the first change of a secret keeps the imported one as a version).

    Over every credential, the kept versions are hashed once (NOT IN); over `few` rows
    (a check's first rows, from a few clients), each row's versions are looked up by index
    instead: hashing all 142,000 versions of the full-size data set took 100 ms there.
    """
    if few:
        kept = CredentialSecretVersion.objects.filter(credential_id=OuterRef("pk"))
        unrotated = ~Exists(kept)
    else:
        unrotated = ~Q(pk__in=CredentialSecretVersion.objects.values("credential_id"))
    return {
        "stale": Q(next_rotation_due__lt=as_of),
        "unused": Q(created_at__lt=since, is_emergency=False)
        & (Q(last_opened_at__isnull=True) | Q(last_opened_at__lt=since)),
        "orphaned": Q(system__status=System.Status.DECOMMISSIONED),
        "shared": Q(is_shared=True),
        "inherited_unrotated": Q(source=Credential.Source.INHERITED) & unrotated,
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

    def systems_without_credentials(
        self, *, client_ids: Collection[uuid.UUID]
    ) -> list[UncoveredSystem]:
        """Active systems without an active credential, by client name, then name.

        Asked from the systems' side, one probe of the credentials' system index each, and
        only the uncovered come back: listing all 20,000 systems of a whole MSP to compare
        them with the covered ones cost another 100 ms (issue 9).
        """
        active = Credential.objects.filter(system_id=OuterRef("pk")).exclude(
            status=Credential.Status.ARCHIVED
        )
        rows = (
            System.objects.filter(client_id__in=client_ids, status=System.Status.ACTIVE)
            .exclude(Exists(active))
            .order_by("client__name", "name", "id")
            .values_list("id", "client_id", "name", "kind")
        )
        return [UncoveredSystem(*row) for row in rows]

    def counts(
        self, *, client_ids: Collection[uuid.UUID], as_of: datetime, since: datetime
    ) -> list[ClientCredentialCounts]:
        """Per client with active credentials: totals, MFA on the path, and each check's
        count, from one pass over the credentials (a whole MSP's 500,000 are read once, not
        once per check)."""
        checks = _check_filters(as_of, since)
        rows = (
            _active(client_ids)
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
        found = _check_filters(as_of, since, few=True)[check]
        values = (
            _active(ids)
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
