"""Import pages: upload (memory only, size cap), mapping, preview (paged, constant queries,
inert markup), exclusions, confirm, cancel; tenancy."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape

from audit.models import AuditEvent
from intake.models import ImportBatch, ImportRow
from intake.services import imports as import_services
from rotation.models import RotationTask
from tests.conftest import sign_in
from tests.intake.test_imports import THREE, good_rows, itglue
from vault.models import Credential

XSS_NAME = '<script>alert("kh-xss")</script>'
XSS_USER = '"><img src=x onerror=alert("kh-xss")>'
FORMULA = "=cmd|' /C calc'!A0"


def new_url(client) -> str:
    return f"/clients/{client.slug}/imports/new/"


def preview_url(batch) -> str:
    return f"/clients/{batch.client.slug}/imports/{batch.pk}/"


def upload(browser, client, data: bytes, name: str = "passwords.csv", **fields):
    return browser.post(
        new_url(client), {"file": SimpleUploadedFile(name, data, "text/csv"), **fields}
    )


def csv_bytes(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


@pytest.mark.django_db
def test_an_upload_becomes_a_preview_and_shows_in_the_history(client, alice, client_a):
    sign_in(client, alice)
    page = client.get(new_url(client_a))
    assert page.status_code == 200
    assert 'for="id_file">Export file</label>' in page.content.decode()

    response = upload(client, client_a, THREE)

    batch = ImportBatch.objects.get(client=client_a)
    assert response.status_code == 302
    assert response["Location"] == preview_url(batch)
    content = client.get(preview_url(batch)).content.decode()
    assert "DC01 domain admin" in content
    assert "High privilege" in content
    assert "Exclude row 2" in content
    history = client.get(f"/clients/{client_a.slug}/imports/").content.decode()
    assert "passwords.csv" in history
    assert "Waiting for confirmation" in history
    assert not Credential.objects.filter(client=client_a).exists()


@pytest.mark.django_db
def test_a_generic_csv_asks_for_its_columns_and_the_file_again(client, alice, client_a):
    data = csv_bytes([["Title", "Login", "Pass"], ["Router", "admin", "Canary-r"]])
    sign_in(client, alice)

    mapping_page = upload(client, client_a, data, name="export.csv")

    assert mapping_page.status_code == 200
    content = mapping_page.content.decode()
    assert "Which column holds what?" in content
    assert ">Password column</label>" in content
    assert '<option value="Pass" selected>Pass</option>' in content
    assert "Choose the same file again" in content
    assert not ImportBatch.objects.exists()

    fields = {"map_name": "Title", "map_username": "Login", "map_secret": "Pass"}
    other = csv_bytes([["A", "B"], ["x", "y"]])
    wrong = client.post(
        new_url(client_a) + "?step=mapping",
        {**fields, "file": SimpleUploadedFile("other.csv", other, "text/csv")},
    )
    assert wrong.status_code == 200
    assert "Select a valid choice" in wrong.content.decode()
    assert not ImportBatch.objects.exists()

    done = client.post(
        new_url(client_a) + "?step=mapping",
        {**fields, "file": SimpleUploadedFile("export.csv", data, "text/csv")},
    )
    batch = ImportBatch.objects.get()
    assert done["Location"] == preview_url(batch)
    assert batch.format == "generic_csv"
    assert batch.mapping["columns"] == {"name": "Title", "username": "Login", "secret": "Pass"}


@pytest.mark.django_db
def test_a_file_keyhold_cannot_read_is_refused_beside_the_field(client, alice, client_a):
    sign_in(client, alice)

    response = upload(client, client_a, b"\x89PNG\r\n\x1a\nnot an export", name="logo.png")

    assert response.status_code == 200
    assert "This is an image, not a password export." in response.content.decode()
    assert not ImportBatch.objects.exists()


@pytest.mark.django_db
def test_an_upload_above_the_cap_is_refused_clearly(client, alice, client_a, settings):
    settings.INTAKE_IMPORT_MAX_BYTES = 10_000
    sign_in(client, alice)

    response = upload(client, client_a, itglue(*good_rows(200)))

    assert response.status_code == 413
    content = response.content.decode()
    assert "The file is larger than" in content
    assert "the most Keyhold accepts for one import" in content
    assert not ImportBatch.objects.exists()


@pytest.mark.django_db
def test_a_large_upload_stays_in_memory_and_no_temporary_file_is_written(
    client, alice, client_a, settings, tmp_path
):
    temp_dir = tmp_path / "uploads"
    temp_dir.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(temp_dir)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
    notes = "n" * 10_000
    rows = [f'{n},Contoso Dental,Host {n},,,,u{n},Canary-{n},,No,,"{notes}"' for n in range(300)]
    data = itglue(*rows)
    assert len(data) > settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    sign_in(client, alice)

    response = upload(client, client_a, data)

    assert response.status_code == 302
    assert ImportBatch.objects.get().row_count == 300
    assert list(temp_dir.iterdir()) == []


@pytest.mark.django_db
def test_the_preview_page_takes_the_same_queries_for_any_number_of_rows(client, alice, client_a):
    small = import_services.import_preview_create(
        actor=alice, client=client_a, upload=io.BytesIO(itglue(*good_rows(3))), filename="a.csv"
    )
    large = import_services.import_preview_create(
        actor=alice,
        client=client_a,
        upload=io.BytesIO(itglue(*good_rows(250), "999,Contoso Dental,Broken,,,,x,,,No,,")),
        filename="b.csv",
    )
    sign_in(client, alice)
    client.get(preview_url(small))

    counts = []
    for url in (preview_url(small), preview_url(large), preview_url(large) + "?page=2"):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] == counts[2]
    page_two = response.content.decode()
    assert "Page 2 of 3" in page_two
    assert page_two.count('name="exclude_') == 100
    errors_only = client.get(preview_url(large) + "?errors=1").content.decode()
    assert errors_only.count('name="exclude_') == 1
    assert "Broken" in errors_only


@pytest.mark.django_db
def test_bad_rows_are_excluded_from_the_page_then_the_import_is_confirmed(client, alice, client_a):
    data = itglue(*good_rows(2), "7,Contoso Dental,Broken one,,,,x,,,No,,")
    sign_in(client, alice)
    upload(client, client_a, data)
    batch = ImportBatch.objects.get()
    bad = ImportRow.objects.get(batch=batch, row_number=4)
    confirm_url = preview_url(batch) + "confirm/"

    refused = client.post(confirm_url, follow=True)

    assert "1 row has errors and is not excluded (row 4)" in refused.content.decode()
    assert not Credential.objects.exists()

    client.post(preview_url(batch) + "exclusions/", {"page": "1", f"exclude_{bad.pk}": "on"})
    bad.refresh_from_db()
    assert bad.excluded
    done = client.post(confirm_url, follow=True)
    assert "2 credentials were imported" in done.content.decode()
    assert Credential.objects.filter(client=client_a).count() == 2
    assert RotationTask.objects.filter(client=client_a).count() == 2
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.IMPORTED
    assert AuditEvent.objects.filter(action="intake.import_confirmed").count() == 1


@pytest.mark.django_db
def test_exclude_all_rows_with_errors_in_one_go(client, alice, client_a):
    data = itglue(*good_rows(1), "7,Contoso Dental,Broken,,,,x,,,No,,", "8,C,B2,,,,y,,,No,,")
    sign_in(client, alice)
    upload(client, client_a, data)
    batch = ImportBatch.objects.get()

    response = client.post(preview_url(batch) + "exclude-invalid/", follow=True)

    assert "2 rows with errors are excluded" in response.content.decode()
    assert ImportRow.objects.filter(batch=batch, excluded=True).count() == 2
    assert AuditEvent.objects.filter(action="intake.import_rows_excluded").count() == 1


@pytest.mark.django_db
def test_cancel_deletes_the_rows_and_returns_to_the_history(client, alice, client_a):
    sign_in(client, alice)
    upload(client, client_a, THREE)
    batch = ImportBatch.objects.get()

    response = client.post(preview_url(batch) + "cancel/")

    assert response["Location"] == f"/clients/{client_a.slug}/imports/"
    assert not ImportRow.objects.exists()
    assert ImportBatch.objects.get().status == ImportBatch.Status.CANCELLED
    assert "its rows were deleted" in client.get(preview_url(batch)).content.decode()


@pytest.mark.django_db
def test_import_pages_of_another_client_are_404_and_use_level_is_refused(
    client, alice, bob, charlie, admin_user, client_a, client_b
):
    batch_b = import_services.import_preview_create(
        actor=admin_user, client=client_b, upload=io.BytesIO(THREE), filename="b.csv"
    )
    batch_a = import_services.import_preview_create(
        actor=alice, client=client_a, upload=io.BytesIO(THREE), filename="a.csv"
    )
    sign_in(client, alice)
    assert client.get(f"/clients/{client_a.slug}/imports/{batch_b.pk}/").status_code == 404
    assert client.post(f"/clients/{client_a.slug}/imports/{batch_b.pk}/cancel/").status_code == 404
    assert client.get(f"/clients/{client_b.slug}/imports/").status_code == 404

    sign_in(client, charlie)
    for path in ("", "new/", f"{batch_a.pk}/"):
        assert client.get(f"/clients/{client_a.slug}/imports/{path}").status_code == 404
    assert client.post(f"/clients/{client_a.slug}/imports/{batch_a.pk}/confirm/").status_code == 404

    sign_in(client, bob)
    assert client.get(f"/clients/{client_a.slug}/imports/").status_code == 403
    assert upload(client, client_a, THREE).status_code == 403
    assert client.post(f"/clients/{client_a.slug}/imports/{batch_a.pk}/confirm/").status_code == 403
    assert ImportBatch.objects.count() == 2
    assert not Credential.objects.exists()


@pytest.mark.django_db
def test_markup_and_formulas_from_an_export_render_as_text_everywhere(client, alice, client_a):
    data = csv_bytes(
        [
            ["Title", "Login", "Pass", "Address", "Path"],
            [XSS_NAME, XSS_USER, "Canary-x", "", FORMULA],
            [FORMULA, "@SUM(1+1)", "Canary-y", "javascript:alert(1)", XSS_NAME],
        ]
    )
    sign_in(client, alice)
    upload(client, client_a, data, name=f"{XSS_NAME}.csv")
    client.post(
        new_url(client_a) + "?step=mapping",
        {
            "map_name": "Title",
            "map_username": "Login",
            "map_secret": "Pass",
            "map_url": "Address",
            "map_folder": "Path",
            "file": SimpleUploadedFile("export.csv", data, "text/csv"),
        },
    )
    batch = ImportBatch.objects.get()

    preview = client.get(preview_url(batch)).content.decode()
    for payload in (XSS_NAME, XSS_USER):
        assert payload not in preview
        assert escape(payload) in preview
    assert "javascript:alert(1)</td>" in preview
    assert 'href="javascript' not in preview
    assert "starts like a spreadsheet formula" in preview
    history = client.get(f"/clients/{client_a.slug}/imports/").content.decode()
    assert XSS_NAME not in history

    client.post(preview_url(batch) + "exclude-invalid/")
    client.post(preview_url(batch) + "confirm/")
    credential = Credential.objects.get(client=client_a)
    detail = client.get(f"/clients/{client_a.slug}/credentials/{credential.pk}/").content.decode()
    listing = client.get(f"/clients/{client_a.slug}/credentials/").content.decode()
    for page in (detail, listing):
        assert XSS_NAME not in page
        assert XSS_USER not in page
        assert escape(XSS_NAME) in page
