"""A manager walks a technician's departure through to the closed case, in real Chromium.

Bob (technician on Contoso) revealed the reception PC's password last week. Alice opens a
departure case, confirms it (Bob's own browser is signed out at once), rotates the secret
Bob saw from the case page, then closes the case by accepting the remaining risk in writing;
the evidence report lists every step with its time.
"""

import pytest
from playwright.sync_api import Page, expect

from offboarding.models import CaseEvidence, OffboardingCase
from rotation.models import RotationTask
from tenants.models import Assignment
from tests.e2e.test_monthly_review import sign_in_through_the_login_page
from tests.vault.test_credentials import make_credential
from vault.services import credential_reveal

pytestmark = pytest.mark.e2e

RISK = "Remaining service accounts are rotated in next week's maintenance window."


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_manager_walks_a_technician_departure_to_the_closed_case(
    live_server, browser, page: Page, page_problems, artifacts_dir, alice, bob, client_a
):
    base = live_server.url
    reception = make_credential(
        client=client_a, actor=alice, name="Reception PC", credential_type="standard_user"
    )
    make_credential(
        client=client_a, actor=alice, name="Backup agent", credential_type="service_account"
    )
    credential_reveal(actor=bob, credential=reception, ticket="T-1001")

    # Bob is signed in elsewhere: his session must end with the confirmation.
    bob_context = browser.new_context(viewport={"width": 1000, "height": 760}, locale="en-US")
    bob_page = bob_context.new_page()
    sign_in_through_the_login_page(bob_page, base, bob)

    sign_in_through_the_login_page(page, base, alice)
    page.get_by_role("banner").get_by_role("link", name="Offboarding").click()
    page.get_by_role("link", name="Record a technician departure").click()
    page.get_by_label("Staff member who is leaving").select_option(label=str(bob))
    page.get_by_label("Reason for the departure").fill("Resigned; last day today")
    page.get_by_role("button", name="Open departure case").click()
    expect(page.get_by_role("heading", name=f"Departure of {bob}")).to_be_visible()
    page.screenshot(path=artifacts_dir / "departure-01-draft.png", full_page=True)

    page.get_by_role("button", name="Confirm departure").click()
    expect(page.get_by_test_id("case-status")).to_contain_text("Open")
    revealed = page.get_by_test_id("revealed-credentials")
    expect(revealed).to_contain_text("Reception PC")
    expect(page.get_by_test_id("could-reveal-credentials")).to_contain_text("Backup agent")
    expect(page.get_by_test_id("case-progress")).to_contain_text("0 of 2")
    page.screenshot(path=artifacts_dir / "departure-02-confirmed.png", full_page=True)
    bob.refresh_from_db()
    assert not bob.is_active
    assert not Assignment.objects.filter(user=bob, revoked_at__isnull=True).exists()

    bob_page.goto(f"{base}/clients/")
    expect(bob_page.get_by_label("Email")).to_be_visible()
    bob_context.close()

    # Rotate the secret Bob saw, from the case page.
    revealed.get_by_role("link").first.click()
    expect(page.get_by_role("heading", name="Rotate Reception PC")).to_be_visible()
    page.get_by_label("Generate a new secret").check()
    page.get_by_role("button", name="Save new secret and complete").click()
    expect(page.get_by_text("Reception PC was rotated with a generated secret")).to_be_visible()
    assert RotationTask.objects.get(credential=reception).status == RotationTask.Status.DONE

    case = OffboardingCase.objects.get(subject=bob)
    page.goto(f"{base}/offboarding/cases/{case.pk}/")
    expect(page.get_by_test_id("case-progress")).to_contain_text("1 of 2")

    # Close with the one open task: only by accepting the risk in writing.
    close = page.get_by_test_id("departure-close-form")
    close.get_by_role("button", name="Accept the risk and close").click()
    expect(page.get_by_test_id("departure-close-form")).to_contain_text("reason", ignore_case=True)
    page.get_by_label("Why the remaining risk is acceptable").fill(RISK)
    page.get_by_role("button", name="Accept the risk and close").click()
    expect(page.get_by_test_id("case-status")).to_contain_text("Closed")
    expect(page.get_by_test_id("case-status")).to_contain_text("Risk accepted")
    page.screenshot(path=artifacts_dir / "departure-03-closed.png", full_page=True)

    # The evidence report: every step with its time.
    page.goto(f"{base}/offboarding/cases/{case.pk}/evidence/")
    steps = CaseEvidence.objects.filter(case=case)
    for label in (
        "Case opened",
        "Login disabled",
        "Sessions ended",
        "Access revoked",
        "Credential rotated",
        "Remaining risk accepted",
        "Case closed",
    ):
        expect(page.get_by_role("main")).to_contain_text(label)
        assert steps.filter(step__in=[s for s, text in CaseEvidence.Step.choices if text == label])
    # The viewer's local time sits beside each UTC time (a static script, no inline JS).
    expect(page.locator("[data-local-slot]").first).not_to_be_empty()
    page.screenshot(path=artifacts_dir / "departure-04-evidence.png", full_page=True)
    case.refresh_from_db()
    assert case.status == OffboardingCase.Status.CLOSED
    assert case.risk_accepted_reason == RISK
    page_problems.assert_none()
