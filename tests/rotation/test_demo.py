"""The demo has rotation work to show: seeded overdue credentials, opened by the command."""

import io

import pytest
from django.core.management import call_command

from rotation.models import RotationTask


@pytest.mark.django_db
def test_the_demo_opens_rotation_tasks_for_its_overdue_credentials(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo_credentials", stdout=io.StringIO())
    out = io.StringIO()
    call_command("rotation_due_scan", stdout=out)
    call_command("rotation_due_scan", stdout=io.StringIO())  # a second run opens nothing new

    names = set(RotationTask.objects.values_list("credential__name", flat=True))
    assert {"FortiGate admin", "File server local admin"} <= names
    # Contoso Dental's primary technician owns its task; Fabrikam's goes to the managers.
    owners = dict(RotationTask.objects.values_list("credential__name", "owner__email"))
    assert owners["FortiGate admin"] == "tina.tech@example.com"
    assert owners["File server local admin"] is None
    assert RotationTask.objects.filter(status="open").count() == len(names)
    assert "Rotation tasks opened or joined:" in out.getvalue()
