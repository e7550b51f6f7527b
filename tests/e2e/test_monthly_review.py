"""A manager's monthly review, in a real browser.

Sign in with password and TOTP → open the access review of October 2026 → follow a finding
to its events → come back → sign the review off with a disposition for every finding →
see it signed, by whom and when, with no form left to change it.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Role, TotpDevice
from tenants.models import AccessLevel, Client
from tenants.services import assignment_grant
from tests.audit.review_world import backdate_assignments, seed, utc
from tests.factories import PASSWORD, SystemFactory, UserFactory

pytestmark = pytest.mark.e2e

MONTH = "2026-10"
LABEL = "October 2026"


@pytest.fixture
def october(alice, bob, charlie, client_a, client_b):
    """October 2026 at Contoso Dental (New York hours): ordinary work and a few findings."""
    Client.objects.filter(pk=client_a.pk).update(business_time_zone="America/New_York")
    SystemFactory(client=client_a, name="DC01")
    dave = UserFactory(email="dave@msp.example", full_name="Dave Tech", roles=[Role.TECHNICIAN])
    assignment_grant(actor=None, client=client_a, user=dave, level=AccessLevel.PRIVILEGED)
    backdate_assignments()
    a = {"client": client_a}
    for person in (bob, dave):
        seed(at=utc(2026, 9, 15, 14), actor=person, credential="dc01-admin", ticket="T-90", **a)
    for day in range(5, 10):
        seed(at=utc(2026, 10, day, 14), actor=bob, credential="dc01-admin", ticket=f"T-{day}", **a)
        seed(at=utc(2026, 10, day, 15), actor=dave, credential="m365-admin", ticket=f"T-{day}", **a)
    seed(at=utc(2026, 10, 12, 15), actor=bob, credential="fw01-admin", **a)
    seed(at=utc(2026, 10, 13, 15), actor=dave, credential="backup-svc", **a)
    seed(at=utc(2026, 10, 14, 2, 30), actor=bob, credential="dc01-admin", ticket="T-77", **a)
    seed(
        at=utc(2026, 10, 15, 14),
        actor=charlie,
        credential="dc01-admin",
        ticket="T-78",
        **a,
    )
    seed(at=utc(2026, 10, 16, 8), actor=bob, action="mfa.verification_failed", outcome="denied")
    seed(at=utc(2026, 10, 20, 14), actor=charlie, client=client_b, credential="fs01-admin")
    return alice


def sign_in_through_the_login_page(page: Page, base: str, user) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Two-step verification")).to_be_visible()
    code = TotpDevice.objects.get(user=user, confirmed=True).current_code()
    page.get_by_label("Code", exact=True).fill(code)
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Your clients")).to_be_visible()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_manager_reviews_a_month_follows_a_finding_and_signs_it_off(
    live_server, october, page: Page, page_problems, artifacts_dir
):
    base = live_server.url
    manager = october
    sign_in_through_the_login_page(page, base, manager)

    # The review, from the header link, for the month picked.
    page.get_by_role("banner").get_by_role("link", name="Reviews").click()
    expect(page.get_by_role("navigation", name="Reviews")).to_be_visible()
    page.get_by_label("Month").fill(MONTH)
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", name=f"Access review · {LABEL}")).to_be_visible()
    expect(page.get_by_text("Not signed off").first).to_be_visible()
    findings = page.get_by_test_id("findings")
    no_ticket = findings.locator('[data-finding="no_ticket"]')
    expect(no_ticket.locator(".count")).to_have_text("2")
    expect(findings.locator('[data-finding="off_hours"] .count')).to_have_text("1")
    expect(findings.locator('[data-finding="unassigned"] .count')).to_have_text("1")
    expect(findings.locator('[data-finding="bulk"]')).to_contain_text("None found")
    expect(page.get_by_role("img", name="Credential openings per technician")).to_be_visible()
    expect(page.get_by_test_id("technician-totals")).to_contain_text("Dave Tech")
    expect(page.get_by_text("Fabrikam Logistics")).to_have_count(0)
    page.screenshot(path=artifacts_dir / "review-01-monthly-review.png", full_page=True)

    # One click from a finding to its events, and back.
    page.get_by_role("link", name="View events of reveals and checkouts without a ticket").click()
    expect(
        page.get_by_role("heading", name="Reveals and checkouts without a ticket")
    ).to_be_visible()
    rows = page.get_by_test_id("event-table").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("2026-10-13 15:00:00")
    expect(rows.first).to_contain_text("dave@msp.example")
    expect(rows.nth(1)).to_contain_text("bob@msp.example")
    page.screenshot(path=artifacts_dir / "review-02-finding-events.png", full_page=True)
    page.get_by_role("link", name=f"Access review · {LABEL}").click()
    expect(page.get_by_role("heading", name=f"Access review · {LABEL}")).to_be_visible()

    # Sign-off: a disposition for every finding, one of them with a note.
    sign_off = page.locator("#sign-off")
    table = sign_off.locator("table.sign-off-table tbody tr")
    expect(table).to_have_count(5)
    for index in range(5):
        table.nth(index).get_by_label("Expected").check()
    unassigned = sign_off.get_by_role("group", name="Disposition for access without an assignment")
    unassigned.get_by_label("Incident").check()
    sign_off.get_by_label("Note on access without an assignment").fill(
        "Charlie is not assigned to Contoso; ticket T-78 was for Fabrikam."
    )
    sign_off.get_by_label("Notes for the record").fill("Reviewed with the service desk lead.")
    sign_off.screenshot(path=artifacts_dir / "review-03-sign-off-form.png")
    sign_off.get_by_role("button", name=f"Sign off {LABEL}").click()

    # Signed: who and when, the dispositions, and nothing left to edit.
    expect(page.get_by_text(f"The access review of {LABEL} is signed off.")).to_be_visible()
    banner = sign_off.locator(".signed-banner")
    expect(banner).to_contain_text("Signed off")
    expect(banner).to_contain_text("Alice Manager")
    expect(banner).to_contain_text(re.compile(r"\d{4}, \d\d:\d\d UTC"))
    expect(page.locator('[data-finding="unassigned"]')).to_contain_text("Incident")
    expect(page.locator('[data-finding="unassigned"]')).to_contain_text("ticket T-78")
    expect(page.get_by_text("Reviewed with the service desk lead.")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Sign off"))).to_have_count(0)
    expect(page.locator("#sign-off input, #sign-off textarea")).to_have_count(0)
    page.screenshot(path=artifacts_dir / "review-04-signed.png", full_page=True)

    # The sign-off is listed; the hygiene audit checks the vault's credentials.
    page.get_by_role("link", name="Past sign-offs").click()
    expect(page.get_by_test_id("sign-off-table")).to_contain_text(LABEL)
    expect(page.get_by_test_id("sign-off-table")).to_contain_text("1 incident")
    page.screenshot(path=artifacts_dir / "review-05-sign-offs.png", full_page=True)
    page.get_by_role("link", name="Quarterly hygiene audit").click()
    expect(page.locator('[data-check="clients_uncovered"]')).to_be_visible()
    expect(page.get_by_test_id("no-credential-data")).to_have_count(0)
    page.screenshot(path=artifacts_dir / "review-06-hygiene-audit.png", full_page=True)

    page_problems.assert_none()
