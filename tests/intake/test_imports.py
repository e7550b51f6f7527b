"""Import services: sealed previews, row errors and duplicates, exclusions, chunked and
resumable confirm into inherited, compromised credentials with rotation tasks, cancel."""

import io
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from accounts.models import Role
from audit.models import AuditEvent
from config.errors import AccessDenied, InvalidRequest, NotFound
from intake.importers import ImportFormatError
from intake.models import IMPORT_ROW_RECORD_TYPE, ImportBatch, ImportRow, TakeoverStep
from intake.selectors.imports import import_row_page
from intake.services import imports as import_services
from rotation.models import RotationPolicy, RotationReason, RotationTask
from tenants.models import AccessLevel
from tenants.services import assignment_grant
from tests.factories import UserFactory
from tests.vault.test_credentials import make_credential, opened
from vault.envelope import field_decrypt
from vault.models import Credential, CredentialType, PrivilegeTier

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ITGLUE_HEADER = (
    "id,organization,name,password_category,resource_type,resource_id,username,password,"
    "otp_secret,archived,url,notes\r\n"
)
SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def itglue(*rows: str) -> bytes:
    return (ITGLUE_HEADER + "".join(f"{row}\r\n" for row in rows)).encode()


def good_rows(count: int) -> list[str]:
    return [
        f"{n},Contoso Dental,Workstation {n},,,,user{n},Canary-pw-{n},,No,ws{n}.contoso.local,"
        for n in range(1, count + 1)
    ]


THREE = itglue(
    "1,Contoso Dental,DC01 domain admin,Domain Admin,,,CONTOSO\\admin,Canary-Dom-1,"
    f'{SEED},No,dc01.contoso.local,"Two lines\r\nof notes"',
    "2,Contoso Dental,Backup service,Service Account,,,svc-backup,Canary-Svc-2,,No,"
    "https://backup.contoso.example/,",
    "3,Contoso Dental,Reception PC,,,,reception,Canary-Std-3,,No,,",
)


@pytest.fixture
def onboarder(client_a):
    user = UserFactory(
        email="olivia@msp.example", full_name="Olivia Onboarding", roles=[Role.ONBOARDING]
    )
    assignment_grant(actor=None, client=client_a, user=user, level=AccessLevel.MANAGE)
    return user


def preview(actor, client, data: bytes, **options) -> ImportBatch:
    return import_services.import_preview_create(
        actor=actor,
        client=client,
        upload=io.BytesIO(data),
        filename=options.pop("filename", "passwords.csv"),
        **options,
    )


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


@pytest.mark.django_db
def test_preview_seals_every_row_and_creates_no_credential(onboarder, client_a):
    batch = preview(onboarder, client_a, THREE)

    assert (batch.format, batch.row_count, batch.error_count, batch.duplicate_count) == (
        "itglue",
        3,
        0,
        0,
    )
    assert not Credential.objects.filter(client=client_a).exists()
    rows = {row.row_number: row for row in ImportRow.objects.filter(batch=batch)}
    assert sorted(rows) == [2, 3, 4]
    first = rows[2]
    assert (first.name, first.username, first.url) == (
        "DC01 domain admin",
        "CONTOSO\\admin",
        "dc01.contoso.local",
    )
    assert first.credential_type == CredentialType.DOMAIN_ADMIN
    assert rows[4].credential_type == CredentialType.OTHER
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret, notes, totp_seed FROM intake_importrow")
        raw = b"".join(bytes(value) for row in cursor.fetchall() for value in row if value)
    for plaintext in (
        b"Canary-Dom-1",
        b"Canary-Svc-2",
        b"Canary-Std-3",
        b"Two lines",
        SEED.encode(),
    ):
        assert plaintext not in raw
    assert rows[3].totp_seed is None
    assert rows[4].notes is None

    def open_field(row, field):
        return field_decrypt(
            client=client_a,
            record_type=IMPORT_ROW_RECORD_TYPE,
            record_id=str(row.id),
            field=field,
            sealed=getattr(row, field),
        ).decode()

    assert open_field(first, "secret") == "Canary-Dom-1"
    assert open_field(first, "notes") == "Two lines\nof notes"
    assert open_field(first, "totp_seed") == SEED
    [event] = events("intake.import_previewed")
    assert event.actor_user_id == onboarder.pk
    assert event.client_id == client_a.pk
    assert event.target_id == str(batch.pk)
    assert event.details == {
        "format": "itglue",
        "filename": "passwords.csv",
        "rows": 3,
        "errors": 0,
        "duplicates": 0,
        "organizations": 1,
    }
    assert "Canary" not in str(event.details) + event.target_label


@pytest.mark.django_db
def test_preview_keeps_parser_and_vault_errors_and_only_warns_on_formulas(alice, client_a):
    data = itglue(
        "1,Contoso Dental,No password here,,,,someone,,,No,,",
        "2,Contoso Dental,Bad link,,,,someone,Canary-x,,No,javascript:alert(1),",
        '3,Contoso Dental,=HYPERLINK("http://evil.example"),,,,@admin,Canary-y,,No,,',
    )
    batch = preview(alice, client_a, data)

    rows = {row.row_number: row for row in ImportRow.objects.filter(batch=batch)}
    assert rows[2].errors == ["There is no password."]
    assert len(rows[3].errors) == 1
    assert rows[3].errors[0].startswith("The URL is refused")
    assert rows[4].errors == []
    [shown] = [
        row
        for row in import_row_page(actor=alice, batch=batch, page=1).object_list
        if row.row_number == 4
    ]
    assert len(shown.warnings) == 2
    assert shown.warnings[0].startswith("The name starts like a spreadsheet formula")
    assert batch.error_count == 2


@pytest.mark.django_db
def test_duplicates_in_the_file_and_in_the_vault_are_reported(alice, client_a):
    make_credential(
        client=client_a, actor=alice, name="Firewall", username="admin", host="fw.contoso.local"
    )
    data = itglue(
        "1,Contoso Dental,Router,,,,admin,Canary-a,,No,router.contoso.local,",
        "2,Contoso Dental,ROUTER,,,,Admin,Canary-b,,No,router.contoso.local,",
        "3,Contoso Dental,Firewall,,,,admin,Canary-c,,No,fw.contoso.local,",
    )
    batch = preview(alice, client_a, data)

    rows = {row.row_number: row for row in ImportRow.objects.filter(batch=batch)}
    assert rows[2].duplicate_of is None
    assert rows[2].errors == []
    assert rows[3].duplicate_of == 2
    assert rows[3].errors == ["Same name, username and URL as row 2."]
    assert rows[4].errors == [
        "A credential with the same name, username and URL is already in this client's vault."
    ]
    assert (batch.duplicate_count, batch.error_count) == (2, 2)


@pytest.mark.django_db
def test_a_bad_row_blocks_confirm_until_it_is_excluded(alice, client_a):
    data = itglue(*good_rows(2), "9,Contoso Dental,Broken,,,,x,,,No,,")
    batch = preview(alice, client_a, data)

    with pytest.raises(InvalidRequest) as refused:
        import_services.import_confirm(actor=alice, batch=batch)
    assert "1 row has errors and is not excluded (row 4)" in refused.value.message
    assert not Credential.objects.filter(client=client_a).exists()
    assert events("intake.import_confirmed") == []

    assert import_services.import_rows_exclude_invalid(actor=alice, batch=batch) == 1
    [excluded] = events("intake.import_rows_excluded")
    assert excluded.details == {"all_with_errors": True, "excluded": 1}
    result = import_services.import_confirm(actor=alice, batch=batch)
    assert (result.imported, result.excluded, result.remaining, result.finished) == (2, 1, 0, True)
    assert Credential.objects.filter(client=client_a).count() == 2
    # Once imported, no preview row keeps a sealed value, imported or excluded.
    assert ImportRow.objects.filter(batch=batch).count() == 3
    assert not ImportRow.objects.filter(batch=batch).exclude(secret=None).exists()
    assert not ImportRow.objects.filter(batch=batch).exclude(notes=None).exists()


@pytest.mark.django_db
def test_the_refusal_names_how_many_rows_and_which(alice, client_a):
    bad = [f"{n},Contoso Dental,Broken {n},,,,x{n},,,No,," for n in range(30)]
    batch = preview(alice, client_a, itglue(*bad))

    with pytest.raises(InvalidRequest) as refused:
        import_services.import_confirm(actor=alice, batch=batch)
    message = refused.value.message
    assert "30 rows have errors and are not excluded" in message
    assert "(row 2, 3, 4," in message
    assert "21 and 10 more)" in message


@pytest.mark.django_db
def test_rows_are_excluded_and_included_again_one_by_one(alice, client_a):
    batch = preview(alice, client_a, itglue(*good_rows(3)))
    rows = list(ImportRow.objects.filter(batch=batch).order_by("row_number"))

    changed = import_services.import_rows_exclusion_set(
        actor=alice, batch=batch, excluded={rows[0].pk, rows[1].pk}, included={rows[2].pk}
    )
    assert changed == 2
    changed = import_services.import_rows_exclusion_set(
        actor=alice, batch=batch, excluded=set(), included={rows[1].pk}
    )
    assert changed == 1
    assert list(
        ImportRow.objects.filter(batch=batch)
        .order_by("row_number")
        .values_list("excluded", flat=True)
    ) == [True, False, False]
    assert [e.details for e in events("intake.import_rows_excluded")] == [
        {"excluded_rows": [2, 3], "included_rows": []},
        {"excluded_rows": [], "included_rows": [3]},
    ]
    result = import_services.import_confirm(actor=alice, batch=batch)
    assert (result.imported, result.excluded) == (2, 1)


@pytest.mark.django_db
def test_confirm_creates_inherited_compromised_credentials_with_the_rows_fields(alice, client_a):
    generic = (
        "Title,Login,Pass,Address,Memo,Code,Path\r\n"
        f"Payroll portal,pay@contoso.example,Canary-Pay,https://pay.example/,Call HR,{SEED},"
        "Finance/Portals\r\n"
    ).encode()
    mapping = {
        "name": "Title",
        "username": "Login",
        "secret": "Pass",
        "url": "Address",
        "notes": "Memo",
        "totp": "Code",
        "folder": "Path",
    }
    batch = preview(alice, client_a, generic, format="generic_csv", mapping=mapping)
    assert batch.mapping["columns"] == mapping

    import_services.import_confirm(actor=alice, batch=batch)

    credential = Credential.objects.get(client=client_a)
    assert (credential.name, credential.username, credential.host) == (
        "Payroll portal",
        "pay@contoso.example",
        "https://pay.example/",
    )
    assert credential.source == Credential.Source.INHERITED
    assert credential.status == Credential.Status.COMPROMISED
    assert credential.credential_type == CredentialType.OTHER
    assert credential.last_rotated_at is None
    assert opened(credential, "secret") == "Canary-Pay"
    assert (
        opened(credential, "notes") == "Folder at the previous provider: Finance/Portals\n\nCall HR"
    )
    assert opened(credential, "totp_seed") == SEED
    row = ImportRow.objects.get(batch=batch)
    assert row.credential_id == credential.pk
    batch.refresh_from_db()
    assert (batch.status, batch.imported_count, batch.finished_by_id) == (
        ImportBatch.Status.IMPORTED,
        1,
        alice.pk,
    )
    assert set(TakeoverStep.objects.filter(client=client_a).values_list("key", flat=True)) == set(
        TakeoverStep.Key.values
    )


@pytest.mark.django_db
def test_imported_admins_are_due_within_48_hours_and_the_others_per_policy(alice, client_a):
    RotationPolicy.objects.create(client=client_a, service_days=30, high_privilege_days=60)
    with time_machine.travel(NOW, tick=False):
        batch = preview(alice, client_a, THREE)
        import_services.import_confirm(actor=alice, batch=batch)

    tasks = {
        task.credential.name: task
        for task in RotationTask.objects.filter(client=client_a).select_related("credential")
    }
    assert len(tasks) == 3
    admin = tasks["DC01 domain admin"]
    assert admin.credential.privilege_tier == PrivilegeTier.HIGH
    assert admin.due_at == NOW + timedelta(hours=48)
    assert tasks["Backup service"].due_at == NOW + timedelta(days=30)
    # Standard credentials have no schedule here: the high-privilege interval applies.
    assert tasks["Reception PC"].due_at == NOW + timedelta(days=60)
    for task in tasks.values():
        assert task.status == RotationTask.Status.OPEN
        assert list(task.reasons.values_list("reason", flat=True)) == [RotationReason.INHERITED]


@pytest.mark.django_db
def test_confirm_records_one_event_per_chunk_and_one_for_the_import(alice, client_a, monkeypatch):
    monkeypatch.setattr(import_services, "CHUNK", 2)
    batch = preview(alice, client_a, itglue(*good_rows(5)))

    import_services.import_confirm(actor=alice, batch=batch)

    imported = events("credential.imported")
    assert [event.details["count"] for event in imported] == [2, 2, 1]
    ids = [item for event in imported for item in event.details["vault_item_ids"]]
    assert sorted(ids) == sorted(str(pk) for pk in Credential.objects.values_list("pk", flat=True))
    assert all(event.target_id == str(batch.pk) for event in imported)
    tasks = events("rotation.tasks_created")
    assert [event.details["count"] for event in tasks] == [2, 2, 1]
    assert sorted(t for event in tasks for t in event.details["task_ids"]) == sorted(
        str(pk) for pk in RotationTask.objects.values_list("pk", flat=True)
    )
    [confirmed] = events("intake.import_confirmed")
    assert confirmed.details == {"format": "itglue", "rows": 5, "imported": 5, "excluded": 0}
    assert events("credential.created") == []
    assert events("rotation.task_created") == []
    dump = str([(e.details, e.target_label, e.reason) for e in AuditEvent.objects.all()])
    assert "Canary-pw" not in dump


@pytest.mark.django_db
def test_an_interrupted_confirm_continues_and_imports_no_row_twice(alice, client_a, monkeypatch):
    monkeypatch.setattr(import_services, "CHUNK", 2)
    batch = preview(alice, client_a, itglue(*good_rows(5)))

    first = import_services.import_confirm(actor=alice, batch=batch, deadline=time.monotonic())

    assert (first.imported, first.remaining, first.finished) == (2, 3, False)
    batch.refresh_from_db()
    assert (batch.status, batch.imported_count) == (ImportBatch.Status.PREVIEW, 2)
    with pytest.raises(InvalidRequest, match="already in the vault"):
        import_services.import_cancel(actor=alice, batch=batch)
    second = import_services.import_confirm(actor=alice, batch=batch)
    assert (second.imported, second.remaining, second.finished) == (5, 0, True)
    assert Credential.objects.filter(client=client_a).count() == 5
    assert RotationTask.objects.filter(client=client_a).count() == 5
    assert ImportRow.objects.filter(batch=batch, credential__isnull=True).count() == 0
    with pytest.raises(InvalidRequest, match="already imported"):
        import_services.import_confirm(actor=alice, batch=batch)


@pytest.mark.django_db
def test_cancel_deletes_the_sealed_rows_and_keeps_the_batch(alice, client_a):
    batch = preview(alice, client_a, THREE)

    import_services.import_cancel(actor=alice, batch=batch)

    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.CANCELLED
    assert batch.row_count == 3
    assert not ImportRow.objects.filter(batch=batch).exists()
    [event] = events("intake.import_cancelled")
    assert event.details == {"rows_deleted": 3, "format": "itglue"}
    with pytest.raises(InvalidRequest, match="already cancelled"):
        import_services.import_confirm(actor=alice, batch=batch)
    assert not Credential.objects.filter(client=client_a).exists()


@pytest.mark.django_db
def test_a_file_level_error_deep_in_the_file_leaves_nothing(alice, client_a, monkeypatch):
    monkeypatch.setattr(import_services, "CHUNK", 2)
    data = itglue(*good_rows(5)) + b"6,Contoso Dental,Bad \xff byte,,,,u,p,,No,,\r\n"

    with pytest.raises(ImportFormatError):
        preview(alice, client_a, data)

    assert not ImportBatch.objects.exists()
    assert not ImportRow.objects.exists()
    assert events("intake.import_previewed") == []


@pytest.mark.django_db
def test_a_generic_csv_needs_a_mapping_of_columns_it_has(alice, client_a):
    generic = b"Title,Pass\r\nRouter,Canary-r\r\n"

    with pytest.raises(InvalidRequest, match="column that holds the password"):
        preview(alice, client_a, generic, format="generic_csv", mapping={"name": "Title"})
    with pytest.raises(InvalidRequest, match="no column called “Secret”"):
        preview(
            alice,
            client_a,
            generic,
            format="generic_csv",
            mapping={"name": "Title", "secret": "Secret"},
        )
    assert not ImportBatch.objects.exists()


@pytest.mark.django_db
def test_only_onboarding_staff_with_manage_access_may_import(
    alice, bob, charlie, onboarder, client_a
):
    technician = UserFactory(roles=[Role.TECHNICIAN])
    assignment_grant(actor=None, client=client_a, user=technician, level=AccessLevel.MANAGE)

    with pytest.raises(AccessDenied):
        preview(bob, client_a, THREE)
    with pytest.raises(NotFound):
        preview(charlie, client_a, THREE)
    with pytest.raises(AccessDenied, match="Only"):
        preview(technician, client_a, THREE)
    assert not ImportBatch.objects.exists()
    assert {e.outcome for e in events("intake.import_previewed")} == {"denied"}

    batch = preview(onboarder, client_a, THREE)
    for refused, error in ((bob, AccessDenied), (charlie, NotFound), (technician, AccessDenied)):
        with pytest.raises(error):
            import_services.import_confirm(actor=refused, batch=batch)
        with pytest.raises(error):
            import_services.import_cancel(actor=refused, batch=batch)
    assert not Credential.objects.exists()


@pytest.mark.django_db
def test_the_dry_run_leaves_no_batch_no_rows_and_no_event(alice, client_a):
    data = itglue(*good_rows(2), "9,Contoso Dental,Broken,,,,x,,,No,,")

    summary = import_services.import_preview_dry_run(
        actor=alice, client=client_a, upload=io.BytesIO(data), filename="passwords.csv"
    )

    assert (summary.row_count, summary.error_count) == (3, 1)
    assert summary.row_errors == [(4, ["There is no password."])]
    assert not ImportBatch.objects.exists()
    assert not ImportRow.objects.exists()
    assert AuditEvent.objects.filter(action__startswith="intake.").count() == 0


@pytest.mark.django_db
def test_the_preview_page_selector_filters_errors_and_hides_sealed_values(alice, client_a):
    batch = preview(
        alice, client_a, itglue(*good_rows(150), "999,Contoso Dental,Broken,,,,x,,,No,,")
    )

    first = import_row_page(actor=alice, batch=batch, page=1)
    assert len(first.object_list) == 100
    assert first.paginator.num_pages == 2
    assert first.object_list[0].has_secret
    assert not first.object_list[0].has_totp
    only_errors = import_row_page(actor=alice, batch=batch, page=1, errors_only=True)
    assert [row.row_number for row in only_errors.object_list] == [152]
