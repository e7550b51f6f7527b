"""Client intake link pages: the contact's public page and the onboarding staff's pages."""

import logging
import re
from datetime import timedelta

import pytest
import structlog
import time_machine
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client as Browser
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.html import escape

from audit.models import AuditEvent
from config.logging import build_logging_config
from intake.models import IntakeLink, StagedCredential
from intake.services import links as services
from tests.audit.helpers import break_audit_inserts
from tests.conftest import sign_in
from tests.factories import SystemFactory
from tests.intake.test_links import (
    NOTES,
    PASSWORD,
    events,
    fresh,
    make_link,
    onboarding_staff,
    own_rate_limit_counters,
    request_ids,
    unsealed,
)
from vault.models import Credential

GONE = "This link has expired or has already been used"
XSS = [
    '<script>alert("kh-xss")</script>',
    '"><img src=x onerror=alert("kh-xss")>',
]


@pytest.fixture(autouse=True)
def _own_rate_limit_counters(settings):
    own_rate_limit_counters(settings)


@pytest.fixture
def olive(client_a):
    return onboarding_staff(client_a)


def contact(token, **extra) -> Browser:
    """A client contact's browser that followed the link (its hash now in the session)."""
    browser = Browser(**extra)
    response = browser.get(f"/intake/{token}/")
    assert response.status_code == 302
    assert response["Location"] == "/intake/"
    return browser


def form_data(link, **by_system) -> dict[str, str]:
    ids = request_ids(link)
    return {
        f"system-{ids[name]}-{field}": value
        for name, given in by_system.items()
        for field, value in given.items()
    }


def dc01(link, **overrides) -> dict[str, str]:
    given = {
        "username": "administrator",
        "secret": PASSWORD,
        "url": "https://dc01.contoso.local",
        "notes": NOTES,
        "mfa_on_path": "no",
        **overrides,
    }
    return form_data(link, DC01=given)


# --- The contact's page ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_page_works_once(olive, client_a):
    link, token = make_link(olive, client_a)
    browser = contact(token)
    for _ in range(2):
        page = browser.get("/intake/")
        assert page.status_code == 200
        body = page.content.decode()
        assert "Pat Contact" in body
        assert "<legend>DC01</legend>" in body
        assert "<legend>Microsoft 365</legend>" in body
        assert "encrypted" in body
        assert "works once" in body
    assert fresh(link).submitted_at is None
    sent = browser.post("/intake/", dc01(link))
    assert sent.status_code == 200
    assert "Thank you" in sent.content.decode()
    assert "received 1 credential" in sent.content.decode()
    assert StagedCredential.objects.count() == 1
    again = browser.post("/intake/", dc01(link, secret="Second-Try"))
    assert again.status_code == 410
    assert GONE in again.content.decode()
    revisit = contact(token).get("/intake/")
    assert revisit.status_code == 410
    assert GONE in revisit.content.decode()
    assert StagedCredential.objects.count() == 1
    assert events("intake_link.submitted", outcome="success").count() == 1
    assert events("intake_link.opened", outcome="success").count() == 2


@pytest.mark.django_db
def test_the_token_leaves_the_address_bar_and_never_reaches_the_session(olive, client_a):
    _, token = make_link(olive, client_a)
    browser = Browser()
    response = browser.get(f"/intake/{token}/", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain == [("/intake/", 302)]
    assert response.request["PATH_INFO"] == "/intake/"
    assert token not in response.content.decode()
    sessions = [session.get_decoded() for session in Session.objects.all()]
    assert token not in str(sessions)
    assert services.intake_token_hash(token=token) in str(sessions)


@pytest.mark.django_db
def test_unknown_expired_revoked_and_used_links_get_identical_responses(olive, client_a):
    used, used_token = make_link(olive, client_a)
    contact(used_token).post("/intake/", dc01(used))
    revoked, revoked_token = make_link(olive, client_a)
    services.intake_link_revoke(actor=olive, link=revoked)
    _, expired_token = make_link(olive, client_a, expires_in_hours=1)
    browsers = [contact(token) for token in ("x" * 43, used_token, revoked_token)]
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        browsers.append(contact(expired_token))
        for method in ("get", "post"):
            answers = {
                (response.status_code, response.content)
                for response in (getattr(browser, method)("/intake/") for browser in browsers)
            }
            assert len(answers) == 1
            status, body = answers.pop()
            assert status == 410
            assert GONE in body.decode()
        # A session that never held a link gets the same page too.
        empty = Browser().get("/intake/")
        assert (empty.status_code, empty.content) == (status, body)
    assert events("intake_link.opened", outcome="denied").count() == 5
    assert events("intake_link.submitted", outcome="denied").count() == 4


@pytest.mark.django_db
def test_the_page_reveals_nothing_else_of_the_msp(olive, alice, admin_user, client_a, client_b):
    make_link(admin_user, client_b, contact_name="Fabrikam Fred")
    make_link(olive, client_a, contact_name="Other Contact")
    SystemFactory(client=client_a, name="Secret-Server-Name")
    link, token = make_link(olive, client_a)
    browser = Browser()
    responses = [browser.get(f"/intake/{token}/"), browser.get("/intake/")]
    responses.append(browser.post("/intake/", dc01(link)))
    responses.append(browser.get("/intake/"))
    assert [r.status_code for r in responses] == [302, 200, 200, 410]
    # Only the form page (no token in its address) names its own origin, so the browser's
    # POST carries an Origin that the CSRF check accepts.
    assert [r["Referrer-Policy"] for r in responses] == [
        "no-referrer",
        "same-origin",
        "no-referrer",
        "no-referrer",
    ]
    for response in responses:
        assert "no-store" in response["Cache-Control"]
        assert "noindex" in response["X-Robots-Tag"]
        assert "script-src 'self'" in response["Content-Security-Policy"]
        assert token not in response.get("Location", "")
    for response in responses[1:]:
        body = response.content.decode()
        for hidden in (
            client_a.name,
            client_b.name,
            "Fabrikam Fred",
            "Other Contact",
            "Secret-Server-Name",
            olive.email,
            alice.email,
            admin_user.email,
            "Olive Onboarding",
            "topbar",
            "Sign out",
        ):
            assert hidden not in body
        assert "<script>" not in body
        assert "style=" not in body
        assert 'name="robots" content="noindex' in body


@pytest.mark.django_db
def test_every_input_has_a_label_naming_its_system(olive, client_a):
    link, token = make_link(olive, client_a)
    body = contact(token).get("/intake/").content.decode()
    ids = re.findall(r'<(?:input|select|textarea)[^>]* id="([^"]+)"', body)
    assert len(ids) == 2 * 6
    for element_id in ids:
        assert f'<label for="{element_id}">' in body
    dc01_id = request_ids(link)["DC01"]
    label = re.search(rf'<label for="system-{dc01_id}-secret">(.*?)</label>', body).group(1)
    assert re.sub(r"<[^>]+>", "", label) == "Password for DC01"


@pytest.mark.django_db
def test_values_that_need_another_look_come_back_without_the_password(olive, client_a):
    link, token = make_link(olive, client_a)
    browser = contact(token)
    response = browser.post("/intake/", dc01(link, url="javascript:alert(1)"))
    assert response.status_code == 400
    body = response.content.decode()
    assert "web address starting with https://" in body
    assert 'value="administrator"' in body
    assert PASSWORD not in body
    assert NOTES not in body
    assert response["Referrer-Policy"] == "same-origin"
    assert fresh(link).submitted_at is None
    assert browser.post("/intake/", dc01(link)).status_code == 200


@pytest.mark.django_db
def test_sending_needs_the_csrf_token(olive, client_a):
    link, token = make_link(olive, client_a)
    browser = contact(token, enforce_csrf_checks=True)
    page = browser.get("/intake/").content.decode()
    assert browser.post("/intake/", dc01(link)).status_code == 403
    assert fresh(link).submitted_at is None
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = browser.post("/intake/", {**dc01(link), "csrfmiddlewaretoken": csrf})
    assert response.status_code == 200
    assert StagedCredential.objects.count() == 1


@pytest.mark.django_db
def test_a_failing_audit_write_stages_nothing_and_uses_nothing_up(olive, client_a):
    link, token = make_link(olive, client_a)
    browser = contact(token)
    break_audit_inserts()
    response = browser.post("/intake/", dc01(link))
    assert response.status_code == 503
    assert "Nothing was saved" in response.content.decode()
    assert fresh(link).submitted_at is None
    assert not StagedCredential.objects.exists()


@pytest.mark.django_db
def test_too_many_requests_from_one_address_get_a_429_page(olive, client_a, settings):
    settings.INTAKE_LINK_RATE_PER_ADDRESS = "3/h"
    link, token = make_link(olive, client_a)
    browser = contact(token)
    statuses = [browser.get("/intake/").status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 429]
    limited = browser.get("/intake/")
    assert limited.status_code == 429
    assert "Too many tries" in limited.content.decode()
    assert int(limited["Retry-After"]) >= 1
    assert "no-store" in limited["Cache-Control"]
    # Another address is not affected.
    assert contact(token, REMOTE_ADDR="198.51.100.4").get("/intake/").status_code == 200
    event = events("intake_link.rate_limited").get()
    assert (event.outcome, event.client_id, event.details) == (
        "denied",
        client_a.pk,
        {"scope": "address", "intake_link": str(link.pk)},
    )


@pytest.mark.django_db
def test_too_many_requests_for_one_link_get_a_429_page(olive, client_a, settings):
    settings.INTAKE_LINK_RATE_PER_LINK = "4/h"
    link, token = make_link(olive, client_a)
    first, second, third = (Browser(REMOTE_ADDR=f"198.51.100.{n}") for n in (1, 2, 3))
    statuses = [
        first.get(f"/intake/{token}/").status_code,
        first.post("/intake/", {}).status_code,
        second.get(f"/intake/{token}/").status_code,
        second.post("/intake/", {}).status_code,
        third.get(f"/intake/{token}/").status_code,
        second.post("/intake/", dc01(link)).status_code,
    ]
    assert statuses == [302, 400, 302, 400, 429, 429]
    assert fresh(link).submitted_at is None
    event = events("intake_link.rate_limited").get()
    assert (event.client_id, event.details) == (
        client_a.pk,
        {"scope": "link", "intake_link": str(link.pk)},
    )


@pytest.mark.django_db
@pytest.mark.parametrize("payload", XSS)
def test_markup_from_the_contact_renders_inert_on_the_staff_pages(client, olive, client_a, payload):
    link, token = make_link(olive, client_a, systems=(f"DC01 {payload}",), contact_name=payload)
    system_id = request_ids(link)[f"DC01 {payload}"]
    browser = contact(token)
    page = browser.get("/intake/").content.decode()
    assert payload not in page
    assert escape(payload) in page
    sent = browser.post(
        "/intake/",
        {
            f"system-{system_id}-username": f"user{payload}",
            f"system-{system_id}-secret": PASSWORD,
            f"system-{system_id}-url": "https://portal.contoso.local/login",
            f"system-{system_id}-notes": f"Notes {payload}",
        },
    )
    assert sent.status_code == 200, sent.content.decode()
    sign_in(client, olive)
    for path in (
        f"/clients/{client_a.slug}/intake-links/",
        f"/clients/{client_a.slug}/intake-links/{link.pk}/",
    ):
        body = client.get(path).content.decode()
        assert payload not in body
        assert escape(payload) in body
        assert PASSWORD not in body


@pytest.mark.django_db
def test_sent_values_are_sealed_in_the_database(olive, client_a):
    link, token = make_link(olive, client_a)
    contact(token).post("/intake/", dc01(link))
    row = StagedCredential.objects.get()
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret, notes FROM intake_stagedcredential")
        raw = b"".join(bytes(value) for value in cursor.fetchone())
    assert PASSWORD.encode() not in raw
    assert NOTES.encode() not in raw
    assert unsealed(row, "secret") == PASSWORD


# --- Staff pages -------------------------------------------------------------------------------


def list_url(client_a, suffix=""):
    return f"/clients/{client_a.slug}/intake-links/{suffix}"


def create_data(**overrides) -> dict[str, str]:
    data = {
        "contact_name": "Pat Contact",
        "contact_email": "pat@contoso.example",
        "message": "",
        "expires_in_hours": "72",
        "systems-TOTAL_FORMS": "3",
        "systems-INITIAL_FORMS": "0",
        "systems-MIN_NUM_FORMS": "0",
        "systems-MAX_NUM_FORMS": "20",
        "systems-0-system_name": "DC01",
        "systems-0-credential_type": "domain_admin",
        "systems-1-system_name": "Microsoft 365",
        "systems-2-system_name": "",
        "create": "1",
    }
    return {**data, **overrides}


@pytest.mark.django_db
def test_staff_create_a_link_and_see_it_once(client, olive, client_a):
    sign_in(client, olive)
    page = client.get(list_url(client_a))
    assert page.status_code == 200
    body = page.content.decode()
    for label in ("Contact name", "System 1 name", "System 3 credential type", "System 2 note"):
        assert f">{label}</label>" in body
    response = client.post(list_url(client_a), create_data())
    assert response.status_code == 200
    body = response.content.decode()
    token = re.search(r"http://testserver/intake/([A-Za-z0-9_-]{43})/", body).group(1)
    assert 'data-copy-from="intake-new-link"' in body
    link = IntakeLink.objects.get()
    assert link.token_hash == services.intake_token_hash(token=token)
    assert [r.system_name for r in link.requests.all()] == ["DC01", "Microsoft 365"]
    assert link.requests.first().credential_type == "domain_admin"
    assert events("intake_link.created").count() == 1
    detail = client.get(list_url(client_a, f"{link.pk}/")).content.decode()
    assert "<td>DC01</td><td>Domain admin</td>" in detail
    assert "<td>Microsoft 365</td><td>Not sure</td>" in detail
    later = client.get(list_url(client_a)).content.decode()
    assert token not in later
    assert "Pat Contact" in later
    assert "Waiting for the contact" in later
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_add_another_system_keeps_what_was_typed_and_creates_nothing(client, olive, client_a):
    sign_in(client, olive)
    data = create_data(contact_name="Pat Typed", create="")
    data.pop("create")
    response = client.post(list_url(client_a), {**data, "add_system": "1"})
    assert response.status_code == 200
    body = response.content.decode()
    assert ">System 4 name</label>" in body
    assert 'value="Pat Typed"' in body
    assert 'value="Microsoft 365"' in body
    assert "field-error" not in body
    assert not IntakeLink.objects.exists()


@pytest.mark.django_db
def test_create_keeps_what_was_typed_when_the_input_is_wrong(client, olive, client_a):
    sign_in(client, olive)
    response = client.post(
        list_url(client_a),
        create_data(**{"systems-0-system_name": "", "systems-1-system_name": ""}),
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "List at least one system" in body
    assert 'value="Pat Contact"' in body
    response = client.post(list_url(client_a), create_data(expires_in_hours="900"))
    assert response.status_code == 400
    assert "less than or equal to 720" in response.content.decode()
    assert not IntakeLink.objects.exists()


@pytest.mark.django_db
def test_the_list_shows_each_links_status_in_a_constant_number_of_queries(client, olive, client_a):
    sign_in(client, olive)
    make_link(olive, client_a)
    with CaptureQueriesContext(connection) as one:
        assert client.get(list_url(client_a)).status_code == 200
    used, used_token = make_link(olive, client_a, contact_name="Used Ursula")
    contact(used_token).post("/intake/", dc01(used))
    revoked, _ = make_link(olive, client_a, contact_name="Revoked Rita")
    services.intake_link_revoke(actor=olive, link=revoked)
    expired, _ = make_link(olive, client_a, contact_name="Expired Eve")
    IntakeLink.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    with CaptureQueriesContext(connection) as four:
        response = client.get(list_url(client_a))
    assert len(four) == len(one)
    body = response.content.decode()
    for label in ("Submitted", "Revoked", "Expired", "Waiting for the contact", "1 waiting"):
        assert label in body


@pytest.mark.django_db
def test_staff_accept_one_entry_and_reject_another_without_seeing_a_secret(client, olive, client_a):
    system = SystemFactory(client=client_a, name="DC01")
    link, token = make_link(olive, client_a)
    other = {"username": "m365admin", "secret": "M365-Typed-Secret-11"}
    contact(token).post("/intake/", {**dc01(link), **form_data(link, **{"Microsoft 365": other})})
    first, second = StagedCredential.objects.order_by("request__position")
    sign_in(client, olive)
    detail = client.get(list_url(client_a, f"{link.pk}/"))
    assert detail.status_code == 200
    body = detail.content.decode()
    assert "administrator" in body
    assert "m365admin" in body
    for secret in (PASSWORD, NOTES, "M365-Typed-Secret-11"):
        assert secret not in body
    assert "Revoke link" not in body
    # The accept form names the client's system of the same name.
    assert f'<option value="{system.pk}" selected>DC01</option>' in body
    labels = re.findall(r"<label for=\"[^\"]+\">(.*?)</label>", body)
    names = {re.sub(r"<[^>]+>", "", label) for label in labels}
    assert {"Name in the vault for DC01", "Rejection reason for Microsoft 365"} <= names
    prefix = f"entry-{first.pk}"
    accepted = client.post(
        list_url(client_a, f"{link.pk}/entries/{first.pk}/accept/"),
        {
            f"{prefix}-name": "DC01 administrator",
            f"{prefix}-credential_type": "domain_admin",
            f"{prefix}-system": str(system.pk),
            f"{prefix}-host": "dc01.contoso.local",
        },
    )
    assert accepted.status_code == 302
    credential = Credential.objects.get()
    assert (credential.name, credential.source, credential.system_id, credential.host) == (
        "DC01 administrator",
        "client_link",
        system.pk,
        "dc01.contoso.local",
    )
    rejected = client.post(
        list_url(client_a, f"{link.pk}/entries/{second.pk}/reject/"),
        {f"entry-{second.pk}-reason": "The contact sent the wrong account"},
    )
    assert rejected.status_code == 302
    row = StagedCredential.objects.get(pk=second.pk)
    assert (row.status, bytes(row.secret)) == ("rejected", b"")
    after = client.get(list_url(client_a, f"{link.pk}/")).content.decode()
    assert "Accepted into the vault" in after
    assert "The contact sent the wrong account" in after
    assert "Accept<" not in after
    assert events("staged_credential.accepted").count() == 1
    assert events("staged_credential.rejected").count() == 1


@pytest.mark.django_db
def test_a_refused_review_shows_its_message_beside_the_entry(client, olive, client_a):
    link, token = make_link(olive, client_a)
    contact(token).post("/intake/", dc01(link))
    entry = StagedCredential.objects.get()
    sign_in(client, olive)
    prefix = f"entry-{entry.pk}"
    response = client.post(
        list_url(client_a, f"{link.pk}/entries/{entry.pk}/accept/"),
        {
            f"{prefix}-name": "DC01",
            f"{prefix}-credential_type": "standard_user",
            f"{prefix}-host": "ftp://files.contoso.local",
        },
    )
    assert response.status_code == 400
    assert "Enter a host name" in response.content.decode()
    reject = client.post(list_url(client_a, f"{link.pk}/entries/{entry.pk}/reject/"), {})
    assert reject.status_code == 400
    assert StagedCredential.objects.get().status == "pending"
    assert not Credential.objects.exists()


@pytest.mark.django_db
def test_staff_revoke_a_waiting_link(client, olive, client_a):
    link, token = make_link(olive, client_a)
    sign_in(client, olive)
    page = client.get(list_url(client_a, f"{link.pk}/")).content.decode()
    assert "Revoke link" in page
    response = client.post(list_url(client_a, f"{link.pk}/revoke/"), follow=True)
    assert response.status_code == 200
    assert "was revoked" in response.content.decode()
    assert fresh(link).revoked_by_id == olive.pk
    assert contact(token).get("/intake/").status_code == 410
    again = client.post(list_url(client_a, f"{link.pk}/revoke/"))
    assert again.status_code == 400
    assert "nothing to revoke" in again.content.decode()
    assert events("intake_link.revoked").count() == 1


@pytest.mark.django_db
def test_use_level_staff_are_refused_and_other_clients_staff_get_not_found(
    client, olive, bob, charlie, client_a
):
    link, token = make_link(olive, client_a)
    contact(token).post("/intake/", dc01(link))
    entry = StagedCredential.objects.get()
    paths = [
        ("get", list_url(client_a)),
        ("post", list_url(client_a)),
        ("get", list_url(client_a, f"{link.pk}/")),
        ("post", list_url(client_a, f"{link.pk}/revoke/")),
        ("post", list_url(client_a, f"{link.pk}/entries/{entry.pk}/accept/")),
        ("post", list_url(client_a, f"{link.pk}/entries/{entry.pk}/reject/")),
    ]
    for person, status in ((bob, 403), (charlie, 404)):
        sign_in(client, person)
        for method, path in paths:
            response = getattr(client, method)(path, create_data())
            assert response.status_code == status, (person, path)
            assert "Pat Contact" not in response.content.decode()
    assert IntakeLink.objects.count() == 1
    assert (fresh(link).revoked_at, StagedCredential.objects.get().status) == (None, "pending")
    assert (
        not AuditEvent.objects.filter(action="intake_link.created", outcome="success")
        .exclude(actor_user_id=olive.pk)
        .exists()
    )


@pytest.mark.django_db
def test_the_token_never_reaches_the_logs_the_session_or_the_database(olive, client_a, caplog):
    caplog.set_level(logging.DEBUG)
    link, token = make_link(olive, client_a)
    browser = contact(token)
    browser.get("/intake/")
    browser.post("/intake/", dc01(link))
    contact(token).get("/intake/")
    config = build_logging_config("DEBUG", json_output=True)["formatters"]["structured"]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=config["foreign_pre_chain"], processors=config["processors"]
    )
    assert any(token in str(record.msg) for record in caplog.records), "the path was logged"
    rendered = "\n".join(formatter.format(record) for record in caplog.records)
    assert "/intake/[redacted]" in rendered
    assert token not in rendered
    assert PASSWORD not in rendered
    assert NOTES not in rendered
    sessions = [session.session_data for session in Session.objects.all()]
    assert token not in str(sessions)
    dump = "|".join(str(row) for row in IntakeLink.objects.values_list())
    dump += "|".join(str(row) for row in AuditEvent.objects.values_list())
    assert token not in dump
