"""The PSA settings page (administrators) and the task page's PSA partial."""

from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import Role
from audit.models import AuditEvent
from rotation.models import PsaCall, PsaConnection, RotationTask
from rotation.psa.halopsa import halo_token_cache_clear
from rotation.selectors import psa as psa_selectors
from rotation.services import psa as psa_services
from tests.conftest import sign_in
from tests.factories import UserFactory
from tests.rotation import psa_server as ps
from tests.rotation.test_psa_adapters import connection_config
from tests.rotation.test_psa_services import connect, enqueue

pytestmark = pytest.mark.django_db
URL = "/rotation/psa/"


@pytest.fixture
def server():
    halo_token_cache_clear()
    server = ps.PsaServer().start()
    yield server
    server.stop()
    halo_token_cache_clear()


def _form(server, kind="connectwise", **extra):
    config = connection_config(server, kind)
    data = {"kind": kind, "name": "Manage", "base_url": config["base_url"]}
    for name, value in config["settings"].items():
        data[f"{kind}__setting__{name}"] = str(value)
    for name, value in config["secrets"].items():
        data[f"{kind}__secret__{name}"] = value
    data.update(extra)
    return data


def test_technician_and_manager_are_refused(client, bob, alice):
    for person in (bob, alice):
        sign_in(client, person)
        response = client.get(URL)
        assert response.status_code == 403
        assert "Only administrators" in response.content.decode()


def test_admin_connects_and_sees_the_callback_address_once(client, admin_user, server):
    sign_in(client, admin_user)
    assert client.get(URL).status_code == 200
    response = client.post(URL, _form(server))
    page = response.content.decode()
    assert response.status_code == 200
    connection = PsaConnection.objects.get()
    assert f"/integrations/psa/{connection.pk}/callback/" in page
    for secret in ps.ALL_SECRETS:
        assert secret not in page
    again = client.get(URL).content.decode()
    assert f"/integrations/psa/{connection.pk}/callback/" not in again
    assert "leave blank to keep it" in again
    for secret in ps.ALL_SECRETS:
        assert secret not in again
    assert AuditEvent.objects.filter(action="psa.connection_saved").count() == 1


def test_a_refused_form_keeps_what_was_typed_but_no_secret(client, admin_user, server):
    sign_in(client, admin_user)
    response = client.post(URL, _form(server, **{"connectwise__setting__board_id": "seven"}))
    page = response.content.decode()
    assert response.status_code == 400
    assert "Service board id must be a whole number." in page
    # Beside its own input: the refused field is marked invalid and no other is.
    assert page.count('aria-invalid="true"') == 1
    assert 'value="seven" aria-invalid="true"' in page
    assert 'value="seven"' in page
    assert 'value="Manage"' in page
    assert ps.CW_PRIVATE_KEY not in page
    assert not PsaConnection.objects.exists()


def test_recent_calls_show_their_state(
    client, admin_user, server, high_credential, client_a, django_assert_max_num_queries
):
    connect(admin_user, server, "connectwise")
    for index in range(3):
        credential = high_credential if index == 0 else None
        if credential is None:
            from tests.vault.test_credentials import make_credential

            credential = make_credential(client=client_a, name=f"Server {index}")
        task = RotationTask.objects.create(
            client=client_a, credential=credential, due_at=timezone.now() + timedelta(days=1)
        )
        enqueue(task, "open")
    server.fail_next(100)
    psa_services.psa_calls_send()
    sign_in(client, admin_user)
    with django_assert_max_num_queries(20):
        page = client.get(URL).content.decode()
    assert page.count("Failed, retry") == 3
    assert "503 Service Unavailable" in page


def test_task_partial_shows_a_failing_call(admin_user, server, high_credential, client_a):
    connect(admin_user, server, "halopsa")
    task = RotationTask.objects.create(
        client=client_a, credential=high_credential, due_at=timezone.now() + timedelta(days=1)
    )
    enqueue(task, "open")
    server.fail_next(1)
    psa_services.psa_calls_send()
    task.refresh_from_db()
    html = render_to_string(
        "rotation/psa/_task_psa.html",
        {
            "task": task,
            "psa_calls": psa_selectors.psa_call_list_for_task(actor=admin_user, task=task),
        },
    )
    assert "PSA call failing" in html
    assert "Open ticket" in html
    assert PsaCall.objects.get().attempts == 1
    assert ps.HALO_CLIENT_SECRET not in html


def test_recent_calls_list_only_the_administrators_own_clients(admin_user, server, high_credential):
    connect(admin_user, server, "webhook")
    task = RotationTask.objects.create(
        client=high_credential.client,
        credential=high_credential,
        due_at=timezone.now() + timedelta(days=3),
    )
    enqueue(task, "open")
    outsider = UserFactory(roles=[Role.ADMINISTRATOR])  # assigned to no client
    assert [call.task_id for call in psa_selectors.psa_call_list_recent(actor=admin_user)] == [
        task.pk
    ]
    assert psa_selectors.psa_call_list_recent(actor=outsider) == []
