"""Credential.last_opened_at, filled from the audit log's successful openings (issue 9).

From here on vault.receivers keeps it in step with every new event; this fills it for the
events already written. The actions are those of audit.catalogue.CREDENTIAL_ACCESS_ACTIONS
when this migration was written (a migration must not follow later code).
"""

import uuid

from django.db import migrations, models
from django.db.models import Max

OPENINGS = [
    "credential.checked_out",
    "credential.emergency_opened",
    "credential.revealed",
    "credential.totp_code_shown",
    "credential.version_revealed",
]
BATCH = 2000


def fill_from_the_log(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    Credential = apps.get_model("vault", "Credential")
    latest = (
        AuditEvent.objects.filter(
            action__in=OPENINGS, outcome="success", target_type="vault.credential"
        )
        .order_by()
        .values_list("target_id")
        .annotate(last=Max("occurred_at"))
    )
    pending = []
    for target_id, last in latest.iterator(chunk_size=BATCH):
        try:
            credential_id = uuid.UUID(target_id)
        except ValueError:
            continue  # Not a credential's id: nothing to fill.
        pending.append(Credential(pk=credential_id, last_opened_at=last))
        if len(pending) == BATCH:
            Credential.objects.bulk_update(pending, ["last_opened_at"])
            pending = []
    Credential.objects.bulk_update(pending, ["last_opened_at"])


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0006_access_actions_of_history_and_totp"),
        ("vault", "0007_credential_search_trigram"),
    ]

    operations = [
        migrations.AddField(
            model_name="credential",
            name="last_opened_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(fill_from_the_log, migrations.RunPython.noop, elidable=False),
    ]
