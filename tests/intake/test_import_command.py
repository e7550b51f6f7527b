"""`manage.py import_credentials`: the same services from a shell; the dry run changes nothing."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from intake.models import ImportBatch, ImportRow
from rotation.models import RotationTask
from tests.intake.test_imports import THREE, good_rows, itglue
from vault.models import ClientDataKey, Credential

FIXTURES = Path(__file__).parent / "fixtures"


def run(*args: str) -> str:
    out = StringIO()
    call_command("import_credentials", *args, stdout=out)
    return out.getvalue()


def state() -> tuple:
    return (
        ImportBatch.objects.count(),
        ImportRow.objects.count(),
        Credential.objects.count(),
        RotationTask.objects.count(),
        AuditEvent.objects.count(),
        list(ClientDataKey.objects.values_list("client_id", "version", "encryptions")),
    )


@pytest.fixture
def export(tmp_path):
    def write(data: bytes, name: str = "passwords.csv") -> str:
        path = tmp_path / name
        path.write_bytes(data)
        return str(path)

    return write


@pytest.mark.django_db
def test_the_dry_run_prints_the_preview_and_changes_nothing(alice, client_a, export):
    path = export(itglue(*good_rows(2), "9,Contoso Dental,Broken,,,,x,,,No,,"))
    before = state()

    output = run(client_a.slug, path, "--dry-run", "--exclude-invalid", "--actor", alice.email)

    assert "File: passwords.csv (IT Glue passwords.csv)" in output
    assert "Rows: 3; with errors: 1; duplicates: 0." in output
    assert "Row 4: There is no password." in output
    assert "Dry run: nothing was imported or stored." in output
    assert "Canary-pw" not in output
    assert state() == before


@pytest.mark.django_db
def test_the_dry_run_fails_on_row_errors_without_exclude_invalid(alice, client_a, export):
    path = export(itglue(*good_rows(1), "9,Contoso Dental,Broken,,,,x,,,No,,"))
    before = state()

    with pytest.raises(CommandError, match="1 row with errors"):
        run(client_a.slug, path, "--dry-run", "--actor", alice.email)

    assert state() == before


@pytest.mark.django_db
def test_an_import_confirms_and_prints_the_counts(alice, client_a, export):
    output = run(client_a.slug, export(THREE), "--actor", alice.email)

    assert "Imported 3 credentials into Contoso Dental as inherited and compromised" in output
    credentials = Credential.objects.filter(client=client_a)
    assert credentials.count() == 3
    assert set(credentials.values_list("status", flat=True)) == {"compromised"}
    assert RotationTask.objects.filter(client=client_a).count() == 3
    assert ImportBatch.objects.get().status == ImportBatch.Status.IMPORTED


@pytest.mark.django_db
def test_row_errors_stop_the_import_unless_exclude_invalid(alice, client_a, export):
    path = export(itglue(*good_rows(2), "9,Contoso Dental,Broken,,,,x,,,No,,"))

    with pytest.raises(CommandError, match="Nothing was imported: 1 row with errors"):
        run(client_a.slug, path, "--actor", alice.email)
    assert not Credential.objects.exists()
    assert ImportBatch.objects.get().status == ImportBatch.Status.CANCELLED
    assert not ImportRow.objects.exists()

    output = run(client_a.slug, path, "--exclude-invalid", "--actor", alice.email)
    assert "Imported 2 credentials" in output
    assert "1 row excluded" in output
    assert Credential.objects.filter(client=client_a).count() == 2


@pytest.mark.django_db
def test_a_generic_csv_is_imported_with_a_mapping(alice, client_a, export):
    path = export(b"Title,Login,Pass\r\nRouter,admin,Canary-r\r\n", name="other.csv")

    output = run(
        client_a.slug,
        path,
        "--format",
        "generic_csv",
        "--mapping",
        "name=Title,username=Login,secret=Pass",
        "--actor",
        alice.email,
    )

    assert "Imported 1 credential into" in output
    assert Credential.objects.get(client=client_a).username == "admin"


@pytest.mark.django_db
def test_a_passportal_export_without_its_header(alice, client_a):
    path = str(FIXTURES / "passportal_no_header.csv")

    output = run(
        client_a.slug, path, "--format", "passportal", "--no-header", "--actor", alice.email
    )

    assert "Organizations named: Contoso Dental, Fabrikam Logistics." in output
    assert Credential.objects.filter(client=client_a).count() == 3


@pytest.mark.django_db
def test_file_level_and_access_errors_exit_non_zero(alice, bob, charlie, client_a, export):
    image = export(b"\x89PNG\r\n\x1a\nnot an export", name="logo.png")
    good = export(THREE)

    with pytest.raises(CommandError, match="This is an image"):
        run(client_a.slug, image, "--actor", alice.email)
    with pytest.raises(CommandError, match="this needs manage access"):
        run(client_a.slug, good, "--actor", bob.email)
    with pytest.raises(CommandError, match="does not exist"):
        run(client_a.slug, good, "--actor", charlie.email)
    with pytest.raises(CommandError, match="No active staff member"):
        run(client_a.slug, good, "--actor", "nobody@msp.example")
    with pytest.raises(CommandError, match="There is no file"):
        run(client_a.slug, good + ".missing", "--actor", alice.email)
    assert not ImportBatch.objects.exists()
    assert not Credential.objects.exists()
