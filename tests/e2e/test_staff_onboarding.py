"""A new technician's first day, in a real browser.

Invitation link → choose a password → enrol an authenticator → save the backup codes →
sign out → sign in again with password and TOTP → see only the client they are assigned to.
"""

import base64
import time

import pytest
from django_otp.oath import TOTP
from playwright.sync_api import Page, expect

from accounts.models import Role, User
from accounts.services import invitation_create
from tenants.models import AccessLevel
from tenants.services import assignment_grant

pytestmark = pytest.mark.e2e

EMAIL = "dana@msp.example"
FULL_NAME = "Dana Technician"
PASSWORD = "Orchid-Lantern-Quarry-2048!"  # 27 characters, passes every password validator


def totp_code(secret: str, *, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows for `secret` (base32, unpadded)."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    totp = TOTP(key, step=30, digits=6)
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_invited_technician_onboards_and_sees_only_their_client(
    live_server, page: Page, page_problems, artifacts_dir, client_a, client_b
):
    base = live_server.url
    _, token = invitation_create(
        actor=None, email=EMAIL, full_name="Dana Tech", roles=[Role.TECHNICIAN]
    )

    # The link moves the token into the session and out of the address bar.
    page.goto(f"{base}/invitation/{token}/")
    expect(page).to_have_url(f"{base}/invitation/")
    expect(page.get_by_role("heading", name="Join Keyhold")).to_be_visible()
    expect(page.get_by_text(EMAIL)).to_be_visible()
    page.get_by_label("Full name").fill(FULL_NAME)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()

    # MFA enrolment: read the key by hand, as someone without a camera would.
    expect(page).to_have_url(f"{base}/mfa/enrol/")
    expect(page.get_by_role("heading", name="Set up two-step verification")).to_be_visible()
    expect(page.get_by_role("img", name="QR code to add Keyhold")).to_be_visible()
    page.locator("details summary").click()
    secret_box = page.get_by_test_id("totp-secret")
    expect(secret_box).to_be_visible()
    secret = secret_box.inner_text().strip()
    assert len(secret) == 32
    page.screenshot(path=artifacts_dir / "01-mfa-enrol.png", full_page=True)
    page.get_by_label("6-digit code from your app").fill(totp_code(secret))
    page.get_by_role("button", name="Turn on two-step verification").click()

    # Backup codes, shown once.
    expect(page.get_by_role("heading", name="Save your backup codes")).to_be_visible()
    expect(page.get_by_test_id("backup-codes").locator("li")).to_have_count(10)
    page.screenshot(path=artifacts_dir / "02-backup-codes.png", full_page=True)

    # A manager assigns the newcomer to client A only.
    user = User.objects.get(email=EMAIL)
    assert user.full_name == FULL_NAME
    assignment_grant(actor=None, client=client_a, user=user, level=AccessLevel.USE)

    page.get_by_role("link", name="I have saved them").click()
    expect(page).to_have_url(f"{base}/")
    expect(page.get_by_role("heading", name="Your clients")).to_be_visible()

    # Sign out from the header, then sign in again: password, then the next TOTP step
    # (the step used at enrolment would be refused as a replay).
    page.get_by_role("banner").get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{base}/login/")
    expect(page.get_by_role("banner")).to_have_count(0)
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()

    expect(page).to_have_url(f"{base}/mfa/?next=%2F")
    expect(page.get_by_role("heading", name="Two-step verification")).to_be_visible()
    authenticator = page.get_by_role("radio", name="Authenticator app")
    expect(authenticator).to_be_checked()
    authenticator.check()
    page.get_by_label("Code", exact=True).fill(totp_code(secret, steps_ahead=1))
    page.get_by_role("button", name="Verify").click()

    # Only the assigned client is listed.
    expect(page).to_have_url(f"{base}/")
    table = page.get_by_test_id("client-table")
    expect(table).to_be_visible()
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_role("link")).to_have_text("Contoso Dental")
    expect(page.get_by_text("Fabrikam Logistics")).to_have_count(0)
    expect(page.get_by_role("banner")).to_contain_text(FULL_NAME)
    page.screenshot(path=artifacts_dir / "03-client-list.png", full_page=True)

    page_problems.assert_none()
