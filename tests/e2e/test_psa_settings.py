"""The PSA settings page in the browser, against the local stand-in PSA.

Administrator: sign in → /rotation/psa/ → HaloPSA with a bad address: refused with a
message, what was typed kept but never the secret → the right address: connected, the
callback address shown once → a rotation requested for a credential → the PSA calls sent
(the beat job's service) → the stand-in holds the ticket and the task page shows its id.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from rotation.models import PsaConnection, RotationTask
from rotation.psa.halopsa import halo_token_cache_clear
from rotation.services import psa as psa_services
from tests.e2e.test_monthly_review import sign_in_through_the_login_page
from tests.rotation import psa_server as ps
from tests.rotation.test_psa_adapters import connection_config
from tests.vault.test_credentials import SECRET, make_credential

pytestmark = pytest.mark.e2e

KIND = "halopsa"


@pytest.fixture
def psa():
    halo_token_cache_clear()
    server = ps.PsaServer().start()
    yield server
    server.stop()
    halo_token_cache_clear()


def fill_halopsa(page: Page, config: dict, *, base_url: str) -> None:
    page.get_by_label("HaloPSA", exact=True).check()
    page.get_by_label("Name", exact=True).fill("Our HaloPSA")
    page.get_by_label("Address", exact=True).fill(base_url)
    fields = page.locator(f'[data-psa-kind="{KIND}"]')
    for name, value in config["settings"].items():
        fields.locator(f"#{KIND}__setting__{name}").fill(str(value))
    fields.locator(f"#{KIND}__secret__client_secret").fill(config["secrets"]["client_secret"])


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_administrator_connects_halopsa_and_a_rotation_task_opens_a_ticket(
    live_server, browser, page: Page, page_problems, artifacts_dir, admin_user, client_a, psa
):
    base = live_server.url
    config = connection_config(psa, KIND)
    credential = make_credential(
        client=client_a, actor=admin_user, name="Reception PC user", credential_type="standard_user"
    )

    sign_in_through_the_login_page(page, base, admin_user)
    page.goto(f"{base}/rotation/psa/")
    expect(page.get_by_role("heading", name="PSA tickets", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Connect a PSA")).to_be_visible()

    # A bad address: refused in plain words; the rest of what was typed stays, the secret not.
    fill_halopsa(page, config, base_url="halo.contoso-msp.example/api")
    page.get_by_role("button", name="Connect").click()
    # The reason sits beside the field it belongs to, and the field says it is invalid.
    expect(page.locator("#psa-base-url-error")).to_have_text(
        "The PSA address must start with https:// and name a host."
    )
    expect(page.get_by_label("Address", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".form-errors")).to_contain_text("nothing was saved")
    expect(page.get_by_label("Address", exact=True)).to_have_value("halo.contoso-msp.example/api")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Our HaloPSA")
    expect(page.get_by_label("HaloPSA", exact=True)).to_be_checked()
    fields = page.locator(f'[data-psa-kind="{KIND}"]')
    for name, value in config["settings"].items():
        expect(fields.locator(f"#{KIND}__setting__{name}")).to_have_value(str(value))
    expect(fields.locator(f"#{KIND}__secret__client_secret")).to_have_value("")
    assert ps.HALO_CLIENT_SECRET not in page.content()
    assert not PsaConnection.objects.exists()
    page.screenshot(path=artifacts_dir / "psa-01-bad-address.png", full_page=True)
    # The refusal is a 400 by design (the browser logs it too); nothing else may have failed.
    assert page_problems.failed_responses == [f"400 POST {base}/rotation/psa/"]
    assert [error.split(" @ ")[0] for error in page_problems.console_errors] == [
        "Failed to load resource: the server responded with a status of 400 (Bad Request)"
    ]
    page_problems.failed_responses.clear()
    page_problems.console_errors.clear()

    # The right address, and the secret typed again.
    page.get_by_label("Address", exact=True).fill(config["base_url"])
    fields.locator(f"#{KIND}__secret__client_secret").fill(config["secrets"]["client_secret"])
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("heading", name="Callback address")).to_be_visible()
    connection = PsaConnection.objects.get()
    callback = page.locator("code.callback-url")
    expect(callback).to_have_text(
        re.compile(rf"^http://.+/integrations/psa/{connection.pk}/callback/[A-Za-z0-9_-]{{40,}}/$")
    )
    expect(page.get_by_text("It is shown only now")).to_be_visible()
    expect(page.get_by_role("heading", name="Connection: Our HaloPSA")).to_be_visible()
    assert ps.HALO_CLIENT_SECRET not in page.content()
    page.screenshot(path=artifacts_dir / "psa-02-connected.png", full_page=True)
    page.goto(f"{base}/rotation/psa/")
    expect(page.get_by_role("heading", name="Connection: Our HaloPSA")).to_be_visible()
    expect(page.locator("code.callback-url")).to_have_count(0)
    expect(page.get_by_text("leave blank to keep it")).to_be_visible()

    # A rotation requested for a credential opens a ticket once the PSA calls are sent.
    page.goto(f"{base}/clients/{client_a.slug}/credentials/{credential.pk}/")
    page.get_by_role("link", name="Request rotation").click()
    page.get_by_label("Reason").select_option("suspected_compromise")
    page.get_by_role("button", name="Request rotation").click()
    expect(page.get_by_role("heading", name="Rotate Reception PC user")).to_be_visible()
    task = RotationTask.objects.get(credential=credential)
    assert psa_services.psa_calls_send() == 1
    tickets = psa.tickets_of(KIND)
    assert len(tickets) == 1
    assert "Reception PC user" in tickets[0].summary
    assert psa.errors == []
    assert RotationTask.objects.get(pk=task.pk).psa_ticket_id == str(tickets[0].id)

    page.reload()
    facts = page.locator("[data-task-facts]")
    expect(facts).to_contain_text("PSA ticket")
    expect(facts).to_contain_text(str(tickets[0].id))
    page.screenshot(path=artifacts_dir / "psa-03-task-ticket.png", full_page=True)
    assert SECRET not in page.content()
    page.goto(f"{base}/rotation/psa/")
    expect(page.locator("table tbody tr")).to_contain_text(str(tickets[0].id))
    expect(page.locator("table tbody tr")).to_contain_text("Sent")
    page_problems.assert_none()
