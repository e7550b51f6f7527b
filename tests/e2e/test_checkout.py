"""A technician checks out a domain admin credential that needs a manager's approval.

Technician: sign in → open the credential (no secret on the page) → ask for a checkout with a
ticket number. Manager, in a second browser context: the approval queue → approve. Technician:
the panel shows the lease → Reveal (the fresh sign-in's MFA counts as recent) → Check in;
the credential is then due for rotation.
"""

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Role
from audit.models import AuditEvent
from tenants.models import AccessLevel
from tenants.services import assignment_grant
from tests.e2e.test_monthly_review import sign_in_through_the_login_page
from tests.factories import UserFactory
from tests.vault.test_credentials import SECRET, make_credential
from vault.models import Checkout, ClientVaultPolicy, Credential

pytestmark = pytest.mark.e2e


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_technician_checks_out_with_approval_reveals_and_checks_in(
    live_server, browser, page: Page, page_problems, artifacts_dir, alice, client_a
):
    base = live_server.url
    pat = UserFactory(email="pat@msp.example", full_name="Pat Privileged", roles=[Role.TECHNICIAN])
    assignment_grant(actor=None, client=client_a, user=pat, level=AccessLevel.PRIVILEGED)
    ClientVaultPolicy.objects.create(client=client_a, checkout_approval_required=True)
    credential = make_credential(client=client_a, actor=alice, name="DC01 domain admin")
    detail = f"{base}/clients/{client_a.slug}/credentials/{credential.pk}/"

    # The technician asks for the credential against a ticket.
    sign_in_through_the_login_page(page, base, pat)
    page.goto(detail)
    expect(page.get_by_role("heading", name="DC01 domain admin")).to_be_visible()
    assert SECRET not in page.content()
    page.get_by_label("Ticket").fill("INC-5150")
    page.get_by_label("What is it for").fill("Reset the trust with the branch DC")
    page.get_by_label("For how long (minutes)").fill("45")
    page.get_by_role("button", name="Request approval").click()
    expect(page.get_by_text("is waiting for a manager")).to_be_visible()
    expect(page.locator("[data-checkout-pending]")).to_contain_text("INC-5150")
    request = AuditEvent.objects.get(action="credential.checkout_requested")
    assert (request.actor_user_id, request.ticket) == (pat.pk, "INC-5150")

    # A manager approves it from the queue, in a browser context of their own.
    manager_context = browser.new_context(viewport={"width": 1280, "height": 900})
    manager = manager_context.new_page()
    manager_errors: list[str] = []
    manager.on("pageerror", lambda error: manager_errors.append(str(error)))
    manager.on(
        "response",
        lambda r: manager_errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    sign_in_through_the_login_page(manager, base, alice)
    manager.get_by_role("banner").get_by_role("link", name="Approvals").click()
    row = manager.locator("[data-testid=approval-queue] tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Pat Privileged")
    expect(row).to_contain_text("INC-5150")
    manager.screenshot(path=artifacts_dir / "checkout-01-approval-queue.png", full_page=True)
    row.get_by_label("Note (optional)").fill("Go ahead, close the ticket after")
    row.get_by_role("button", name="Approve").click()
    expect(manager.get_by_text("is approved and has started")).to_be_visible()
    expect(manager.locator("[data-testid=active-leases]")).to_contain_text("Pat Privileged")
    manager_context.close()
    assert manager_errors == []

    # The technician now holds the lease: reveal, then check in.
    page.goto(detail)
    expect(page.locator("[data-checkout-lease]")).to_contain_text("Checked out by you")
    slot = page.locator("#secret-slot")
    page.get_by_role("button", name="Reveal").click()
    expect(slot.locator("[data-secret-value]")).to_have_text(SECRET)
    expect(slot.locator("[data-countdown]")).to_contain_text("Hides in")
    page.screenshot(path=artifacts_dir / "checkout-02-revealed.png", full_page=True)
    revealed = AuditEvent.objects.get(action="credential.revealed")
    checkout = Checkout.objects.get()
    assert revealed.actor_user_id == pat.pk
    assert revealed.details["checkout"] == str(checkout.pk)

    page.get_by_role("button", name="Check in").click()
    expect(page.get_by_text("is checked in. It is now due for rotation.")).to_be_visible()
    expect(page.get_by_role("button", name="Request approval")).to_be_visible()
    # The tab remembers the ticket for the next checkout or reveal (never the secret).
    expect(page.get_by_label("Ticket")).to_have_value("INC-5150")
    assert SECRET not in page.content()
    page.screenshot(path=artifacts_dir / "checkout-03-checked-in.png", full_page=True)

    assert Checkout.objects.get().status == Checkout.Status.RETURNED
    assert Credential.objects.get(pk=credential.pk).rotation_required_reason == "checkout_ended"
    assert AuditEvent.objects.filter(action="credential.checked_in").count() == 1
    page_problems.assert_none()
