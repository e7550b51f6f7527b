"""Onboarding a new client end to end, in real Chromium.

An onboarding staff member adds the client, records three systems in the structured intake
(one credential received by email), submits it and gets the client notice; then creates an
intake link for two more systems. The client contact, in a fresh browser with no account,
sends both credentials once; staff accept one into the vault and reject the other; the link
cannot be used again.
"""

from datetime import timedelta
from urllib.parse import urlparse

import pytest
from django.test import override_settings
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Role
from intake.models import IntakeLink, StagedCredential
from rotation.models import RotationTask
from tenants.models import Client
from tests.e2e.conftest import _CSP_LISTENER
from tests.e2e.test_monthly_review import sign_in_through_the_login_page
from tests.factories import UserFactory
from vault.models import Credential

pytestmark = pytest.mark.e2e

GONE = "This link has expired or has already been used"
EMAILED_SECRET = "Emailed-Fw-Admin-4471"
PORTAL_SECRET = "Contact-Portal-Pass-8812"
WIFI_SECRET = "Contact-Wifi-Pass-3390"

SYSTEMS = [
    # system name, kind, credential type, username, access method, received via, secret
    ("DC01", "Server", "Domain admin", "WOODGROVE\\admin", "RDP", "Entered here", "Dc01-5531!"),
    (
        "Edge firewall",
        "Firewall",
        "Firewall admin",
        "fwadmin",
        "Web portal",
        "Email",
        EMAILED_SECRET,
    ),
    ("Backup NAS", "Server", "Service account", "svc-backup", "SSH", "Phone", "Nas-Service-6620"),
]


def add_entry(page: Page, system, kind, credential_type, username, method, received_via, secret):
    form = page.get_by_test_id("entry-form")
    form.get_by_label("System name", exact=True).fill(system)
    form.get_by_label("Kind of system", exact=True).select_option(label=kind)
    form.get_by_label("Credential type", exact=True).select_option(label=credential_type)
    form.get_by_label("Username or account", exact=True).fill(username)
    form.get_by_label("Access method", exact=True).select_option(label=method)
    form.get_by_label("Received via", exact=True).select_option(label=received_via)
    form.get_by_label("MFA on this access path", exact=True).select_option(label="No")
    form.get_by_label("Last rotation date unknown", exact=True).check()
    form.get_by_label("Secret", exact=True).fill(secret)
    form.get_by_role("button", name="Save to draft").click()
    expect(page.get_by_test_id("intake-entries")).to_contain_text(system)


@override_settings(RATELIMIT_CACHE_PREFIX="e2e-intake-")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_onboarding_a_client_through_the_intake_and_a_client_intake_link(
    live_server, browser, page: Page, page_problems, artifacts_dir
):
    base = live_server.url
    olga = UserFactory(
        email="olga@msp.example", full_name="Olga Onboarding", roles=[Role.ONBOARDING]
    )
    sign_in_through_the_login_page(page, base, olga)

    # A new client.
    page.goto(f"{base}/clients/new/")
    page.get_by_label("Client name").fill("Woodgrove Bank")
    page.get_by_role("button", name="Add client").click()
    expect(page.get_by_role("heading", name="Woodgrove Bank")).to_be_visible()
    client = Client.objects.get(name="Woodgrove Bank")

    # The structured intake: three systems, one credential received by email.
    page.get_by_role("link", name="Onboarding", exact=True).click()
    expect(page.get_by_role("heading", name="Onboarding of Woodgrove Bank")).to_be_visible()
    page.get_by_role("link", name="Start an intake").click()
    for values in SYSTEMS:
        add_entry(page, *values)
    entries = page.get_by_test_id("intake-entries")
    expect(entries).to_contain_text("Exposed: Email")
    for *_described, secret in SYSTEMS:
        assert secret not in page.content()
    page.screenshot(path=artifacts_dir / "intake-01-draft.png", full_page=True)
    page.get_by_role("button", name="Submit intake").click()

    # The client notice for the emailed credential, then the vault holds all three.
    notice = page.get_by_role("textbox", name="Notice for Woodgrove Bank", exact=False)
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("email")
    page.screenshot(path=artifacts_dir / "intake-02-notice.png", full_page=True)
    credentials = Credential.objects.filter(client=client)
    assert credentials.count() == 3
    emailed = credentials.get(username="fwadmin")
    assert emailed.status == Credential.Status.EXPOSED
    task = RotationTask.objects.get(credential=emailed, status=RotationTask.Status.OPEN)
    assert task.due_at <= timezone.now()
    assert credentials.filter(status=Credential.Status.ACTIVE).count() == 2

    # A client intake link for two more systems, from the onboarding page.
    page.goto(f"{base}/clients/{client.slug}/onboarding/")
    expect(page.get_by_text("exposed", exact=False).first).to_be_visible()
    page.get_by_role("link", name="Client intake links").click()
    page.get_by_label("Contact name", exact=True).fill("Grace Woodgrove (office manager)")
    page.get_by_label("System 1 name", exact=True).fill("Bank portal")
    page.get_by_label("System 2 name", exact=True).fill("Office Wi-Fi")
    page.get_by_role("button", name="Create intake link").click()
    link_input = page.get_by_label("Intake link", exact=True)
    expect(link_input).to_be_visible()
    link = link_input.input_value()
    assert link.startswith(f"{base}/intake/")
    page.screenshot(path=artifacts_dir / "intake-03-link-created.png", full_page=True)

    # The client contact: a fresh browser context, no account, no cookies.
    context = browser.new_context(viewport={"width": 1000, "height": 900}, locale="en-US")
    violations: list = []
    context.expose_function("__keyholdCspViolation", lambda report: violations.append(report))
    context.add_init_script(_CSP_LISTENER)
    contact = context.new_page()
    errors: list[str] = []
    contact.on("pageerror", lambda error: errors.append(str(error)))
    contact.goto(link)
    assert urlparse(contact.url).path == "/intake/"
    expect(contact.get_by_text("Grace Woodgrove (office manager)").first).to_be_visible()
    assert "Woodgrove Bank" not in contact.content()
    assert "olga@msp.example" not in contact.content()
    contact.get_by_label("Username for Bank portal", exact=True).fill("grace.w")
    contact.get_by_label("Password for Bank portal", exact=True).fill(PORTAL_SECRET)
    contact.get_by_label("Username for Office Wi-Fi", exact=True).fill("office-wifi")
    contact.get_by_label("Password for Office Wi-Fi", exact=True).fill(WIFI_SECRET)
    contact.screenshot(path=artifacts_dir / "intake-04-contact-form.png", full_page=True)
    contact.get_by_role("button", name="Send securely").click()
    expect(contact.get_by_role("heading", name="Thank you")).to_be_visible()
    staged = StagedCredential.objects.filter(client=client)
    assert staged.count() == 2
    for row in staged:
        assert PORTAL_SECRET.encode() not in bytes(row.secret)
        assert WIFI_SECRET.encode() not in bytes(row.secret)

    # Staff review: accept the portal login, reject the Wi-Fi one.
    link_row = IntakeLink.objects.get(client=client)
    page.goto(f"{base}/clients/{client.slug}/intake-links/{link_row.pk}/")
    expect(page.get_by_text("grace.w").first).to_be_visible()
    assert PORTAL_SECRET not in page.content()
    page.get_by_role("button", name="Accept Bank portal into the vault").click()
    expect(page.get_by_text("Accepted", exact=False).first).to_be_visible()
    page.get_by_label("Rejection reason for Office Wi-Fi", exact=True).fill(
        "Guest network: not managed by us"
    )
    page.get_by_role("button", name="Reject Office Wi-Fi").click()
    expect(page.get_by_text("Rejected", exact=False).first).to_be_visible()
    page.screenshot(path=artifacts_dir / "intake-05-reviewed.png", full_page=True)
    accepted = staged.get(system_name="Bank portal")
    rejected = staged.get(system_name="Office Wi-Fi")
    assert accepted.status == StagedCredential.Status.ACCEPTED
    assert accepted.credential.source == Credential.Source.CLIENT_LINK
    assert rejected.status == StagedCredential.Status.REJECTED
    assert not rejected.secret
    assert Credential.objects.filter(client=client).count() == 4

    # The link cannot be used again, nor after its expiry time.
    contact.goto(link)
    expect(contact.get_by_role("heading", name=GONE)).to_be_visible()
    contact.screenshot(path=artifacts_dir / "intake-06-link-used.png", full_page=True)
    assert link_row.expires_at > timezone.now() + timedelta(hours=70)
    assert violations == []
    assert errors == []
    context.close()
    page_problems.assert_none()
