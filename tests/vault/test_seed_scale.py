"""seed_scale: an MSP at benchmark scale, written in bulk, that the real code paths accept."""

import io
import json
import uuid
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Max

from accounts.models import User
from audit.catalogue import CREDENTIAL_ACCESS_ACTIONS
from audit.models import AuditEvent
from audit.verification import audit_chain_check
from rotation.models import RotationReason, RotationTask
from rotation.services.policies import rotation_next_due_fill_missing, rotation_next_due_recompute
from rotation.services.tasks import rotation_due_scan
from tenants.models import Assignment, Client, System
from vault.envelope import field_decrypt
from vault.hosts import host_clean
from vault.models import (
    CREDENTIAL_RECORD_TYPE,
    CREDENTIAL_VERSION_RECORD_TYPE,
    ClientDataKey,
    Credential,
    CredentialSecretVersion,
    PrivilegeTier,
)
from vault.scale import (
    BENCH_MANAGER_EMAIL,
    BENCH_PASSWORD,
    BENCH_TECHNICIAN_EMAIL,
    SEARCH_COMMON_TERM,
    SEARCH_RARE_TERM,
    scale_guard,
)
from vault.selectors.credentials import credential_list_for_user
from vault.services.credentials import TAG_PATTERN, credential_reveal, reveal_ticket_required

POSTGRESQL = {"ENGINE": "django.db.backends.postgresql", "NAME": "keyhold_scale"}
# The seed loads with COPY and runs VACUUM, which no test transaction may wrap.
seeded_database = pytest.mark.django_db(transaction=True, serialized_rollback=True)
SIZES = (
    "--clients=6",
    "--credentials=120",
    "--systems=30",
    "--staff=8",
    "--tech-clients=3",
    "--events=2000",
    "--workers=0",
    "--seed=7",
)


def _seed(tmp_path: Path) -> tuple[str, dict]:
    out = io.StringIO()
    manifest = tmp_path / "scale.json"
    call_command("seed_scale", *SIZES, f"--manifest={manifest}", stdout=out)
    return out.getvalue(), json.loads(manifest.read_text())


def _active_clients(user: User) -> set:
    return set(
        Assignment.objects.filter(user=user, revoked_at__isnull=True).values_list(
            "client_id", flat=True
        )
    )


def test_guard_refuses_sqlite_with_a_clear_message():
    with pytest.raises(CommandError, match=r"needs PostgreSQL.*sqlite3.*DATABASE_URL"):
        scale_guard(
            settings_dict={"ENGINE": "django.db.backends.sqlite3", "NAME": "var/keyhold.sqlite3"},
            existing={},
        )


def test_guard_refuses_a_database_that_holds_data():
    with pytest.raises(CommandError, match=r"already holds data \(3 clients\).*createdb"):
        scale_guard(settings_dict=POSTGRESQL, existing={"staff": 0, "clients": 3})
    scale_guard(settings_dict=POSTGRESQL, existing={"staff": 0, "clients": 0})


@pytest.mark.postgresql
@seeded_database
def test_seed_writes_the_asked_sizes_and_reports_them(tmp_path):
    output, manifest = _seed(tmp_path)

    assert Client.objects.count() == 6
    assert Credential.objects.count() == 120
    assert System.objects.count() == 30
    assert User.objects.count() == 8
    assert AuditEvent.objects.count() == 2000
    # One data key per client, created and wrapped by the envelope on first use.
    assert ClientDataKey.objects.filter(state=ClientDataKey.State.ACTIVE).count() == 6
    assert set(Credential.objects.values_list("privilege_tier", flat=True)) == set(PrivilegeTier)
    assert set(Credential.objects.values_list("status", flat=True)) >= {"active", "archived"}
    assert Credential.objects.filter(is_emergency=True).exists()
    assert Credential.objects.filter(totp_seed__isnull=False).exists()
    # Rows the services would have accepted: hosts and tags as their validators want them.
    for host in Credential.objects.values_list("host", flat=True):
        assert host_clean(host) == host
    for name in Credential.tags.through.objects.values_list("tag__name", flat=True):
        assert TAG_PATTERN.match(name)
    # Every opening names a credential that exists, with its name as the label.
    names = dict(Credential.objects.values_list("id", "name"))
    openings = AuditEvent.objects.filter(target_type="vault.credential")
    assert openings.exists()
    for target_id, label in openings.values_list("target_id", "target_label"):
        assert names[uuid.UUID(target_id)] == label
    assert BENCH_TECHNICIAN_EMAIL in output
    assert BENCH_MANAGER_EMAIL in output
    assert manifest["rows"]["credentials"] == 120
    assert manifest["logins"]["password"] == BENCH_PASSWORD
    assert (manifest["search"]["common"], manifest["search"]["rare"]) == (
        SEARCH_COMMON_TERM,
        SEARCH_RARE_TERM,
    )
    assert 0 < manifest["search"]["rare_matches"] < manifest["search"]["common_matches"]
    assert set(manifest["seconds"]) >= {"keys and credentials", "audit events", "total"}


@pytest.mark.postgresql
@seeded_database
def test_benchmark_technician_reveals_a_seeded_secret_and_the_chain_still_verifies(tmp_path):
    _seed(tmp_path)
    technician = User.objects.get(email=BENCH_TECHNICIAN_EMAIL)
    credential = (
        Credential.objects.filter(
            client_id__in=_active_clients(technician), status="active", is_emergency=False
        )
        .exclude(privilege_tier=PrivilegeTier.HIGH)
        .select_related("client")
        .first()
    )
    ticket = "T-100" if reveal_ticket_required(actor=technician, client=credential.client) else ""

    secret = credential_reveal(actor=technician, credential=credential, ticket=ticket)

    assert len(secret) >= 6
    assert technician.check_password(BENCH_PASSWORD)
    assert technician.totpdevice_set.get(confirmed=True).current_code().isdigit()
    check = audit_chain_check()
    assert check.ok, check.summary
    assert check.checked == 2001
    revealed = AuditEvent.objects.get(sequence=2001)
    assert (revealed.action, revealed.target_id) == ("credential.revealed", str(credential.pk))
    verified = io.StringIO()
    call_command("audit_verify", stdout=verified)
    assert "Audit chain intact: 2001 events checked" in verified.getvalue()


@pytest.mark.postgresql
@seeded_database
def test_every_sealed_value_opens_under_its_own_record_binding(tmp_path):
    _seed(tmp_path)

    for credential in Credential.objects.select_related("client"):
        for field in ("secret", "notes", "totp_seed"):
            sealed = getattr(credential, field)
            if sealed is None:
                continue
            field_decrypt(
                client=credential.client,
                record_type=CREDENTIAL_RECORD_TYPE,
                record_id=str(credential.pk),
                field=field,
                sealed=sealed,
            )
    versions = CredentialSecretVersion.objects.select_related("client")
    assert versions.exists()
    for version in versions:
        old = field_decrypt(
            client=version.client,
            record_type=CREDENTIAL_VERSION_RECORD_TYPE,
            record_id=str(version.pk),
            field="secret",
            sealed=version.secret,
        )
        assert old


@pytest.mark.postgresql
@seeded_database
def test_technician_sees_exactly_their_clients_and_the_manager_every_one(tmp_path):
    _seed(tmp_path)
    technician = User.objects.get(email=BENCH_TECHNICIAN_EMAIL)
    manager = User.objects.get(email=BENCH_MANAGER_EMAIL)

    visible = set(credential_list_for_user(actor=technician).values_list("client_id", flat=True))

    assert visible == _active_clients(technician)
    assert len(visible) == 3
    # The technician's history: clients it no longer sees.
    assert Assignment.objects.filter(user=technician, revoked_at__isnull=False).exists()
    every = set(credential_list_for_user(actor=manager).values_list("client_id", flat=True))
    assert every == set(Client.objects.values_list("pk", flat=True))
    common = credential_list_for_user(actor=manager, search=SEARCH_COMMON_TERM).count()
    rare = credential_list_for_user(actor=manager, search=SEARCH_RARE_TERM).count()
    assert 0 < rare < common
    assert credential_list_for_user(actor=technician, search=SEARCH_RARE_TERM).exists()


@pytest.mark.postgresql
@seeded_database
def test_rotation_tasks_and_due_dates_agree_with_the_rotation_app(tmp_path):
    _, manifest = _seed(tmp_path)
    open_tasks = RotationTask.objects.filter(status=RotationTask.Status.OPEN)
    due_dates = dict(Credential.objects.values_list("pk", "next_rotation_due"))

    assert open_tasks.exists()
    assert RotationTask.objects.filter(
        status=RotationTask.Status.DONE, replaced_version__isnull=False
    ).exists()
    assert open_tasks.filter(reasons__reason=RotationReason.SCHEDULE).exists()
    # The stored due dates are the ones the rotation app derives from the policies.
    assert rotation_next_due_fill_missing(actor=None) == 0
    for client in Client.objects.all():
        rotation_next_due_recompute(actor=None, client=client)
    assert dict(Credential.objects.values_list("pk", "next_rotation_due")) == due_dates
    # The next scan opens only the due credentials the seed left without a task.
    assert rotation_due_scan() == manifest["due_without_open_task"]
    assert rotation_due_scan() == 0


@pytest.mark.postgresql
@seeded_database
def test_seed_refuses_a_database_that_already_holds_data(tmp_path):
    _seed(tmp_path)

    with pytest.raises(CommandError, match="already holds data"):
        _seed(tmp_path)
    assert Client.objects.count() == 6


@pytest.mark.postgresql
@seeded_database
def test_last_opened_at_agrees_with_the_seeded_openings(tmp_path):
    _seed(tmp_path)
    in_the_log = dict(
        AuditEvent.objects.filter(
            action__in=CREDENTIAL_ACCESS_ACTIONS,
            outcome="success",
            target_type=CREDENTIAL_RECORD_TYPE,
        )
        .values_list("target_id")
        .annotate(last=Max("occurred_at"))
        .order_by()
    )
    columns = {
        str(pk): at
        for pk, at in Credential.objects.filter(last_opened_at__isnull=False).values_list(
            "pk", "last_opened_at"
        )
    }
    assert in_the_log
    assert columns == in_the_log
