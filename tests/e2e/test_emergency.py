"""A manager breaks the seal of an emergency credential in a real browser."""

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from accounts import tasks as account_tasks
from audit.models import AuditEvent
from tests.e2e.test_monthly_review import sign_in_through_the_login_page
from tests.vault.test_credentials import SECRET, make_credential

pytestmark = pytest.mark.e2e


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_manager_breaks_the_seal_sees_the_secret_once_and_the_seal_stays_broken(
    live_server, page: Page, page_problems, artifacts_dir, alice, client_a
):
    base = live_server.url
    credential = make_credential(
        client=client_a, actor=alice, name="Break-glass domain admin", is_emergency=True
    )
    page.clock.install()
    sign_in_through_the_login_page(page, base, alice)
    page.goto(f"{base}/clients/{client_a.slug}/credentials/")
    assert "Break-glass domain admin" not in page.content()
    page.get_by_role("link", name="Emergency credentials").click()
    row = page.locator("[data-emergency-row]")
    expect(row).to_contain_text("Sealed")
    page.screenshot(path=artifacts_dir / "emergency-01-list.png", full_page=True)
    row.get_by_role("link", name="Open sealed credential").click()
    expect(
        page.get_by_role("heading", name="Break the seal of Break-glass domain admin")
    ).to_be_visible()
    assert SECRET not in page.content()
    page.get_by_label("Why do you need it?").fill(
        "DC01 is down and the MSP admin account is locked"
    )
    page.get_by_role("button", name="Break the seal and show the secret").click()
    slot = page.locator("#secret-slot")
    expect(slot.locator("[data-secret-value]")).to_have_text(SECRET)
    expect(page.locator("#seal-state")).to_contain_text("Seal broken")
    expect(slot.locator("[data-countdown]")).to_contain_text("Hides in")
    page.screenshot(path=artifacts_dir / "emergency-02-opened.png", full_page=True)
    page.clock.run_for(31_000)
    expect(slot.locator("[data-secret-value]")).to_have_count(0)
    assert SECRET not in page.content()
    page.goto(f"{base}/clients/{client_a.slug}/emergency/")
    expect(page.locator("[data-emergency-row]")).to_contain_text("Seal broken by Alice Manager")
    page.goto(f"{base}/clients/{client_a.slug}/credentials/{credential.pk}/")
    expect(page.locator("[data-emergency-panel]")).to_contain_text("Seal broken")
    page.screenshot(path=artifacts_dir / "emergency-03-detail.png", full_page=True)
    assert AuditEvent.objects.filter(action="credential.emergency_opened").count() == 1
    assert account_tasks.outbox_drain.delay().get() == 1
    assert mail.outbox[0].to == [alice.email]
    page_problems.assert_none()
