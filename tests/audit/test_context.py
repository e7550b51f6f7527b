"""Events carry where a request came from: address behind trusted proxies, agent, request id."""

import pytest
from django.test import Client as Browser
from django.test import RequestFactory

from audit.context import client_ip
from audit.models import AuditEvent
from tests.factories import PASSWORD


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "expected"),
    [
        (0, "", "10.0.0.2"),
        (0, "6.6.6.6", "10.0.0.2"),
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),
        (2, "6.6.6.6, 203.0.113.9, 10.1.1.1", "203.0.113.9"),
        (2, "203.0.113.9", "10.0.0.2"),
        (1, "not-an-address", None),
        (1, "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
    ],
)
def test_client_address_is_the_one_the_trusted_proxy_saw(
    settings, proxies, forwarded_for, expected
):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded_for)
    assert client_ip(request) == expected


@pytest.mark.django_db
def test_sign_in_event_records_address_agent_and_request_id(bob, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    browser = Browser(HTTP_USER_AGENT="Keyhold-Test/1.0", HTTP_X_FORWARDED_FOR="198.51.100.7")
    browser.post("/login/", {"username": bob.email, "password": PASSWORD})
    event = AuditEvent.objects.get(action="staff.signed_in")
    assert event.ip_address == "198.51.100.7"
    assert event.user_agent == "Keyhold-Test/1.0"
    assert len(event.request_id) >= 16
    assert event.actor_user_id == bob.pk
    assert event.actor_label == bob.email


@pytest.mark.django_db
def test_failed_sign_in_keeps_the_attempted_email_as_inert_text(settings):
    hostile = "=cmd|'/calc'!A0@x.example"
    Browser().post("/login/", {"username": hostile, "password": "wrong-password-123"})
    event = AuditEvent.objects.get(action="staff.sign_in_failed")
    assert event.outcome == "denied"
    assert event.actor_kind == "anonymous"
    assert event.actor_user_id is None
    assert event.actor_label == hostile.lower()
