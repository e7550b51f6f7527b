"""A real Celery worker, against Redis, runs a task end to end."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import Invitation
from accounts.tasks import invitations_purge_expired
from config.celery import app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker_queue():
    """Start `celery worker` on a queue of its own; stop it after the test."""
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        pytest.fail("REDIS_URL is not set: scripts/test.sh starts Redis and sets it.")
    queue = f"keyhold-test-{uuid.uuid4().hex[:8]}"
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "KEYHOLD_TEST_WORKER_DATABASE_NAME": connection.settings_dict["NAME"],
    }
    environment.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--queues",
            queue,
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=environment,
    )
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        yield queue
    finally:
        app.conf.task_always_eager = previous
        worker.terminate()
        worker.wait(timeout=30)


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_worker_runs_a_task_round_trip_through_redis(worker_queue, alice):
    assert app.conf.broker_url.startswith("redis://")
    stale = Invitation.objects.create(
        email="stale@msp.example",
        full_name="Stale",
        roles=["Technician"],
        token_hash="0" * 64,
        invited_by=alice,
        expires_at=timezone.now() - timezone.timedelta(days=30),
    )
    fresh = Invitation.objects.create(
        email="fresh@msp.example",
        full_name="Fresh",
        roles=["Technician"],
        token_hash="1" * 64,
        invited_by=alice,
        expires_at=timezone.now() + timezone.timedelta(days=3),
    )
    result = invitations_purge_expired.apply_async(queue=worker_queue)
    assert result.get(timeout=90) == 1
    assert not Invitation.objects.filter(pk=stale.pk).exists()
    assert Invitation.objects.filter(pk=fresh.pk).exists()
