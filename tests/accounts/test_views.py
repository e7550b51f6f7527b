from urllib.parse import urlparse

import pytest
import time_machine
from axes.models import AccessAttempt
from django.utils import timezone
from django_otp.oath import TOTP

from accounts import services
from accounts.models import Invitation, Role, TotpDevice, User
from tests.conftest import sign_in
from tests.factories import PASSWORD, UserFactory

GENERIC_LOGIN_ERROR = "That email and password did not match an active account."


def code_for(user: User, *, offset_steps: int = 0) -> str:
    device = TotpDevice.objects.get(user=user, confirmed=True)
    totp = TOTP(device.secret())
    totp.time = timezone.now().timestamp() + 30 * offset_steps
    return f"{totp.token():06d}"


def login(client, email, password=PASSWORD):
    return client.post("/login/", {"username": email, "password": password})


@pytest.mark.django_db
def test_login_then_mfa_reaches_the_client_list(client, bob):
    response = login(client, bob.email)
    assert urlparse(response["Location"]).path == "/"
    assert urlparse(client.get("/")["Location"]).path == "/mfa/"
    response = client.post("/mfa/", {"method": "totp", "code": code_for(bob), "next": "/"})
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_wrong_password_unknown_email_and_inactive_account_get_the_same_message(client):
    UserFactory(email="inactive@msp.example", is_active=False)
    UserFactory(email="known@msp.example")
    bodies = []
    for email, password in [
        ("known@msp.example", "wrong-password-123"),
        ("nobody@msp.example", "wrong-password-123"),
        ("inactive@msp.example", PASSWORD),
    ]:
        response = login(client, email, password)
        assert response.status_code == 200
        body = response.content.decode()
        assert GENERIC_LOGIN_ERROR in body
        bodies.append(body.count("field-error") + body.count("form-errors"))
    assert len(set(bodies)) == 1


@pytest.mark.django_db
def test_tenth_wrong_password_locks_the_username_and_ip_pair(client, bob):
    for attempt in range(1, 10):
        response = login(client, bob.email, "wrong-password-123")
        assert response.status_code == 200, attempt
    response = login(client, bob.email, "wrong-password-123")
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    assert login(client, bob.email).status_code == 429
    # Same username from another address is not locked out, nor another user from here.
    other_ip = client.post(
        "/login/", {"username": bob.email, "password": PASSWORD}, REMOTE_ADDR="10.9.9.9"
    )
    assert other_ip.status_code == 302
    charlie = UserFactory(email="charlie2@msp.example")
    assert login(client, charlie.email).status_code == 302
    assert AccessAttempt.objects.filter(username=bob.email).exists()


@pytest.mark.django_db
def test_changing_the_case_of_the_email_does_not_reset_the_count(client, bob):
    for attempt in range(10):
        email = bob.email.upper() if attempt % 2 else bob.email
        response = login(client, email, "wrong-password-123")
    assert response.status_code == 429
    assert login(client, bob.email.upper()).status_code == 429


@pytest.mark.django_db
def test_lockout_message_is_the_same_for_an_unknown_email(client):
    for _ in range(10):
        response = login(client, "ghost@msp.example", "wrong-password-123")
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()


@pytest.mark.django_db
def test_session_key_changes_at_login_and_at_mfa(client, bob):
    client.get("/login/")
    client.session.save()
    before = client.session.session_key
    login(client, bob.email)
    after_login = client.session.session_key
    client.post("/mfa/", {"method": "totp", "code": code_for(bob)})
    after_mfa = client.session.session_key
    assert len({before, after_login, after_mfa}) == 3


@pytest.mark.django_db
def test_wrong_mfa_code_is_refused_with_a_generic_message(client, bob):
    login(client, bob.email)
    wrong = f"{(int(code_for(bob)) + 1) % 1_000_000:06d}"
    response = client.post("/mfa/", {"method": "totp", "code": wrong})
    assert response.status_code == 200
    assert "That code is not valid." in response.content.decode()
    assert urlparse(client.get("/")["Location"]).path == "/mfa/"


@pytest.mark.django_db
def test_idle_session_expires_after_the_timeout(client, bob, settings):
    sign_in(client, bob)
    assert client.get("/").status_code == 200
    with time_machine.travel(timezone.now() + timezone.timedelta(minutes=31)):
        response = client.get("/")
    assert urlparse(response["Location"]).path == "/login/"


@pytest.mark.django_db
def test_busy_session_ends_at_its_absolute_lifetime(client, bob, settings):
    sign_in(client, bob)
    start = timezone.now()
    for minutes in range(20, 12 * 60, 20):
        with time_machine.travel(start + timezone.timedelta(minutes=minutes)):
            assert client.get("/").status_code == 200, minutes
    with time_machine.travel(start + timezone.timedelta(hours=12, minutes=5)):
        response = client.get("/")
    assert urlparse(response["Location"]).path == "/login/"


@pytest.mark.django_db
def test_step_up_asks_again_for_mfa_after_the_window(client, bob):
    sign_in(client, bob)
    later = timezone.now() + timezone.timedelta(minutes=11)
    with time_machine.travel(later):
        response = client.post("/account/backup-codes/")
        location = urlparse(response["Location"])
        assert location.path == "/mfa/"
        assert "step_up=1" in location.query
        client.post("/mfa/", {"method": "totp", "code": code_for(bob), "next": "/account/"})
        response = client.post("/account/backup-codes/")
    assert response.status_code == 200
    assert response.content.decode().count("<code>") == 10


@pytest.mark.django_db
def test_step_up_within_the_window_goes_straight_through(client, bob):
    sign_in(client, bob)
    assert client.post("/account/backup-codes/").status_code == 200


@pytest.mark.django_db
def test_invitation_link_leads_to_password_then_mfa_enrolment(client):
    _, token = services.invitation_create(
        actor=None, email="new@msp.example", full_name="New Tech", roles=[Role.TECHNICIAN]
    )
    response = client.get(f"/invitation/{token}/")
    assert response["Location"] == "/invitation/"
    page = client.get("/invitation/")
    assert "new@msp.example" in page.content.decode()
    response = client.post(
        "/invitation/",
        {
            "full_name": "New Tech",
            "password": "a-long-unusual-passphrase",
            "password_confirm": "a-long-unusual-passphrase",
        },
    )
    assert response["Location"] == "/mfa/enrol/"
    user = User.objects.get(email="new@msp.example")
    assert user.has_role(Role.TECHNICIAN)
    assert client.get("/").status_code == 302
    enrol = client.get("/mfa/enrol/")
    assert b"data:image/svg+xml" in enrol.content
    # The link works once.
    client.logout()
    assert client.get(f"/invitation/{token}/").status_code == 404


@pytest.mark.django_db
def test_invitation_refuses_a_short_password_and_keeps_the_name(client):
    _, token = services.invitation_create(
        actor=None, email="new@msp.example", full_name="New Tech", roles=[Role.TECHNICIAN]
    )
    client.get(f"/invitation/{token}/")
    response = client.post(
        "/invitation/",
        {"full_name": "Typed Name", "password": "short", "password_confirm": "short"},
    )
    body = response.content.decode()
    assert "at least 12 characters" in body
    assert 'value="Typed Name"' in body
    assert not User.objects.filter(email="new@msp.example").exists()


@pytest.mark.django_db
def test_expired_invitation_is_refused(client):
    _, token = services.invitation_create(
        actor=None, email="late@msp.example", full_name="Late", roles=[Role.TECHNICIAN]
    )
    with time_machine.travel(timezone.now() + timezone.timedelta(days=8)):
        assert client.get(f"/invitation/{token}/").status_code == 404


@pytest.mark.django_db
def test_administrator_invites_staff_and_sees_the_link_once(client, admin_user):
    sign_in(client, admin_user)
    response = client.post(
        "/staff/invite/",
        {"email": "Newbie@MSP.example", "full_name": "Newbie", "roles": ["Technician"]},
    )
    assert response.status_code == 200
    invitation = Invitation.objects.get(email="newbie@msp.example")
    assert "/invitation/" in response.content.decode()
    assert invitation.invited_by == admin_user
    assert invitation.token_hash not in response.content.decode()


@pytest.mark.django_db
def test_technician_cannot_invite_or_list_staff(client, bob):
    sign_in(client, bob)
    assert client.get("/staff/invite/").status_code == 403
    assert client.get("/staff/").status_code == 403


@pytest.mark.django_db
def test_mfa_reset_ends_the_users_sessions_and_forces_enrolment(client, admin_user, bob):
    from django.test import Client

    bob_browser = Client()
    sign_in(bob_browser, bob)
    assert bob_browser.get("/").status_code == 200
    sign_in(client, admin_user)
    response = client.post(f"/staff/{bob.pk}/mfa-reset/")
    assert response.status_code == 302
    assert not TotpDevice.objects.filter(user=bob).exists()
    assert urlparse(bob_browser.get("/")["Location"]).path == "/login/"
    login(bob_browser, bob.email)
    assert urlparse(bob_browser.get("/")["Location"]).path == "/mfa/enrol/"


@pytest.mark.django_db
def test_deactivated_user_is_signed_out_and_cannot_sign_in(client, admin_user, bob):
    from django.test import Client

    bob_browser = Client()
    sign_in(bob_browser, bob)
    sign_in(client, admin_user)
    client.post(f"/staff/{bob.pk}/deactivate/")
    bob.refresh_from_db()
    assert not bob.is_active
    assert urlparse(bob_browser.get("/")["Location"]).path == "/login/"
    assert GENERIC_LOGIN_ERROR in login(bob_browser, bob.email).content.decode()


@pytest.mark.django_db
def test_administrator_changes_roles_but_not_their_own_admin_role(client, admin_user, bob):
    sign_in(client, admin_user)
    client.post(f"/staff/{bob.pk}/roles/", {"roles": ["Technician", "Manager"]})
    bob.refresh_from_db()
    assert bob.has_role(Role.MANAGER)
    response = client.post(f"/staff/{admin_user.pk}/roles/", {"roles": ["Manager"]}, follow=True)
    assert "cannot remove your own administrator role" in response.content.decode()
    admin_user.refresh_from_db()
    assert User.objects.get(pk=admin_user.pk).has_role(Role.ADMINISTRATOR)


@pytest.mark.django_db
def test_staff_list_query_count_does_not_grow_with_staff(
    client, admin_user, django_assert_num_queries
):
    sign_in(client, admin_user)
    UserFactory.create_batch(3)
    client.get("/staff/")
    with django_assert_num_queries(11):
        client.get("/staff/")
    UserFactory.create_batch(20)
    with django_assert_num_queries(11):
        client.get("/staff/")
