import pytest
from django.core.management import CommandError, call_command

from intake.models import (
    STAGED_CREDENTIAL_RECORD_TYPE,
    Intake,
    IntakeEntry,
    IntakeLink,
    StagedCredential,
)
from vault.envelope import field_decrypt


@pytest.mark.django_db
def test_the_demo_onboarding_is_loaded_once_sealed_and_waiting_for_review(settings, capsys):
    settings.DEBUG = True
    call_command("seed_demo")
    call_command("seed_demo_intake")
    call_command("seed_demo_intake")
    assert "already there" in capsys.readouterr().out
    draft = Intake.objects.get(client__slug="woodgrove-clinic")
    assert draft.status == Intake.Status.DRAFT
    entries = IntakeEntry.objects.filter(intake=draft)
    assert sorted(entries.values_list("received_via", flat=True)) == ["email", "phone"]
    assert all(entry.secret for entry in entries)
    link = IntakeLink.objects.get(client__slug="woodgrove-clinic")
    assert link.submitted_at is not None
    staged = StagedCredential.objects.get(link=link)
    assert staged.status == StagedCredential.Status.PENDING
    assert staged.username == "rosa.w"
    opened = field_decrypt(
        client=staged.client,
        record_type=STAGED_CREDENTIAL_RECORD_TYPE,
        record_id=str(staged.pk),
        field="secret",
        sealed=bytes(staged.secret),
    )
    assert len(opened) == 20


@pytest.mark.django_db
def test_the_demo_onboarding_needs_debug_and_the_demo(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo_intake")
    settings.DEBUG = True
    with pytest.raises(CommandError, match="seed_demo"):
        call_command("seed_demo_intake")
