"""The takeover checklist: steps created once, findings, done and reopened, each audited;
"Every inherited credential rotated" only once no inherited credential waits for rotation.

Actions covered here, each with exactly one event per operation: intake.takeover_started,
intake.takeover_finding_saved, intake.takeover_step_completed, intake.takeover_step_reopened.
"""

import pytest
from django.utils.html import escape

from accounts.models import Role
from audit.models import AuditEvent
from config.errors import AccessDenied, FieldInvalid, InvalidRequest, NotFound
from intake.models import TakeoverStep
from intake.selectors.intakes import onboarding_checklist_for_client
from intake.services.takeover import (
    takeover_finding_save,
    takeover_step_complete,
    takeover_step_reopen,
    takeover_steps_ensure,
)
from rotation.models import RotationReason, RotationTask
from rotation.services.tasks import rotation_task_complete, rotation_task_request
from tenants.models import AccessLevel
from tenants.services import assignment_grant
from tests.conftest import sign_in
from tests.factories import UserFactory
from tests.intake.test_intakes import PAYLOADS
from tests.vault.test_credentials import make_credential
from vault.models import Credential
from vault.services import credential_archive

KEYS = [
    "ad_domain_admins",
    "cloud_global_admins",
    "previous_provider_access",
    "inherited_rotated",
    "findings_documented",
]


@pytest.fixture
def olivia(client_a):
    """Onboarding staff with manage access to client A."""
    user = UserFactory(full_name="Olivia Onboarding", roles=[Role.ONBOARDING])
    assignment_grant(actor=None, client=client_a, user=user, level=AccessLevel.MANAGE)
    return user


def events(action, outcome="success"):
    return AuditEvent.objects.filter(action=action, outcome=outcome)


def step_of(client, key) -> TakeoverStep:
    return TakeoverStep.objects.get(client=client, key=key)


def inherited(client, actor, **overrides) -> Credential:
    fields = {"name": "Old MSP domain admin", "source": "inherited", "status": "compromised"}
    return make_credential(client=client, actor=actor, **{**fields, **overrides})


def test_the_steps_are_created_once_in_checklist_order_with_one_event(olivia, client_a):
    steps = takeover_steps_ensure(actor=olivia, client=client_a)
    assert [step.key for step in steps] == KEYS
    assert all(step.status == TakeoverStep.Status.OPEN for step in steps)
    again = takeover_steps_ensure(actor=olivia, client=client_a)
    assert [step.pk for step in again] == [step.pk for step in steps]
    assert TakeoverStep.objects.filter(client=client_a).count() == 5
    event = events("intake.takeover_started").get()
    assert event.actor_user_id == olivia.pk
    assert event.client_id == client_a.pk
    assert event.details == {"steps": KEYS}


def test_a_missing_step_is_added_and_recorded(olivia, client_a):
    takeover_steps_ensure(actor=olivia, client=client_a)
    step_of(client_a, "findings_documented").delete()
    takeover_steps_ensure(actor=olivia, client=client_a)
    assert events("intake.takeover_started").count() == 2
    latest = events("intake.takeover_started").order_by("-sequence").first()
    assert latest.details == {"steps": ["findings_documented"]}


def test_a_step_is_done_only_with_a_finding_and_records_one_event(olivia, client_a):
    takeover_steps_ensure(actor=olivia, client=client_a)
    step = step_of(client_a, "ad_domain_admins")
    with pytest.raises(FieldInvalid, match="Write what you checked and what you found") as refused:
        takeover_step_complete(actor=olivia, step=step, finding="   ")
    assert refused.value.field == "finding"
    assert step_of(client_a, "ad_domain_admins").status == TakeoverStep.Status.OPEN
    finding = "Domain Admins has 3 members: Administrator, svc-backup, msp-olivia. All known."
    done = takeover_step_complete(actor=olivia, step=step, finding=finding)
    assert (done.status, done.finding, done.completed_by) == ("done", finding, olivia)
    assert done.completed_at is not None
    event = events("intake.takeover_step_completed").get()
    assert event.target_id == str(step.pk)
    assert event.details == {"step": "ad_domain_admins"}
    with pytest.raises(InvalidRequest, match="already done"):
        takeover_step_complete(actor=olivia, step=step)
    assert events("intake.takeover_step_completed").count() == 1


def test_a_saved_finding_is_enough_to_mark_the_step_done(olivia, client_a):
    takeover_steps_ensure(actor=olivia, client=client_a)
    step = step_of(client_a, "cloud_global_admins")
    takeover_finding_save(actor=olivia, step=step, finding="Two global admins, both ours.\r\n")
    assert step_of(client_a, "cloud_global_admins").finding == "Two global admins, both ours."
    assert events("intake.takeover_finding_saved").count() == 1
    assert takeover_step_complete(actor=olivia, step=step).status == "done"


def test_a_finding_over_4000_characters_is_refused(olivia, client_a):
    takeover_steps_ensure(actor=olivia, client=client_a)
    step = step_of(client_a, "findings_documented")
    with pytest.raises(FieldInvalid, match="at most 4000 characters"):
        takeover_finding_save(actor=olivia, step=step, finding="x" * 4001)
    assert not events("intake.takeover_finding_saved").exists()


def test_a_done_step_is_reopened_with_its_finding_kept_and_one_event(olivia, client_a):
    takeover_steps_ensure(actor=olivia, client=client_a)
    step = step_of(client_a, "previous_provider_access")
    with pytest.raises(InvalidRequest, match="not done, so it cannot be reopened"):
        takeover_step_reopen(actor=olivia, step=step)
    takeover_step_complete(actor=olivia, step=step, finding="ScreenConnect removed from 14 PCs.")
    reopened = takeover_step_reopen(actor=olivia, step=step)
    assert reopened.status == TakeoverStep.Status.OPEN
    assert reopened.completed_at is None
    assert reopened.completed_by is None
    assert reopened.finding == "ScreenConnect removed from 14 PCs."
    assert events("intake.takeover_step_reopened").count() == 1


def test_inherited_rotation_step_waits_until_no_inherited_credential_has_an_open_task(
    olivia, alice, client_a
):
    takeover_steps_ensure(actor=olivia, client=client_a)
    step = step_of(client_a, "inherited_rotated")
    first = inherited(client_a, alice)
    second = inherited(client_a, alice, name="Old MSP firewall")
    first_task = rotation_task_request(
        actor=alice, credential=first, reason=RotationReason.INHERITED
    )
    rotation_task_request(actor=alice, credential=second, reason=RotationReason.INHERITED)
    # A credential the MSP created itself may wait for rotation: it is not inherited.
    ours = make_credential(client=client_a, actor=alice, name="Ours")
    rotation_task_request(actor=alice, credential=ours, reason=RotationReason.MANUAL)
    with pytest.raises(InvalidRequest, match="2 inherited credentials still wait for rotation"):
        takeover_step_complete(actor=olivia, step=step)
    rotation_task_complete(actor=alice, task=first_task, new_secret="Rotated-First-1")
    with pytest.raises(InvalidRequest, match="1 inherited credential still waits"):
        takeover_step_complete(actor=olivia, step=step)
    credential_archive(actor=alice, credential=second, reason="Account deleted at takeover")
    assert RotationTask.objects.filter(status="open", credential=ours).exists()
    done = takeover_step_complete(actor=olivia, step=step)
    assert done.status == TakeoverStep.Status.DONE
    assert events("intake.takeover_step_completed").count() == 1


def test_staff_of_another_client_get_not_found_and_others_are_refused(
    olivia, bob, charlie, client_a, client_b
):
    with pytest.raises(NotFound):
        takeover_steps_ensure(actor=charlie, client=client_a)
    takeover_steps_ensure(actor=olivia, client=client_a)
    step = step_of(client_a, "ad_domain_admins")
    with pytest.raises(NotFound):
        takeover_step_complete(actor=charlie, step=step, finding="Injected")
    with pytest.raises(AccessDenied, match="needs manage access"):
        takeover_finding_save(actor=bob, step=step, finding="Injected")
    technician = UserFactory(roles=[Role.TECHNICIAN])
    assignment_grant(actor=None, client=client_a, user=technician, level=AccessLevel.MANAGE)
    with pytest.raises(AccessDenied, match="Only onboarding staff, managers or administrators"):
        takeover_step_reopen(actor=technician, step=step)
    assert step_of(client_a, "ad_domain_admins").finding == ""
    assert events("intake.takeover_step_completed", "denied").count() == 1
    assert events("intake.takeover_finding_saved", "denied").count() == 1
    assert events("intake.takeover_step_reopened", "denied").count() == 1
    with pytest.raises(NotFound):
        takeover_steps_ensure(actor=olivia, client=client_b)
    assert not TakeoverStep.objects.filter(client=client_b).exists()


# --- Pages ---------------------------------------------------------------------------------


def test_the_checklist_page_starts_the_steps_and_lists_them(client, olivia, bob, client_a):
    sign_in(client, olivia)
    page = client.get(f"/clients/{client_a.slug}/takeover/")
    assert page.status_code == 200
    html = page.content.decode()
    for label in TakeoverStep.Key.labels:
        assert escape(f"Finding: {label}") in html
    assert "0 of 5 steps done" in html
    assert html.count("Mark done") == 5
    assert TakeoverStep.objects.filter(client=client_a).count() == 5
    sign_in(client, bob)
    assert client.get(f"/clients/{client_a.slug}/takeover/").status_code == 403


def test_marking_a_step_done_through_the_page_shows_progress_on_the_onboarding_page(
    client, olivia, client_a
):
    sign_in(client, olivia)
    client.get(f"/clients/{client_a.slug}/takeover/")
    path = f"/clients/{client_a.slug}/takeover/ad_domain_admins/"
    refused = client.post(path, {"ad_domain_admins-action": "done", "ad_domain_admins-finding": ""})
    assert refused.status_code == 400
    html = refused.content.decode()
    assert "Write what you checked and what you found" in html
    assert 'class="field field-invalid"' in html
    response = client.post(
        path,
        {"ad_domain_admins-action": "done", "ad_domain_admins-finding": "Only our admins."},
    )
    assert response.status_code == 302
    assert response["Location"].endswith("/takeover/#step-ad_domain_admins")
    assert step_of(client_a, "ad_domain_admins").status == "done"
    page = client.get(f"/clients/{client_a.slug}/takeover/").content.decode()
    assert "1 of 5 steps done" in page
    assert "Reopen" in page
    onboarding = client.get(f"/clients/{client_a.slug}/onboarding/").content.decode()
    assert "1 of 5 takeover steps done" in onboarding
    assert onboarding_checklist_for_client(actor=olivia, client=client_a).takeover_done == 1
    reopened = client.post(path, {"ad_domain_admins-action": "reopen"})
    assert reopened.status_code == 302
    assert step_of(client_a, "ad_domain_admins").status == "open"


def test_the_inherited_step_refusal_is_shown_on_the_page(client, olivia, alice, client_a):
    credential = inherited(client_a, alice)
    rotation_task_request(actor=alice, credential=credential, reason=RotationReason.INHERITED)
    sign_in(client, olivia)
    page = client.get(f"/clients/{client_a.slug}/takeover/").content.decode()
    assert "1 waiting" in page
    response = client.post(
        f"/clients/{client_a.slug}/takeover/inherited_rotated/",
        {"inherited_rotated-action": "done"},
    )
    assert response.status_code == 400
    assert "1 inherited credential still waits for rotation" in response.content.decode()
    assert step_of(client_a, "inherited_rotated").status == "open"


def test_an_unknown_step_or_another_clients_step_is_not_found(
    client, olivia, charlie, client_a, client_b
):
    sign_in(client, olivia)
    response = client.post(f"/clients/{client_a.slug}/takeover/no_such_step/", {"action": "done"})
    assert response.status_code == 404
    sign_in(client, charlie)
    path = f"/clients/{client_a.slug}/takeover/ad_domain_admins/"
    assert client.post(path, {"ad_domain_admins-action": "save"}).status_code == 404
    assert client.get(f"/clients/{client_a.slug}/takeover/").status_code == 404
    assert not TakeoverStep.objects.filter(client=client_a).exists()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_markup_in_a_finding_renders_as_text(client, olivia, client_a, payload):
    takeover_steps_ensure(actor=olivia, client=client_a)
    takeover_finding_save(
        actor=olivia, step=step_of(client_a, "cloud_global_admins"), finding=f"Found {payload}"
    )
    sign_in(client, olivia)
    html = client.get(f"/clients/{client_a.slug}/takeover/").content.decode()
    assert payload not in html
    assert escape(f"Found {payload}") in html
