"""A technician finds a credential by search, reveals and copies its secret, in a real browser.

Sign in → search → open a standard credential (the page holds no secret) → Reveal with a
ticket →
the secret shows with a countdown and is hidden again after 30 seconds → Copy puts the
secret on the clipboard without it ever being in the page.
"""

import pytest
from playwright.sync_api import Page, expect

from audit.models import AuditEvent
from tests.e2e.test_monthly_review import sign_in_through_the_login_page
from tests.vault.test_credentials import make_credential
from vault.models import CredentialType

pytestmark = pytest.mark.e2e
MARKUP_SECRET = "S3cret<script>alert('kh')</script>"
SECRET_START = "S3cret"  # absent from the page in any form, escaped or not


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_technician_reveals_then_copies_a_secret(
    live_server, page: Page, page_problems, artifacts_dir, bob, client_a
):
    base = live_server.url
    # Markup in the username and secret must stay text (check C42): no dialog may open.
    credential = make_credential(
        client=client_a,
        name="Front desk PC",
        credential_type=CredentialType.STANDARD_USER,
        username='frontdesk"><img src=x onerror=alert(1)>',
        secret=MARKUP_SECRET,
    )
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page.clock.install()
    sign_in_through_the_login_page(page, base, bob)

    page.keyboard.press("/")
    page.keyboard.type("front desk")
    page.keyboard.press("Enter")
    page.get_by_role("link", name="Front desk PC").click()
    expect(page.get_by_role("heading", name="Front desk PC")).to_be_visible()
    assert page.url.endswith(f"/clients/{client_a.slug}/credentials/{credential.pk}/")
    assert SECRET_START not in page.content()
    slot = page.locator("#secret-slot")
    expect(slot).to_contain_text("Hidden")

    page.get_by_label("Ticket (optional)").fill("INC-2041")
    page.get_by_role("button", name="Reveal").click()
    value = slot.locator("[data-secret-value]")
    expect(value).to_have_text(MARKUP_SECRET)
    expect(slot.locator("[data-countdown]")).to_contain_text("Hides in")
    page.screenshot(path=artifacts_dir / "reveal-01-revealed.png", full_page=True)
    event = AuditEvent.objects.get(action="credential.revealed")
    assert (event.actor_user_id, event.ticket, event.outcome) == (bob.pk, "INC-2041", "success")
    # Only the ticket is remembered for the tab, never the secret.
    storage = page.evaluate("JSON.stringify(Object.assign({}, sessionStorage, localStorage))")
    assert "INC-2041" in storage
    assert SECRET_START not in storage

    page.clock.run_for(31_000)
    expect(value).to_have_count(0)
    expect(slot).to_contain_text("Hidden")
    assert SECRET_START not in page.content()

    # The ticket is pre-filled after a reload of the page in the same tab.
    page.reload()
    expect(page.get_by_label("Ticket (optional)")).to_have_value("INC-2041")

    page.get_by_role("button", name="Copy").click()
    expect(slot.locator("[data-copy-status]")).to_contain_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == MARKUP_SECRET
    assert SECRET_START not in page.content()
    assert page.locator("template[data-copy-value]").count() == 0
    page.screenshot(path=artifacts_dir / "reveal-02-copied.png", full_page=True)
    assert AuditEvent.objects.filter(action="credential.revealed", outcome="success").count() == 2

    # After 30 seconds the clipboard no longer holds the secret.
    page.clock.run_for(31_000)
    page.wait_for_function("navigator.clipboard.readText().then((text) => text === '')")
    page_problems.assert_none()
