"""The vault's credential inventory for the hygiene audit: each check, scoping, one query each."""

import importlib
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.apps import apps as django_apps
from django.db.models import Max

from audit import hygiene
from audit.catalogue import CREDENTIAL_ACCESS_ACTIONS
from audit.models import AuditEvent
from config.errors import AccessDenied
from tenants.models import AccessLevel, System
from tenants.services import assignment_grant
from tests.audit.review_world import utc
from tests.factories import SystemFactory
from tests.vault.test_credentials import make_credential, manager_of
from vault import services
from vault.models import Credential, CredentialType
from vault.selectors.inventory import VaultCredentialInventory

T0 = utc(2026, 6, 1, 9)
inventory = VaultCredentialInventory()


def standard(client, **overrides) -> Credential:
    fields = {"name": "Front desk PC", "credential_type": CredentialType.STANDARD_USER}
    return make_credential(client=client, **{**fields, **overrides})


def archived(client, **overrides) -> Credential:
    credential = standard(client, **overrides)
    return services.credential_archive(
        actor=manager_of(client), credential=credential, reason="Left the client"
    )


FAR = utc(2030, 1, 1)


def labels(rows) -> list[str]:
    return [row.label for row in rows]


def rows(check, client_ids, *, as_of=FAR, since=FAR, limit=100):
    return inventory.rows(check, client_ids=client_ids, as_of=as_of, since=since, limit=limit)


def found(check, client_ids, *, as_of=FAR, since=FAR) -> dict:
    """The check's count per client (clients where it finds nothing left out)."""
    counted = inventory.counts(client_ids=client_ids, as_of=as_of, since=since)
    return {row.client_id: row.found[check] for row in counted if row.found[check]}


def checked(check, client_ids, **window) -> list[str]:
    """The check's rows, after asserting that its counts agree with them client by client."""
    listed = rows(check, client_ids, **window)
    per_client = {}
    for row in listed:
        per_client[row.client_id] = per_client.get(row.client_id, 0) + 1
    assert found(check, client_ids, **window) == per_client
    return listed


@pytest.fixture
def both(client_a, client_b):
    return [client_a.pk, client_b.pk]


def test_the_vault_registers_its_inventory_with_the_audit():
    assert isinstance(hygiene.current_inventory(), VaultCredentialInventory)
    assert hygiene.current_inventory().available


@pytest.mark.django_db
def test_systems_without_credentials_are_the_active_ones_of_the_clients_asked(
    client_a, client_b, system_a, system_b
):
    fw = SystemFactory(client=client_a, name="FW01")
    nas = SystemFactory(client=client_a, name="NAS01")
    SystemFactory(client=client_a, name="OLD01", status=System.Status.DECOMMISSIONED)
    standard(client_a, name="DC01 helpdesk", system=system_a)
    standard(client_a, name="DC01 second", system=system_a)
    standard(client_a, name="No system")
    archived(client_a, name="FW01 old admin", system=fw)
    standard(client_b, name="FS01 backup", system=system_b)
    web = SystemFactory(client=client_b, name="WEB01")

    def uncovered(client_ids):
        return [
            (system.id, system.client_id, system.name, system.kind)
            for system in inventory.systems_without_credentials(client_ids=client_ids)
        ]

    # FW01's only credential is archived; the decommissioned OLD01 is not asked about.
    assert uncovered([client_a.pk]) == [
        (fw.pk, client_a.pk, "FW01", fw.kind),
        (nas.pk, client_a.pk, "NAS01", nas.kind),
    ]
    assert [row[2] for row in uncovered([client_b.pk, client_a.pk])] == [
        *(["FW01", "NAS01"] if client_a.name < client_b.name else []),
        "WEB01",
        *(["FW01", "NAS01"] if client_a.name > client_b.name else []),
    ]
    assert web.pk not in [row[0] for row in uncovered([client_a.pk])]
    assert uncovered([]) == []


@pytest.mark.django_db
def test_counts_leave_out_archived_and_other_clients(client_a, client_b, both):
    standard(client_a, name="One")
    standard(client_a, name="Two")
    exposed = standard(client_a, name="Exposed")
    services.credential_update(
        actor=manager_of(client_a), credential=exposed, status=Credential.Status.EXPOSED
    )
    archived(client_a, name="Gone")
    standard(client_b, name="Theirs")

    def totals(client_ids):
        return {
            row.client_id: row.total
            for row in inventory.counts(client_ids=client_ids, as_of=FAR, since=FAR)
        }

    assert totals([client_a.pk]) == {client_a.pk: 3}
    assert totals(both) == {client_a.pk: 3, client_b.pk: 1}
    assert totals([]) == {}


@pytest.mark.django_db
def test_stale_credentials_are_those_whose_rotation_came_due(client_a, client_b):
    with time_machine.travel(T0, tick=False):
        standard(client_a, name="Overdue", rotation_interval_days=30)
        standard(client_a, name="Fresh", rotation_interval_days=90)
        standard(client_a, name="No interval")
        archived(client_a, name="Archived overdue", rotation_interval_days=30)
        standard(client_b, name="Other client overdue", rotation_interval_days=30)
    listed = checked("stale", [client_a.pk], as_of=T0 + timedelta(days=45))
    assert labels(listed) == ["Overdue"]
    assert listed[0].client_id == client_a.pk
    assert listed[0].detail == "Rotation due 2026-07-01"
    assert checked("stale", [client_a.pk], as_of=T0 + timedelta(days=29)) == []


@pytest.mark.django_db
def test_unused_credentials_were_not_opened_since_and_are_not_new(client_a, client_b, bob, both):
    since = T0 + timedelta(days=10)
    with time_machine.travel(T0, tick=False):
        opened_recently = standard(client_a, name="Opened recently")
        opened_long_ago = standard(client_a, name="Opened long ago")
        standard(client_a, name="Never opened")
        refused = make_credential(client=client_a, name="Refused reveal")  # high privilege
        archived(client_a, name="Archived")
        make_credential(client=client_a, name="Break glass", is_emergency=True)  # sealed on purpose
        standard(client_b, name="Other client")
    with time_machine.travel(T0 + timedelta(days=2), tick=False):
        services.credential_reveal(actor=bob, credential=opened_long_ago, ticket="T-1")
    with time_machine.travel(since + timedelta(days=3), tick=False):
        services.credential_reveal(actor=bob, credential=opened_recently, ticket="T-2")
        # A denied attempt names the credential too, but nobody opened it.
        with pytest.raises(AccessDenied):
            services.credential_reveal(actor=bob, credential=refused, ticket="T-3")
        standard(client_a, name="Added last week")

    listed = checked("unused", [client_a.pk], since=since)
    assert labels(listed) == ["Never opened", "Opened long ago", "Refused reveal"]
    assert listed[0].detail == "Added 2026-06-01"
    assert labels(checked("unused", both, since=since)) == [
        "Never opened",
        "Opened long ago",
        "Refused reveal",
        "Other client",
    ]
    earlier = checked("unused", [client_a.pk], since=T0 + timedelta(days=1))
    assert labels(earlier) == ["Never opened", "Refused reveal"]


@pytest.mark.django_db
def test_orphaned_credentials_are_on_decommissioned_systems(client_a, client_b, system_a, both):
    old = SystemFactory(client=client_a, name="OLD01", status=System.Status.DECOMMISSIONED)
    theirs = SystemFactory(client=client_b, name="OLD02", status=System.Status.DECOMMISSIONED)
    standard(client_a, name="OLD01 admin", system=old)
    standard(client_a, name="DC01 helpdesk", system=system_a)
    standard(client_a, name="Unattached")
    archived(client_a, name="OLD01 archived", system=old)
    standard(client_b, name="OLD02 admin", system=theirs)
    listed = checked("orphaned", [client_a.pk])
    assert labels(listed) == ["OLD01 admin"]
    assert listed[0].system_id == old.pk
    assert listed[0].detail == "OLD01 is decommissioned"
    assert labels(checked("orphaned", both)) == ["OLD01 admin", "OLD02 admin"]


@pytest.mark.django_db
def test_shared_credentials_are_the_ones_marked_shared(client_a, client_b, system_a):
    standard(client_a, name="Team login", is_shared=True, system=system_a)
    standard(client_a, name="Named login")
    archived(client_a, name="Old team login", is_shared=True)
    standard(client_b, name="Their team login", is_shared=True)
    listed = checked("shared", [client_a.pk])
    assert labels(listed) == ["Team login"]
    assert listed[0].detail == "DC01"
    assert labels(checked("shared", [client_b.pk])) == ["Their team login"]


@pytest.mark.django_db
def test_mfa_coverage_counts_active_credentials_and_those_with_mfa(client_a, client_b, both):
    yes = Credential.MfaOnPath.YES
    standard(client_a, name="Portal", mfa_on_path=yes)
    standard(client_a, name="VPN", mfa_on_path=yes)
    standard(client_a, name="RDP", mfa_on_path=Credential.MfaOnPath.NO)
    standard(client_a, name="Unknown")
    archived(client_a, name="Old portal", mfa_on_path=yes)
    standard(client_b, name="Theirs", mfa_on_path=Credential.MfaOnPath.NO)

    def coverage(client_ids):
        counted = inventory.counts(client_ids=client_ids, as_of=FAR, since=FAR)
        return {row.client_id: (row.total, row.protected) for row in counted}

    assert coverage([client_a.pk]) == {client_a.pk: (4, 2)}
    assert coverage(both) == {client_a.pk: (4, 2), client_b.pk: (1, 0)}


@pytest.mark.django_db
def test_inherited_credentials_count_until_their_secret_changes(client_a, client_b):
    inherited = Credential.Source.INHERITED
    with time_machine.travel(T0, tick=False):
        standard(client_a, name="Imported as is", source=inherited)
        rotated = standard(client_a, name="Imported and rotated", source=inherited)
        relabelled = standard(client_a, name="Imported and renamed", source=inherited)
        standard(client_a, name="Typed by us")
        archived(client_a, name="Imported and archived", source=inherited)
        standard(client_b, name="Their import", source=inherited)
    manager = manager_of(client_a)
    services.credential_update(actor=manager, credential=rotated, secret="New-Secret-1b2c3d")
    services.credential_update(actor=manager, credential=relabelled, name="Imported, renamed")
    listed = checked("inherited_unrotated", [client_a.pk])
    assert labels(listed) == ["Imported as is", "Imported, renamed"]
    assert listed[0].detail == "Imported 2026-06-01"
    assert labels(checked("inherited_unrotated", [client_b.pk])) == ["Their import"]


def calls(client_ids, at):
    def window(**kwargs):
        return {"client_ids": client_ids, "as_of": at, "since": at, **kwargs}

    return {
        "systems_without_credentials": lambda: inventory.systems_without_credentials(
            client_ids=client_ids
        ),
        "counts": lambda: inventory.counts(**window()),
        **{
            f"rows_{check}": lambda check=check: inventory.rows(check, **window(limit=100))
            for check in hygiene.CREDENTIAL_CHECKS
        },
    }


def grow(client, bob, *, count: int) -> None:
    """Credentials that every check finds, with openings and kept versions, and an active
    system that no credential covers."""
    old = SystemFactory(client=client, status=System.Status.DECOMMISSIONED)
    SystemFactory(client=client)
    manager = manager_of(client)
    for index in range(count):
        credential = standard(
            client,
            actor=manager,
            name=f"Login {index:03d}",
            system=old,
            is_shared=True,
            source=Credential.Source.INHERITED,
            rotation_interval_days=1,
            mfa_on_path=Credential.MfaOnPath.YES if index % 2 else Credential.MfaOnPath.NO,
        )
        if index % 3 == 0:
            services.credential_reveal(actor=bob, credential=credential, ticket=f"T-{index}")
        if index % 4 == 0:
            services.credential_update(
                actor=manager, credential=credential, secret=f"Rotated-{index}"
            )


@pytest.mark.django_db
@pytest.mark.parametrize("method", list(calls([], None)))
def test_each_method_is_one_query_however_many_credentials(
    method, client_a, client_b, bob, both, django_assert_num_queries
):
    grow(client_a, bob, count=2)
    at = utc(2030, 1, 1)
    with django_assert_num_queries(1):
        small = calls(both, at)[method]()
    grow(client_a, bob, count=12)
    grow(client_b, bob, count=0)
    with django_assert_num_queries(1):
        large = calls(both, at)[method]()
    assert large != small


def last_openings_in_the_log() -> dict:
    """Per credential, its latest successful opening as the audit log has it."""
    rows = (
        AuditEvent.objects.filter(
            action__in=CREDENTIAL_ACCESS_ACTIONS, outcome="success", target_type="vault.credential"
        )
        .values_list("target_id")
        .annotate(last=Max("occurred_at"))
        .order_by()
    )
    return {uuid.UUID(target_id): last for target_id, last in rows}


def last_opened_columns() -> dict:
    return dict(
        Credential.objects.filter(last_opened_at__isnull=False).values_list("pk", "last_opened_at")
    )


@pytest.mark.django_db
def test_last_opened_at_follows_the_logs_successful_openings(client_a, bob):
    with time_machine.travel(T0, tick=False):
        desk = standard(client_a, name="Front desk PC")
        printer = standard(client_a, name="Printer")
        standard(client_a, name="Never opened")
        refused = make_credential(client=client_a, name="Refused reveal")  # high privilege
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        services.credential_reveal(actor=bob, credential=desk, ticket="T-1")
        services.credential_reveal(actor=bob, credential=printer, ticket="T-2", purpose="copy")
    with time_machine.travel(T0 + timedelta(days=3), tick=False):
        services.credential_reveal(actor=bob, credential=desk, ticket="T-3")
        with pytest.raises(AccessDenied):
            services.credential_reveal(actor=bob, credential=refused, ticket="T-4")
    assert last_opened_columns() == last_openings_in_the_log()
    assert last_opened_columns() == {
        desk.pk: T0 + timedelta(days=3),
        printer.pk: T0 + timedelta(days=1),
    }


@pytest.mark.django_db
def test_the_migration_fills_last_opened_at_from_the_log(client_a, bob):
    fill = importlib.import_module("vault.migrations.0008_credential_last_opened_at")
    with time_machine.travel(T0, tick=False):
        desk = standard(client_a, name="Front desk PC")
        services.credential_reveal(actor=bob, credential=desk, ticket="T-1")
    Credential.objects.update(last_opened_at=None)
    fill.fill_from_the_log(django_apps, None)
    assert last_opened_columns() == last_openings_in_the_log() == {desk.pk: T0}


@pytest.mark.django_db
@pytest.mark.parametrize("check", hygiene.CREDENTIAL_CHECKS)
def test_rows_are_the_first_by_client_and_name_and_the_counts_cover_them_all(
    check, client_a, client_b, bob, both
):
    assignment_grant(actor=None, client=client_b, user=bob, level=AccessLevel.USE)
    grow(client_a, bob, count=14)
    grow(client_b, bob, count=6)
    everything = checked(check, both)
    assert everything, check
    names = {client_a.pk: client_a.name, client_b.pk: client_b.name}
    order = [(names[row.client_id], row.label) for row in everything]
    assert order == sorted(order)
    assert rows(check, both, limit=3) == everything[:3]
    assert sum(found(check, both).values()) == len(everything)
