"""An administrator gives an integration an API token, in a real browser.

Sign in → "API tokens" in the header → Create token: name, two scopes, one client, the
expiry, an allowed network → the token shows once with a copy button → copied, it works
against the API → the list shows it live, used, never the token → revoke it with a reason →
the list says revoked and the next API call is refused.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from integrations.models import ApiToken
from tests.e2e.test_monthly_review import sign_in_through_the_login_page

pytestmark = pytest.mark.e2e


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_administrator_creates_uses_and_revokes_an_api_token(
    live_server, browser, page: Page, page_problems, artifacts_dir, admin_user, client_a, client_b
):
    base = live_server.url
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    sign_in_through_the_login_page(page, base, admin_user)

    page.get_by_role("banner").get_by_role("link", name="API tokens").click()
    expect(page.get_by_role("heading", name="API tokens", exact=True)).to_be_visible()
    expect(page.get_by_text("No API tokens yet")).to_be_visible()
    page.get_by_role("link", name="Create token").click()
    expect(page.get_by_role("heading", name="Create an API token")).to_be_visible()

    page.get_by_label("Name", exact=True).fill("HaloPSA sync")
    page.get_by_label("Read clients and systems").check()
    page.get_by_label("Read credential metadata").check()
    page.get_by_label("Clients", exact=True).select_option(label=client_a.name)
    expires_on = timezone.localdate() + timedelta(days=60)
    page.get_by_label("Expires after").fill(expires_on.isoformat())
    page.get_by_label("Allowed networks (optional)").fill("127.0.0.0/8\n203.0.113.0/24")
    page.screenshot(path=artifacts_dir / "api-tokens-01-form.png", full_page=True)
    page.get_by_role("button", name="Create token").click()

    expect(page.get_by_role("heading", name="Token for HaloPSA sync")).to_be_visible()
    expect(page.get_by_text("it is shown only this once")).to_be_visible()
    plaintext = page.get_by_label("API token").input_value()
    assert plaintext.startswith("kh_")
    page.get_by_role("button", name="Copy token").click()
    expect(page.locator("[data-copy-status]")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == plaintext
    page.screenshot(path=artifacts_dir / "api-tokens-02-shown-once.png", full_page=True)
    token = ApiToken.objects.get()
    assert token.scopes == ["clients:read", "credentials:read"]
    assert list(token.clients.all()) == [client_a]
    assert token.allowed_networks == ["127.0.0.0/8", "203.0.113.0/24"]

    # The copied token works from an allowed address.
    me = page.request.get(f"{base}/api/v1/me/", headers={"Authorization": f"Bearer {plaintext}"})
    assert me.status == 200
    assert me.json()["token"]["prefix"] == token.prefix

    page.get_by_role("link", name="Back to API tokens").click()
    row = page.locator(f'tr[data-token="{token.prefix}"]')
    expect(row).to_contain_text("HaloPSA sync")
    expect(row).to_contain_text(f"{token.prefix}…")
    expect(row).to_contain_text(admin_user.full_name)
    expect(row).to_contain_text("clients:read")
    expect(row).to_contain_text(client_a.name)
    expect(row).not_to_contain_text(client_b.name)
    expect(row).to_contain_text("127.0.0.1")
    expect(row).to_contain_text("Live")
    assert plaintext not in page.content()
    page.screenshot(path=artifacts_dir / "api-tokens-03-list.png", full_page=True)

    row.get_by_role("link", name="Revoke").click()
    expect(page.get_by_role("heading", name="Revoke HaloPSA sync")).to_be_visible()
    page.get_by_label("Reason").fill("Moving to the new PSA connector")
    page.get_by_role("button", name="Revoke token").click()
    expect(page.get_by_text("is revoked; it no longer works")).to_be_visible()
    row = page.locator(f'tr[data-token="{token.prefix}"]')
    expect(row).to_contain_text("Revoked")
    expect(row).to_contain_text("Moving to the new PSA connector")
    expect(row.get_by_role("link", name="Revoke")).to_have_count(0)
    page.screenshot(path=artifacts_dir / "api-tokens-04-revoked.png", full_page=True)

    refused = page.request.get(
        f"{base}/api/v1/me/", headers={"Authorization": f"Bearer {plaintext}"}
    )
    assert refused.status == 401
    page_problems.assert_none()
