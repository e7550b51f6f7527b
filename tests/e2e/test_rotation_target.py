"""Automated rotation in the browser, against a private PostgreSQL server.

Manager: sign in → the credential → Set up automated rotation → PostgreSQL target with the
privileged credential → Save → Test connection (connected) → back to the credential →
Request rotation → the task opens, rotates by itself and is done with a new version; the
new password logs in on the server and the old one does not.
"""

import pytest
from playwright.sync_api import Page, expect

from audit.models import AuditEvent
from rotation.models import RotationAttempt, RotationTarget, RotationTask
from tests.e2e.test_monthly_review import sign_in_through_the_login_page
from tests.rotation.test_automation import (
    ADMIN,
    ADMIN_SECRET,
    ROLE,
    ROLE_OLD,
    PrivatePostgres,
    _bindir,
    logs_in,
)
from tests.vault.test_credentials import make_credential, opened
from vault.models import CredentialSecretVersion

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server():
    if _bindir() is None:
        pytest.fail(
            "initdb and pg_ctl (PostgreSQL server) are missing; scripts/test.sh installs them."
        )
    cluster = PrivatePostgres()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_manager_sets_up_a_postgresql_target_tests_it_and_a_rotation_runs_by_itself(
    live_server, browser, page: Page, page_problems, artifacts_dir, server, alice, client_a
):
    base = live_server.url
    server.reset_role()
    credential = make_credential(
        client=client_a,
        actor=alice,
        name="App DB owner",
        credential_type="service_account",
        username=ROLE,
        secret=ROLE_OLD,
    )
    make_credential(
        client=client_a,
        actor=alice,
        name="DB admin",
        credential_type="service_account",
        username=ADMIN,
        secret=ADMIN_SECRET,
    )

    sign_in_through_the_login_page(page, base, alice)
    page.goto(f"{base}/clients/{client_a.slug}/credentials/{credential.pk}/")
    section = page.get_by_test_id("automated-rotation")
    expect(section).to_contain_text("Not set up")
    section.get_by_role("link", name="Set up automated rotation").click()

    expect(page.get_by_role("heading", name="Automated rotation of App DB owner")).to_be_visible()
    page.get_by_label("Kind of system").select_option("postgresql")
    page.get_by_label("Host name or IP address").fill("127.0.0.1")
    page.get_by_label("Port").fill(str(server.port))
    page.get_by_label("Database (PostgreSQL)").fill("postgres")
    page.get_by_label("Privileged credential").select_option(label=f"DB admin ({ADMIN})")
    expect(page.get_by_label("Rotate by itself as soon as a rotation task opens")).to_be_checked()
    page.screenshot(path=artifacts_dir / "rotation-target-01-form.png", full_page=True)
    page.get_by_role("button", name="Save target").click()
    expect(page.get_by_text("Automated rotation of App DB owner was saved")).to_be_visible()
    expect(page.get_by_test_id("last-check")).to_contain_text("Not tested yet")

    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text("changed nothing")).to_be_visible()
    expect(page.get_by_test_id("last-check")).to_contain_text("Connected")
    page.screenshot(path=artifacts_dir / "rotation-target-02-tested.png", full_page=True)
    target = RotationTarget.objects.get(credential=credential)
    assert target.port == server.port
    assert target.last_check_error == ""

    page.get_by_role("link", name="App DB owner").click()
    expect(page.get_by_test_id("automated-rotation")).to_contain_text("Connected")
    expect(page.get_by_test_id("automated-rotation")).to_contain_text(f"127.0.0.1:{server.port}")
    page.get_by_role("link", name="Request rotation").click()
    page.get_by_label("Reason").select_option("manual")
    page.get_by_role("button", name="Request rotation").click()

    expect(page.get_by_role("heading", name="Rotate App DB owner")).to_be_visible()
    expect(page.locator("[data-task-outcome]")).to_contain_text("Rotated by automated rotation")
    attempts = page.get_by_test_id("task-attempts")
    expect(attempts).to_contain_text("Promoted to current")
    page.screenshot(path=artifacts_dir / "rotation-target-03-done.png", full_page=True)

    task = RotationTask.objects.get(credential=credential)
    assert task.status == RotationTask.Status.DONE
    assert task.replaced_version == CredentialSecretVersion.objects.get(credential=credential)
    new = opened(credential, "secret")
    assert new != ROLE_OLD
    assert logs_in(server, new)
    assert not logs_in(server, ROLE_OLD)
    assert RotationAttempt.objects.get(task=task).status == RotationAttempt.Status.PROMOTED
    for value in (new, ROLE_OLD, ADMIN_SECRET):
        assert value not in page.content()
    assert (
        AuditEvent.objects.filter(action="rotation.target_checked", outcome="success").count() == 1
    )
    assert AuditEvent.objects.filter(action="rotation.automated_attempted").count() == 1
    page_problems.assert_none()
