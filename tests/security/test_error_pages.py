"""Error pages are friendly and reveal nothing: no stack trace, no settings, no data."""

import pytest

from tenants import selectors
from tests.conftest import sign_in

CANARY = "canary-secret-Hx81"


@pytest.mark.django_db
def test_unexpected_error_shows_a_friendly_page_without_details(client, bob, monkeypatch):
    def explode(**kwargs):
        raise RuntimeError(f"database exploded with {CANARY}")

    monkeypatch.setattr(selectors, "client_list_for_user", explode)
    client.raise_request_exception = False
    sign_in(client, bob)
    response = client.get("/")
    body = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in body
    assert CANARY not in body
    assert "Traceback" not in body


@pytest.mark.django_db
def test_unknown_address_gets_the_friendly_not_found_page(client, bob):
    sign_in(client, bob)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "This page does not exist or you cannot see it." in response.content.decode()


@pytest.mark.django_db
def test_forged_form_gets_the_friendly_expired_form_page(bob):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    sign_in(browser, bob)
    response = browser.post("/account/backup-codes/")
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()
