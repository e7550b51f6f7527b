"""Rotation in the browser.

Technician: sign in → Rotation (my tasks) → the task → tick Generate → complete; the
credential's current secret changes and the task is done (the generated secret never shows).
Manager: sign in → Overdue → the overdue tasks counted by client and by owner.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from audit.models import AuditEvent
from rotation.models import RotationTask
from rotation.services.tasks import rotation_task_request
from tests.e2e.test_monthly_review import sign_in_through_the_login_page
from tests.vault.test_credentials import SECRET, make_credential, opened
from vault.models import CredentialSecretVersion

pytestmark = pytest.mark.e2e


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_technician_completes_a_manual_rotation_with_a_generated_password(
    live_server, browser, page: Page, page_problems, artifacts_dir, alice, bob, client_a
):
    base = live_server.url
    client_a.primary_technician = bob
    client_a.save(update_fields=["primary_technician"])
    credential = make_credential(
        client=client_a, actor=alice, name="Reception PC user", credential_type="standard_user"
    )
    task = rotation_task_request(
        actor=alice, credential=credential, reason="manual", detail="Shared on a sticky note"
    )

    sign_in_through_the_login_page(page, base, bob)
    page.get_by_role("banner").get_by_role("link", name="Rotation").click()
    expect(page.get_by_role("heading", name="My rotation tasks")).to_be_visible()
    row = page.locator("[data-testid=my-rotation-tasks] tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Contoso Dental")
    page.screenshot(path=artifacts_dir / "rotation-01-my-tasks.png", full_page=True)

    row.get_by_role("link", name="Reception PC user").click()
    expect(page.get_by_role("heading", name="Rotate Reception PC user")).to_be_visible()
    expect(page.locator("[data-testid=task-reasons]")).to_contain_text("Shared on a sticky note")
    page.get_by_label("Generate a new secret").check()
    page.get_by_label("Password length").fill("28")
    page.screenshot(path=artifacts_dir / "rotation-02-task.png", full_page=True)
    page.get_by_role("button", name="Save new secret and complete").click()
    expect(page.get_by_text("was rotated with a generated secret")).to_be_visible()
    expect(page.locator("[data-task-outcome]")).to_contain_text("Rotated by Bob Tech")
    page.screenshot(path=artifacts_dir / "rotation-03-done.png", full_page=True)

    new = opened(credential, "secret")
    assert new != SECRET
    assert len(new) == 28
    assert new not in page.content()
    assert SECRET not in page.content()
    done = RotationTask.objects.get(pk=task.pk)
    assert done.status == RotationTask.Status.DONE
    assert done.replaced_version == CredentialSecretVersion.objects.get(credential=credential)
    assert AuditEvent.objects.filter(action="rotation.task_completed").count() == 1
    page_problems.assert_none()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_manager_sees_overdue_tasks_by_client(
    live_server, browser, page: Page, page_problems, artifacts_dir, alice, bob, client_a
):
    base = live_server.url
    client_a.primary_technician = bob
    client_a.save(update_fields=["primary_technician"])
    for name in ("DC01 domain admin", "Front desk"):
        credential = make_credential(
            client=client_a, actor=alice, name=name, credential_type="standard_user"
        )
        rotation_task_request(
            actor=None,
            credential=credential,
            reason="schedule",
            due_at=timezone.now() - timedelta(days=3),
        )

    sign_in_through_the_login_page(page, base, alice)
    page.get_by_role("banner").get_by_role("link", name="Overdue").click()
    expect(page.get_by_role("heading", name="Overdue rotations")).to_be_visible()
    by_client = page.locator("[data-testid=overdue-by-client] tbody tr")
    expect(by_client).to_have_count(1)
    expect(by_client).to_contain_text("Contoso Dental")
    expect(by_client).to_contain_text("2")
    expect(page.locator("[data-testid=overdue-by-owner] tbody tr")).to_contain_text("Bob Tech")
    expect(page.locator("[data-testid=overdue-tasks] tbody tr")).to_have_count(2)
    expect(page.locator("[data-testid=overdue-tasks]")).to_contain_text("Overdue")
    page.screenshot(path=artifacts_dir / "rotation-04-overdue.png", full_page=True)
    page_problems.assert_none()
