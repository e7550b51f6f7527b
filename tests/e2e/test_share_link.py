"""A technician shares a credential with a client contact through a one-time link.

Sign in → credential page → "Share with a client contact" → the link shows once → a client
contact in a fresh browser (no account, no cookies) opens it: the token leaves the address
bar, the page offers Reveal and consumes nothing → Reveal shows the secret once → opening
the link again says it was used, and the technician is told.
"""

from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Notification
from audit.models import AuditEvent
from tests.e2e.conftest import _CSP_LISTENER
from tests.e2e.test_monthly_review import sign_in_through_the_login_page
from tests.vault.test_credentials import SECRET, make_credential
from vault.models import CredentialType, ShareLink

pytestmark = pytest.mark.e2e

GONE = "This link has expired or has already been used"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_technician_shares_a_secret_and_the_contact_reveals_it_once(
    live_server, browser, page: Page, page_problems, artifacts_dir, bob, client_a
):
    base = live_server.url
    credential = make_credential(
        client=client_a,
        name="Front desk PC",
        credential_type=CredentialType.STANDARD_USER,
        username="frontdesk",
    )
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    sign_in_through_the_login_page(page, base, bob)
    page.goto(f"{base}/clients/{client_a.slug}/credentials/{credential.pk}/")
    panel = page.locator("#share-panel")
    expect(panel.get_by_role("heading", name="Share with a client contact")).to_be_visible()
    panel.get_by_label("Recipient").fill("Pat Jones (Contoso reception)")
    panel.get_by_role("button", name="Create share link").click()
    link_input = panel.locator("[data-share-link-value]")
    expect(link_input).to_be_visible()
    link = link_input.input_value()
    assert link.startswith(f"{base}/share/")
    panel.get_by_role("button", name="Copy link").click()
    expect(panel.locator("[data-copy-status]")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == link
    expect(panel.get_by_role("table")).to_contain_text("Pat Jones (Contoso reception)")
    expect(panel.get_by_role("table")).to_contain_text("Active")
    assert SECRET not in page.content()
    page.screenshot(path=artifacts_dir / "share-01-link-created.png", full_page=True)

    # The client contact: a fresh browser context, no account, no cookies.
    context = browser.new_context(viewport={"width": 1000, "height": 760}, locale="en-US")
    violations: list = []
    context.expose_function("__keyholdCspViolation", lambda report: violations.append(report))
    context.add_init_script(_CSP_LISTENER)
    requested: list[str] = []
    contact = context.new_page()
    contact.on("request", lambda request: requested.append(request.url))
    errors: list[str] = []
    contact.on("pageerror", lambda error: errors.append(str(error)))

    contact.goto(link)
    expect(contact.get_by_role("heading", name="A secret was shared with you")).to_be_visible()
    assert urlparse(contact.url).path == "/share/"
    reveal = contact.get_by_role("button", name="Reveal")
    expect(reveal).to_be_visible()
    assert SECRET not in contact.content()
    assert "Contoso" not in contact.content()
    assert ShareLink.objects.get().views == 0
    contact.screenshot(path=artifacts_dir / "share-02-contact-landing.png", full_page=True)

    reveal.click()
    expect(contact.locator("[data-shared-secret]")).to_have_text(SECRET)
    expect(contact.get_by_role("heading", name="Front desk PC")).to_be_visible()
    contact.screenshot(path=artifacts_dir / "share-03-contact-revealed.png", full_page=True)
    row = ShareLink.objects.get()
    assert (row.views, row.payload) == (1, None)

    contact.reload()
    expect(contact.get_by_role("heading", name=GONE)).to_be_visible()
    assert SECRET not in contact.content()
    contact.goto(link)
    expect(contact.get_by_role("heading", name=GONE)).to_be_visible()
    assert SECRET not in contact.content()
    contact.screenshot(path=artifacts_dir / "share-04-contact-used.png", full_page=True)

    assert violations == []
    assert errors == []
    assert {urlparse(url).netloc for url in requested} == {urlparse(base).netloc}
    assert AuditEvent.objects.filter(action="share_link.revealed", outcome="success").count() == 1
    assert Notification.objects.filter(user=bob).count() == 1
    context.close()

    page.reload()
    expect(panel.get_by_role("table")).to_contain_text("Used")
    expect(panel.get_by_role("table")).to_contain_text("1 of 1")
    page.screenshot(path=artifacts_dir / "share-05-link-used.png", full_page=True)
    page_problems.assert_none()
