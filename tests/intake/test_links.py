"""Client intake links (issue 6, item 2): creation, the one submission, staging, review.

Actions covered here, one event each: intake_link.created, intake_link.revoked,
intake_link.opened, intake_link.submitted, intake_link.rate_limited,
staged_credential.accepted, staged_credential.rejected.
"""

import hashlib
import threading
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.test import Client as Browser
from django.utils import timezone

from accounts.models import Notification, OutboxMessage, Role
from audit.models import AuditEvent
from config.errors import AccessDenied, FieldInvalid, InvalidRequest, NotFound
from intake.models import STAGED_CREDENTIAL_RECORD_TYPE, IntakeLink, StagedCredential
from intake.services import links as services
from tenants.models import AccessLevel, Client
from tenants.services import assignment_grant
from tests.factories import SystemFactory, UserFactory
from tests.vault.test_credentials import opened
from vault.envelope import field_decrypt
from vault.models import Credential, CredentialType
from vault.services import credential_reveal

PASSWORD = "Contact-Typed-Pa55-9d1e"
NOTES = "Contact-Notes-4c7a: the VPN needs the token too"
TOTP = "JBSWY3DPEHPKINTAKE"
SYSTEMS = ("DC01", "Microsoft 365")


def own_rate_limit_counters(settings) -> None:
    """Each test counts its own hits, whatever the cache (Redis keeps counts between runs)."""
    settings.RATELIMIT_CACHE_PREFIX = f"rl-test-{uuid.uuid4().hex}:"


def onboarding_staff(client):
    """Olive: onboarding staff with manage access to the client."""
    user = UserFactory(
        email="olive@msp.example", full_name="Olive Onboarding", roles=[Role.ONBOARDING]
    )
    assignment_grant(actor=None, client=client, user=user, level=AccessLevel.MANAGE)
    return user


@pytest.fixture(autouse=True)
def _own_rate_limit_counters(settings):
    own_rate_limit_counters(settings)


@pytest.fixture
def olive(client_a):
    return onboarding_staff(client_a)


def make_link(actor, client, *, systems=SYSTEMS, **fields):
    requests = [
        {"system_name": name, "credential_type": "", "username_hint": "", "note": ""}
        for name in systems
    ]
    fields.setdefault("contact_name", "Pat Contact")
    return services.intake_link_create(actor=actor, client=client, requests=requests, **fields)


def request_ids(link) -> dict[str, str]:
    """System name -> requested system id."""
    return {request.system_name: str(request.pk) for request in link.requests.all()}


def values(link, **by_system) -> dict[str, dict[str, str]]:
    ids = request_ids(link)
    return {ids[name]: given for name, given in by_system.items()}


def full_values(link) -> dict[str, dict[str, str]]:
    return values(
        link,
        DC01={
            "username": "CONTOSO\\administrator",
            "secret": PASSWORD,
            "url": "https://dc01.contoso.local",
            "notes": NOTES,
            "totp": TOTP,
            "mfa_on_path": "yes",
        },
    )


def submit(token, given, client_ip="203.0.113.7"):
    return services.intake_link_submit(
        actor=None,
        token_hash=services.intake_token_hash(token=token),
        values=given,
        client_ip=client_ip,
    )


def open_page(token):
    return services.intake_link_open(actor=None, token_hash=services.intake_token_hash(token=token))


def events(action, **filters):
    return AuditEvent.objects.filter(action=action, **filters)


def fresh(link) -> IntakeLink:
    return IntakeLink.objects.get(pk=link.pk)


def unsealed(staged: StagedCredential, field: str) -> str:
    with transaction.atomic():
        return field_decrypt(
            client=staged.client,
            record_type=STAGED_CREDENTIAL_RECORD_TYPE,
            record_id=str(staged.pk),
            field=field,
            sealed=getattr(staged, field),
        ).decode()


def database_text() -> str:
    dump = "|".join(str(row) for row in IntakeLink.objects.values_list())
    dump += "|".join(str(row) for row in StagedCredential.objects.values_list())
    dump += "|".join(str(row) for row in AuditEvent.objects.values_list())
    dump += "|".join(str(row) for row in Notification.objects.values_list())
    dump += "|".join(str(row) for row in OutboxMessage.objects.values_list())
    return dump


# --- Creation ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_create_stores_only_the_token_hash_the_systems_and_one_event(olive, client_a):
    link, token = make_link(olive, client_a, contact_email="pat@contoso.example", message="Hi")
    row = fresh(link)
    assert len(token) >= 43
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert (row.client_id, row.created_by_id, row.contact_name, row.contact_email) == (
        client_a.pk,
        olive.pk,
        "Pat Contact",
        "pat@contoso.example",
    )
    assert row.expires_at - row.created_at == timedelta(hours=72)
    assert [(r.position, r.system_name) for r in row.requests.all()] == [
        (0, "DC01"),
        (1, "Microsoft 365"),
    ]
    assert token not in database_text()
    event = events("intake_link.created").get()
    assert (event.actor_user_id, event.client_id, event.outcome) == (
        olive.pk,
        client_a.pk,
        "success",
    )
    assert event.details == {
        "intake_link": str(link.pk),
        "contact": "Pat Contact",
        "systems": 2,
        "expires_in_hours": 72,
    }


@pytest.mark.django_db
def test_tokens_are_256_bit_random_and_unique(olive, client_a):
    tokens = {make_link(olive, client_a)[1] for _ in range(5)}
    assert len(tokens) == 5
    assert all(len(token) == 43 for token in tokens)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"contact_name": " "}, "contact_name", "Enter the contact's name."),
        ({"contact_email": "not-an-address"}, "contact_email", "Enter the contact's email"),
        ({"expires_in_hours": 0}, "expires_in_hours", "from 1 to 720"),
        ({"expires_in_hours": 721}, "expires_in_hours", "from 1 to 720"),
        ({"systems": ("", " ")}, "systems", "List at least one system"),
        ({"systems": [f"S{n}" for n in range(21)]}, "systems", "at most 20 systems"),
        ({"systems": ["x" * 201]}, "systems", "A system name is at most 200 characters."),
    ],
)
def test_create_refuses_bad_input_with_a_message_for_its_field(
    olive, client_a, fields, field, message
):
    with pytest.raises(FieldInvalid, match=message) as refused:
        make_link(olive, client_a, **fields)
    assert refused.value.field == field
    assert not IntakeLink.objects.exists()
    assert not events("intake_link.created").exists()


@pytest.mark.django_db
def test_create_refuses_an_unknown_credential_type(olive, client_a):
    with pytest.raises(FieldInvalid, match="not a known credential type"):
        services.intake_link_create(
            actor=olive,
            client=client_a,
            contact_name="Pat",
            requests=[{"system_name": "DC01", "credential_type": "root_of_all"}],
        )
    assert not IntakeLink.objects.exists()


@pytest.mark.django_db
def test_create_needs_manage_level_and_another_clients_staff_get_not_found(
    alice, bob, charlie, client_a
):
    with pytest.raises(AccessDenied, match="needs manage access"):
        make_link(bob, client_a)
    with pytest.raises(NotFound):
        make_link(charlie, client_a)
    assert not IntakeLink.objects.exists()
    denied = events("intake_link.created", outcome="denied")
    assert {event.actor_user_id for event in denied} == {bob.pk, charlie.pk}
    link, _ = make_link(alice, client_a)
    assert fresh(link).created_by_id == alice.pk


# --- The contact's side ---------------------------------------------------------------------


@pytest.mark.django_db
def test_open_shows_what_was_asked_consumes_nothing_and_leaves_one_event(olive, client_a):
    link, token = make_link(olive, client_a, message="Thanks for your help")
    page = open_page(token)
    assert (page.contact_name, page.message) == ("Pat Contact", "Thanks for your help")
    assert [system.system_name for system in page.systems] == list(SYSTEMS)
    assert open_page(token).systems == page.systems
    assert fresh(link).submitted_at is None
    opened = events("intake_link.opened")
    assert opened.count() == 2
    event = opened.first()
    assert (event.actor_user_id, event.actor_kind, event.outcome, event.client_id) == (
        None,
        "anonymous",
        "success",
        client_a.pk,
    )
    assert event.actor_label == services.LINK_HOLDER
    assert event.details == {"intake_link": str(link.pk)}


@pytest.mark.django_db
def test_submit_seals_every_value_with_the_clients_key_and_tells_the_creator(olive, client_a):
    link, token = make_link(olive, client_a)
    staged = submit(token, full_values(link))
    assert len(staged) == 1
    row = StagedCredential.objects.get()
    assert (row.client_id, row.link_id, row.system_name, row.username, row.url) == (
        client_a.pk,
        link.pk,
        "DC01",
        "CONTOSO\\administrator",
        "https://dc01.contoso.local",
    )
    assert (row.mfa_on_path, row.status) == ("yes", "pending")
    # The raw columns hold ciphertext only, bound to this row and field.
    for field, plain in (("secret", PASSWORD), ("notes", NOTES), ("totp_seed", TOTP)):
        raw = bytes(getattr(row, field))
        assert plain.encode() not in raw
        assert unsealed(row, field) == plain
    assert fresh(link).submitted_at is not None
    event = events("intake_link.submitted").get()
    assert (event.actor_user_id, event.actor_kind, event.client_id, event.outcome) == (
        None,
        "anonymous",
        client_a.pk,
        "success",
    )
    assert event.actor_label == "client contact via intake link"
    assert event.details == {"intake_link": str(link.pk), "count": 1}
    notice = Notification.objects.get(user=olive)
    assert "Pat Contact sent 1 credential" in notice.message
    assert notice.link == f"/clients/{client_a.slug}/intake-links/{link.pk}/"
    mail = OutboxMessage.objects.get(recipient=olive.email)
    assert "203.0.113.7" in mail.body
    assert f"/clients/{client_a.slug}/intake-links/{link.pk}/" in mail.body
    text = database_text()
    for plain in (PASSWORD, NOTES, TOTP, token):
        assert plain not in text


@pytest.mark.django_db
def test_systems_left_empty_are_skipped(olive, client_a):
    link, token = make_link(olive, client_a)
    given = values(
        link,
        DC01={"secret": PASSWORD},
        **{"Microsoft 365": {"username": "", "secret": "", "mfa_on_path": "unknown"}},
    )
    staged = submit(token, given)
    assert [entry.system_name for entry in staged] == ["DC01"]
    row = StagedCredential.objects.get()
    assert (row.notes, row.totp_seed, row.mfa_on_path) == (None, None, "unknown")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("given", "field", "message"),
    [
        ({"username": "admin"}, "secret", "Enter the password for DC01"),
        ({"secret": "x", "url": "javascript:alert(1)"}, "url", "web address starting"),
        ({"secret": "x", "url": "https://a b"}, "url", "web address starting"),
        ({"secret": "x" * 4097}, "secret", "at most 4096 characters"),
        ({"secret": "x", "mfa_on_path": "maybe"}, "mfa_on_path", "yes, no or I don't know"),
    ],
)
def test_values_that_need_another_look_use_nothing_up(olive, client_a, given, field, message):
    link, token = make_link(olive, client_a)
    with pytest.raises(services.SubmissionInvalid) as refused:
        submit(token, values(link, DC01=given))
    errors = refused.value.errors[request_ids(link)["DC01"]]
    assert message in errors[field]
    assert [system.system_name for system in refused.value.page.systems] == list(SYSTEMS)
    assert fresh(link).submitted_at is None
    assert not StagedCredential.objects.exists()
    assert not events("intake_link.submitted").exists()


@pytest.mark.django_db
def test_a_form_with_nothing_filled_in_is_refused(olive, client_a):
    link, token = make_link(olive, client_a)
    with pytest.raises(services.SubmissionInvalid) as refused:
        submit(token, {})
    assert "at least one system" in refused.value.errors[""][""]
    assert fresh(link).submitted_at is None


@pytest.mark.django_db
def test_a_second_submission_is_refused_and_audited(olive, client_a):
    link, token = make_link(olive, client_a)
    submit(token, full_values(link))
    with pytest.raises(services.IntakeLinkGone):
        submit(token, values(link, DC01={"secret": "Second-Try"}))
    with pytest.raises(services.IntakeLinkGone):
        open_page(token)
    assert StagedCredential.objects.count() == 1
    denied = events("intake_link.submitted", outcome="denied").get()
    assert (denied.reason, denied.details) == (
        "submitted",
        {"intake_link": str(link.pk), "state": "submitted"},
    )
    assert events("intake_link.opened", outcome="denied").get().reason == "submitted"


@pytest.mark.django_db
def test_expired_link_is_refused(olive, client_a):
    link, token = make_link(olive, client_a, expires_in_hours=1)
    with time_machine.travel(timezone.now() + timedelta(hours=1, minutes=1)):
        with pytest.raises(services.IntakeLinkGone):
            open_page(token)
        with pytest.raises(services.IntakeLinkGone):
            submit(token, full_values(link))
    assert fresh(link).submitted_at is None
    assert not StagedCredential.objects.exists()
    assert events("intake_link.opened", outcome="denied").get().reason == "expired"
    assert events("intake_link.submitted", outcome="denied").get().reason == "expired"


@pytest.mark.django_db
def test_revoked_link_is_refused_and_revoking_is_audited(olive, client_a):
    link, token = make_link(olive, client_a)
    services.intake_link_revoke(actor=olive, link=link)
    row = fresh(link)
    assert (row.revoked_by_id, row.revoked_at is not None) == (olive.pk, True)
    event = events("intake_link.revoked").get()
    assert (event.actor_user_id, event.client_id, event.outcome) == (
        olive.pk,
        client_a.pk,
        "success",
    )
    with pytest.raises(services.IntakeLinkGone):
        submit(token, full_values(link))
    assert events("intake_link.submitted", outcome="denied").get().reason == "revoked"
    with pytest.raises(InvalidRequest, match="nothing to revoke"):
        services.intake_link_revoke(actor=olive, link=link)


@pytest.mark.django_db
def test_a_used_link_cannot_be_revoked(olive, client_a):
    link, token = make_link(olive, client_a)
    submit(token, full_values(link))
    with pytest.raises(InvalidRequest, match="nothing to revoke"):
        services.intake_link_revoke(actor=olive, link=link)
    assert fresh(link).revoked_at is None


@pytest.mark.django_db
def test_revoking_needs_manage_level(olive, bob, charlie, client_a):
    link, _ = make_link(olive, client_a)
    with pytest.raises(AccessDenied):
        services.intake_link_revoke(actor=bob, link=link)
    with pytest.raises(NotFound):
        services.intake_link_revoke(actor=charlie, link=link)
    assert fresh(link).revoked_at is None
    assert events("intake_link.revoked", outcome="denied").count() == 2


@pytest.mark.django_db
def test_unknown_expired_revoked_and_used_links_are_refused_alike(olive, client_a):
    """One exception and one message; each refusal leaves one event (the same work)."""
    used, used_token = make_link(olive, client_a)
    submit(used_token, full_values(used))
    revoked, revoked_token = make_link(olive, client_a)
    services.intake_link_revoke(actor=olive, link=revoked)
    expired, expired_token = make_link(olive, client_a)
    IntakeLink.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    before = events("intake_link.opened").count()
    messages = set()
    for token in ("x" * 43, used_token, revoked_token, expired_token):
        with pytest.raises(services.IntakeLinkGone) as refused:
            open_page(token)
        messages.add((refused.value.status, refused.value.message))
    assert messages == {(410, "This link has expired or has already been used.")}
    denied = events("intake_link.opened", outcome="denied").order_by("sequence")
    assert denied.count() - before == 4
    assert [event.reason for event in denied] == ["unknown", "submitted", "revoked", "expired"]
    unknown = denied.first()
    assert (unknown.client_id, unknown.target_id, unknown.details) == (
        None,
        "",
        {"state": "unknown"},
    )
    assert "x" * 43 not in database_text()
    assert hashlib.sha256(b"x" * 43).hexdigest() not in database_text()


@pytest.mark.django_db
@pytest.mark.parametrize("change", ["client_offboarded", "creator_lost_access", "creator_left"])
def test_link_stops_working_when_its_grounds_go_away(olive, client_a, change):
    link, token = make_link(olive, client_a)
    if change == "client_offboarded":
        Client.objects.filter(pk=client_a.pk).update(status=Client.Status.OFFBOARDED)
    elif change == "creator_lost_access":
        olive.assignments.filter(client=client_a).update(revoked_at=timezone.now())
    else:
        type(olive).objects.filter(pk=olive.pk).update(is_active=False)
    with pytest.raises(services.IntakeLinkGone):
        submit(token, full_values(link))
    assert not StagedCredential.objects.exists()
    reason = "client_offboarded" if change == "client_offboarded" else "creator_lost_access"
    assert events("intake_link.submitted", outcome="denied").get().reason == reason


@pytest.mark.django_db
def test_a_rate_limited_burst_is_recorded_with_the_link(olive, client_a):
    link, token = make_link(olive, client_a)
    services.intake_link_rate_limited(
        actor=None, token_hash=services.intake_token_hash(token=token), scope="link"
    )
    services.intake_link_rate_limited(actor=None, token_hash="", scope="address")
    with_link, without = events("intake_link.rate_limited").order_by("sequence")
    assert (with_link.outcome, with_link.client_id, with_link.details) == (
        "denied",
        client_a.pk,
        {"scope": "link", "intake_link": str(link.pk)},
    )
    assert (without.client_id, without.details) == (None, {"scope": "address"})


# --- Review ------------------------------------------------------------------------------------


@pytest.fixture
def staged(olive, client_a):
    link, token = make_link(olive, client_a)
    submit(token, full_values(link))
    return StagedCredential.objects.get()


@pytest.mark.django_db
def test_accept_puts_what_the_contact_typed_into_the_vault(olive, client_a, staged):
    system = SystemFactory(client=client_a, name="DC01")
    credential = services.staged_credential_accept(
        actor=olive,
        staged=staged,
        name="DC01 administrator",
        credential_type=CredentialType.DOMAIN_ADMIN,
        system=system,
    )
    row = Credential.objects.get(pk=credential.pk)
    assert (row.source, row.status, row.client_id, row.system_id) == (
        "client_link",
        "active",
        client_a.pk,
        system.pk,
    )
    assert (row.name, row.username, row.host, row.mfa_on_path) == (
        "DC01 administrator",
        "CONTOSO\\administrator",
        "https://dc01.contoso.local",
        "yes",
    )
    assert row.privilege_tier == "high"
    accepted = StagedCredential.objects.get(pk=staged.pk)
    assert (accepted.status, accepted.credential_id, accepted.reviewed_by_id) == (
        "accepted",
        credential.pk,
        olive.pk,
    )
    # The staged copy is gone; the vault holds the values now.
    assert (bytes(accepted.secret), accepted.notes, accepted.totp_seed) == (b"", None, None)
    event = events("staged_credential.accepted").get()
    assert (event.actor_user_id, event.client_id, event.outcome) == (
        olive.pk,
        client_a.pk,
        "success",
    )
    assert event.details == {
        "intake_link": str(staged.link_id),
        "accepted_as": str(credential.pk),
        "type": "domain_admin",
    }
    created = events("credential.created").get()
    assert created.details["source"] == "client_link"
    # A high-privilege secret is revealed through a checkout; its sealed value is checked here.
    assert opened(row, "secret") == PASSWORD


@pytest.mark.django_db
def test_accept_defaults_the_name_and_keeps_notes_and_seed_sealed_in_the_vault(
    olive, client_a, staged
):
    credential = services.staged_credential_accept(
        actor=olive, staged=staged, credential_type=CredentialType.STANDARD_USER
    )
    assert credential.name == "DC01"
    assert credential_reveal(actor=olive, credential=credential, ticket="T-1") == PASSWORD
    row = Credential.objects.get(pk=credential.pk)
    assert opened(row, "notes") == NOTES
    assert opened(row, "totp_seed") == TOTP
    assert PASSWORD.encode() not in bytes(row.secret)


@pytest.mark.django_db
def test_an_entry_is_reviewed_once(olive, client_a, staged):
    services.staged_credential_accept(
        actor=olive, staged=staged, credential_type=CredentialType.STANDARD_USER
    )
    with pytest.raises(InvalidRequest, match="already accepted"):
        services.staged_credential_accept(
            actor=olive, staged=staged, credential_type=CredentialType.STANDARD_USER
        )
    with pytest.raises(InvalidRequest, match="already accepted"):
        services.staged_credential_reject(actor=olive, staged=staged, reason="Duplicate")
    assert Credential.objects.count() == 1
    assert events("staged_credential.accepted").count() == 1
    assert not events("staged_credential.rejected").exists()


@pytest.mark.django_db
def test_accept_with_an_address_the_vault_refuses_changes_nothing(olive, client_a, staged):
    with pytest.raises(InvalidRequest, match="host name"):
        services.staged_credential_accept(
            actor=olive,
            staged=staged,
            credential_type=CredentialType.STANDARD_USER,
            host="ftp://files.contoso.local",
        )
    row = StagedCredential.objects.get(pk=staged.pk)
    assert (row.status, row.credential_id) == ("pending", None)
    assert unsealed(row, "secret") == PASSWORD
    assert not Credential.objects.exists()
    assert not events("staged_credential.accepted").exists()


@pytest.mark.django_db
def test_reject_wipes_the_values_and_keeps_the_row_as_the_record(olive, client_a, staged):
    services.staged_credential_reject(actor=olive, staged=staged, reason="Not our system")
    row = StagedCredential.objects.get(pk=staged.pk)
    assert (row.status, row.reject_reason, row.reviewed_by_id) == (
        "rejected",
        "Not our system",
        olive.pk,
    )
    assert (bytes(row.secret), row.notes, row.totp_seed) == (b"", None, None)
    assert (row.system_name, row.username) == ("DC01", "CONTOSO\\administrator")
    event = events("staged_credential.rejected").get()
    assert (event.actor_user_id, event.client_id, event.reason) == (
        olive.pk,
        client_a.pk,
        "Not our system",
    )
    assert event.details == {"intake_link": str(staged.link_id)}
    assert not Credential.objects.exists()


@pytest.mark.django_db
def test_reject_needs_a_reason(olive, staged):
    with pytest.raises(FieldInvalid, match=r"Enter why the entry is rejected\."):
        services.staged_credential_reject(actor=olive, staged=staged, reason="  ")
    assert StagedCredential.objects.get(pk=staged.pk).status == "pending"


@pytest.mark.django_db
def test_review_needs_manage_level_and_other_clients_staff_get_not_found(bob, charlie, staged):
    with pytest.raises(AccessDenied):
        services.staged_credential_accept(
            actor=bob, staged=staged, credential_type=CredentialType.STANDARD_USER
        )
    with pytest.raises(NotFound):
        services.staged_credential_reject(actor=charlie, staged=staged, reason="Mine now")
    row = StagedCredential.objects.get(pk=staged.pk)
    assert (row.status, unsealed(row, "secret")) == ("pending", PASSWORD)
    assert events("staged_credential.accepted", outcome="denied").get().actor_user_id == bob.pk
    assert events("staged_credential.rejected", outcome="denied").get().actor_user_id == charlie.pk


# --- Concurrency -------------------------------------------------------------------------------

CONTACTS = 20


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_twenty_concurrent_submissions_stage_exactly_one_set(olive, client_a, settings):
    """Twenty browsers (threads, each with its own connection) press Send at the same moment."""
    settings.INTAKE_LINK_RATE_PER_ADDRESS = "1000/h"
    settings.INTAKE_LINK_RATE_PER_LINK = "1000/h"
    link, token = make_link(olive, client_a)
    ids = request_ids(link)
    barrier = threading.Barrier(CONTACTS)
    results: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def contact(number: int) -> None:
        try:
            browser = Browser()
            assert browser.get(f"/intake/{token}/").status_code == 302
            barrier.wait(timeout=30)
            response = browser.post(
                "/intake/",
                {
                    f"system-{ids['DC01']}-username": f"contact-{number}",
                    f"system-{ids['DC01']}-secret": f"{PASSWORD}-{number}",
                    f"system-{ids['Microsoft 365']}-secret": f"M365-{number}",
                },
            )
            with lock:
                results.append(response.status_code)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=contact, args=(n,)) for n in range(CONTACTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(results) == [200] + [410] * (CONTACTS - 1)
    staged = list(StagedCredential.objects.order_by("system_name"))
    assert [entry.system_name for entry in staged] == ["DC01", "Microsoft 365"]
    # Both entries come from the one winning browser.
    winner = staged[0].username.removeprefix("contact-")
    assert unsealed(staged[0], "secret") == f"{PASSWORD}-{winner}"
    assert unsealed(staged[1], "secret") == f"M365-{winner}"
    submitted = events("intake_link.submitted")
    assert submitted.filter(outcome="success").count() == 1
    assert submitted.filter(outcome="denied").count() == CONTACTS - 1
    assert Notification.objects.filter(user=olive).count() == 1
