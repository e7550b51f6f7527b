"""The administrators' webhook pages: who may open them, the secret shown once, the delivery
log (newest first, paginated, constant queries, only clients the reader can see), escaping."""

import uuid
from datetime import timedelta

import pytest
from django.test import Client as Browser
from django.utils import timezone

from accounts.models import Role
from audit.models import AuditEvent
from integrations.models import WebhookDelivery, WebhookSubscription
from integrations.services import webhooks
from tenants.models import AccessLevel
from tenants.services import assignment_grant
from tests.conftest import sign_in
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
LIST = "/integrations/webhooks/"
NEW = "/integrations/webhooks/new/"
XSS = '<script>alert("hook")</script>'
# Session, user, MFA device, roles, the page's own reads, the unread-notices badge, the
# session's save (savepoint, update, release).
QUERIES_LIST = 9
QUERIES_LOG = 12


@pytest.fixture(autouse=True)
def _http_receivers_allowed(settings):
    settings.WEBHOOK_ALLOW_HTTP = True


def subscribe(admin, **extra) -> tuple[WebhookSubscription, str]:
    return webhooks.webhook_subscription_create(
        actor=admin,
        name=extra.pop("name", "SIEM"),
        url=extra.pop("url", "https://hooks.example.com/keyhold"),
        event_types=extra.pop("event_types", ["credential.revealed"]),
        **extra,
    )


def add_deliveries(subscription, count, *, client=None, status="delivered", start=1000):
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            subscription=subscription,
            audit_sequence=start + number,
            event_type="credential.revealed",
            client=client,
            payload={
                "target": {"type": "vault.credential", "id": "x", "label": f"Cred {number}"},
                "client": {"id": str(client.pk), "name": client.name} if client else None,
            },
            status=status,
            attempts=1,
            last_status_code=204 if status == "delivered" else 500,
            last_error="" if status == "delivered" else "hooks.example.com answered 500.",
            created_at=timezone.now() + timedelta(seconds=number),
        )
        for number in range(count)
    )


def browser_for(user) -> Browser:
    browser = Browser()
    sign_in(browser, user)
    return browser


def pages(subscription, delivery_id=None):
    base = f"{LIST}{subscription.pk}/"
    return [
        ("get", LIST),
        ("get", NEW),
        ("post", NEW),
        ("get", base),
        ("get", f"{base}edit/"),
        ("post", f"{base}edit/"),
        ("post", f"{base}rotate-secret/"),
        ("post", f"{base}test/"),
        ("get", f"{base}delete/"),
        ("post", f"{base}delete/"),
        ("post", f"{base}deliveries/{delivery_id or uuid.uuid4()}/retry/"),
    ]


def test_managers_and_technicians_are_refused_every_page(admin_user, alice, bob, charlie):
    subscription, _ = subscribe(admin_user)
    for person in (alice, bob, charlie):
        browser = browser_for(person)
        for method, url in pages(subscription):
            response = getattr(browser, method)(url)
            assert response.status_code == 403, (person.email, method, url)
            assert "Only administrators" in response.content.decode()
    assert WebhookSubscription.objects.get().name == "SIEM"
    assert not AuditEvent.objects.filter(action="webhook.test_sent", outcome="success").exists()


def test_an_unknown_subscription_or_delivery_is_404_for_an_administrator(admin_user):
    subscription, _ = subscribe(admin_user)
    browser = browser_for(admin_user)
    missing = f"{LIST}{uuid.uuid4()}/"
    for url in (missing, f"{missing}edit/", f"{missing}delete/"):
        assert browser.get(url).status_code == 404
    retry = f"{LIST}{subscription.pk}/deliveries/{uuid.uuid4()}/retry/"
    assert browser.post(retry).status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(admin_user):
    subscription, _ = subscribe(admin_user)
    for method, url in pages(subscription):
        response = getattr(Browser(), method)(url)
        assert response.status_code == 302
        assert "/login/" in response["Location"]


def test_an_administrator_subscribes_and_sees_the_secret_only_once(admin_user, client_a):
    browser = browser_for(admin_user)
    assert browser.get(NEW).status_code == 200
    response = browser.post(
        NEW,
        {
            "name": "SIEM",
            "url": "https://hooks.example.com/keyhold",
            "event_types": ["credential.revealed", "credential.emergency_opened"],
            "clients": [str(client_a.pk)],
        },
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    subscription = WebhookSubscription.objects.get()
    secret = webhooks._open(subscription)
    assert secret in page
    assert "shown only this once" in page
    assert subscription.event_types == ["credential.emergency_opened", "credential.revealed"]
    assert list(subscription.clients.all()) == [client_a]
    event = AuditEvent.objects.get(action="webhook.subscription_created")
    assert event.actor_user_id == admin_user.pk
    for url in (LIST, f"{LIST}{subscription.pk}/", f"{LIST}{subscription.pk}/edit/"):
        again = browser.get(url)
        assert again.status_code == 200
        assert secret not in again.content.decode()


def test_a_refused_address_keeps_what_was_typed(admin_user, settings):
    settings.WEBHOOK_ALLOW_HTTP = False
    browser = browser_for(admin_user)
    response = browser.post(
        NEW,
        {"name": "Lab relay", "url": "http://relay.lab/", "event_types": ["credential.revealed"]},
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert "must use https://" in page
    assert 'value="Lab relay"' in page
    assert 'value="http://relay.lab/"' in page
    assert not WebhookSubscription.objects.exists()


def test_the_name_is_escaped_on_every_page(admin_user):
    subscription, _ = subscribe(admin_user, name=XSS)
    browser = browser_for(admin_user)
    base = f"{LIST}{subscription.pk}/"
    for url in (LIST, base, f"{base}edit/", f"{base}delete/"):
        page = browser.get(url).content.decode()
        assert XSS not in page, url
        assert "&lt;script&gt;alert(&quot;hook&quot;)&lt;/script&gt;" in page, url
    rotated = browser.post(f"{base}rotate-secret/").content.decode()
    assert XSS not in rotated


def test_the_list_shows_the_last_delivery_in_a_constant_number_of_queries(
    admin_user, client_a, django_assert_num_queries
):
    browser = browser_for(admin_user)
    first, _ = subscribe(admin_user, name="First")
    add_deliveries(first, 2, client=client_a, status="failed")
    browser.get(LIST)
    with django_assert_num_queries(QUERIES_LIST) as one:
        response = browser.get(LIST)
    assert "hooks.example.com answered 500." in response.content.decode()
    for number in range(6):
        more, _ = subscribe(admin_user, name=f"Hook {number}", clients=[client_a])
        add_deliveries(more, 3, client=client_a)
    with django_assert_num_queries(len(one.captured_queries)):
        response = browser.get(LIST)
    page = response.content.decode()
    assert page.count("Delivered") == 6
    assert page.count("Failed") == 1


def test_the_delivery_log_is_newest_first_paginated_and_constant_in_queries(
    admin_user, client_a, django_assert_num_queries
):
    subscription, _ = subscribe(admin_user)
    add_deliveries(subscription, 1, client=client_a)
    browser = browser_for(admin_user)
    url = f"{LIST}{subscription.pk}/"
    browser.get(url)
    with django_assert_num_queries(QUERIES_LOG) as one:
        browser.get(url)
    add_deliveries(subscription, 120, client=client_a, start=2000)
    with django_assert_num_queries(len(one.captured_queries)):
        response = browser.get(url)
    page = response.content.decode()
    assert page.count("data-delivery=") == 50
    assert "Page 1 of 3" in page
    assert page.index("Cred 119") < page.index("Cred 118")
    last = browser.get(f"{url}?page=3").content.decode()
    assert last.count("data-delivery=") == 21


def test_the_delivery_log_hides_deliveries_of_clients_the_reader_is_not_assigned_to(
    admin_user, client_a, client_b
):
    subscription, _ = subscribe(admin_user)
    add_deliveries(subscription, 1, client=client_a)
    add_deliveries(subscription, 1, client=client_b, start=5000)
    reader = UserFactory(roles=[Role.ADMINISTRATOR])
    assignment_grant(actor=None, client=client_a, user=reader, level=AccessLevel.VIEW)
    page = browser_for(reader).get(f"{LIST}{subscription.pk}/").content.decode()
    assert "Contoso Dental" in page
    assert "Fabrikam Logistics" not in page
    hidden = WebhookDelivery.objects.get(client=client_b)
    hidden.status = "failed"
    hidden.save()
    retry = f"{LIST}{subscription.pk}/deliveries/{hidden.pk}/retry/"
    assert browser_for(reader).post(retry).status_code == 404


def test_send_test_event_and_retry_now_buttons_act_and_come_back_to_the_log(
    admin_user, client_a, django_capture_on_commit_callbacks
):
    subscription, _ = subscribe(admin_user, url="http://127.0.0.1:9/unreachable")
    browser = browser_for(admin_user)
    base = f"{LIST}{subscription.pk}/"
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(f"{base}test/")
    assert response.status_code == 302
    assert response["Location"] == base
    test_delivery = WebhookDelivery.objects.get(event_type="webhook.test")
    assert (test_delivery.attempts, test_delivery.status) == (1, "pending")
    assert AuditEvent.objects.filter(action="webhook.test_sent").count() == 1

    add_deliveries(subscription, 1, client=client_a, status="failed")
    WebhookDelivery.objects.filter(status="failed").update(attempts=webhooks.MAX_ATTEMPTS)
    failed = WebhookDelivery.objects.get(status="failed")
    page = browser.get(base).content.decode()
    assert "Retry now" in page
    assert "Could not connect to 127.0.0.1." in page
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(f"{base}deliveries/{failed.pk}/retry/")
    assert response.status_code == 302
    failed.refresh_from_db()
    # Its retries were used up: one more failed try fails it again, at once.
    assert (failed.status, failed.attempts) == ("failed", webhooks.MAX_ATTEMPTS + 1)
    assert AuditEvent.objects.filter(action="webhook.delivery_retried").count() == 1


def test_editing_pausing_rotating_and_deleting_from_the_pages(admin_user):
    subscription, first_secret = subscribe(admin_user)
    browser = browser_for(admin_user)
    base = f"{LIST}{subscription.pk}/"
    response = browser.post(
        f"{base}edit/",
        {
            "name": "SIEM 2",
            "url": "https://siem.example/in",
            "event_types": ["rotation.task_overdue"],
        },
    )
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert (subscription.name, subscription.is_active) == ("SIEM 2", False)
    assert subscription.event_types == ["rotation.task_overdue"]

    rotated = browser.post(f"{base}rotate-secret/")
    new_secret = webhooks._open(WebhookSubscription.objects.get())
    assert new_secret != first_secret
    assert new_secret in rotated.content.decode()
    assert "no-store" in rotated["Cache-Control"]

    assert "Delete SIEM 2?" in browser.get(f"{base}delete/").content.decode()
    assert browser.post(f"{base}delete/")["Location"] == LIST
    assert not WebhookSubscription.objects.exists()


def test_the_psa_settings_page_links_to_webhooks(admin_user):
    page = browser_for(admin_user).get("/rotation/psa/").content.decode()
    assert f'href="{LIST}"' in page
