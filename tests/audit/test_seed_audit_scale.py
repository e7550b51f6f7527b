"""The scale seed of the audit bench: a valid chain, realistic hours, and a refusal to misfire."""

import io
import zoneinfo
from collections import Counter

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count

from audit.catalogue import CREDENTIAL_ACCESS_ACTIONS
from audit.management.commands.seed_audit_scale import SCALE_DOMAIN, seed_guard
from audit.models import AuditChainHead, AuditEvent
from audit.verification import audit_chain_check
from tenants.models import Assignment, Client

POSTGRESQL = {"ENGINE": "django.db.backends.postgresql", "NAME": "keyhold_bench"}
# The seed loads with COPY and runs VACUUM, which no test transaction may wrap.
seeded_database = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _seed(*extra: str, events: int = 2000) -> str:
    out = io.StringIO()
    call_command(
        "seed_audit_scale",
        f"--events={events}",
        "--clients=20",
        "--staff=10",
        "--seed=7",
        *extra,
        stdout=out,
    )
    return out.getvalue()


def _in_business_hours(moment, zone_name: str) -> bool:
    local = moment.astimezone(zoneinfo.ZoneInfo(zone_name))
    return local.weekday() < 5 and 7 <= local.hour < 19


def test_guard_refuses_sqlite_with_a_clear_message():
    with pytest.raises(CommandError, match=r"needs PostgreSQL.*sqlite3.*DATABASE_URL"):
        seed_guard(
            settings_dict={"ENGINE": "django.db.backends.sqlite3", "NAME": "var/keyhold.sqlite3"},
            existing_events=0,
            append=False,
        )


def test_guard_refuses_a_log_with_events_unless_appending():
    with pytest.raises(CommandError, match=r"already holds 12 events.*--append"):
        seed_guard(settings_dict=POSTGRESQL, existing_events=12, append=False)
    seed_guard(settings_dict=POSTGRESQL, existing_events=12, append=True)
    seed_guard(settings_dict=POSTGRESQL, existing_events=0, append=False)


@pytest.mark.postgresql
@seeded_database
def test_seed_writes_the_asked_counts_and_a_chain_that_verifies():
    output = _seed("--workers=0")

    assert "Seeded 2,000 events" in output
    sequences = list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, 2001))
    head = AuditChainHead.objects.get()
    assert head.sequence == 2000
    assert head.entry_hash == AuditEvent.objects.get(sequence=2000).entry_hash
    assert Client.objects.count() == 20
    assert AuditEvent.objects.filter(actor_label__endswith=f"@{SCALE_DOMAIN}").exists()
    # Assignment history: some grants were revoked, and some pairs were granted again.
    assert Assignment.objects.filter(revoked_at__isnull=False).exists()
    pairs = Assignment.objects.values("user", "client").annotate(grants=Count("id"))
    assert pairs.filter(grants__gt=1).exists()
    check = audit_chain_check()
    assert check.ok, check.summary
    assert check.checked == 2000


@pytest.mark.postgresql
@seeded_database
def test_seeded_openings_are_mostly_in_the_clients_business_hours():
    _seed("--workers=0")

    zones = dict(Client.objects.values_list("pk", "business_time_zone"))
    openings = list(
        AuditEvent.objects.filter(
            action__in=CREDENTIAL_ACCESS_ACTIONS, outcome="success"
        ).values_list("occurred_at", "client_id")
    )
    assert len(openings) > 300
    in_hours = sum(_in_business_hours(at, zones[client_id]) for at, client_id in openings)
    assert 0.8 < in_hours / len(openings) < 0.98  # mostly, never all: off-hours is a finding
    actions = Counter(AuditEvent.objects.values_list("action", flat=True))
    assert actions.most_common(1)[0][0] == "staff.signed_in"


@pytest.mark.postgresql
@seeded_database
def test_append_continues_the_chain_from_the_head_in_worker_processes():
    _seed("--workers=0")
    with pytest.raises(CommandError, match="already holds 2,000 events"):
        _seed("--workers=0")

    _seed("--workers=2", "--append")

    assert AuditEvent.objects.count() == 4000
    check = audit_chain_check()
    assert check.ok, check.summary
    assert check.checked == 4000
