"""Celery beat, as deployed (a `celery beat` process beside a worker, both on Redis), runs the
rotation jobs of the project's static schedule: the due scan opens a task, the reminder and
the escalation go out, each exactly once although beat sends every job again each second.

The two processes load tests/rotation/beat_settings.py: the project's rotation entries with
a one-second interval and a queue of this test's own.
"""

import os
import re
import shelve
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.models import Notification, OutboxMessage
from audit.models import AuditEvent
from rotation.models import RotationTask
from rotation.selectors.policies import rotation_policy_for, tier_interval_days
from rotation.services.tasks import rotation_reminders_send, rotation_task_request
from vault.models import Credential, PrivilegeTier

ROOT = Path(__file__).resolve().parents[2]
ENTRIES = ("rotation-due-scan", "rotation-reminders-send", "rotation-escalate-overdue")
# Each job must have run this often, so that the repeats are seen to change nothing.
RUNS = 3
DEADLINE_SECONDS = 60
_SUCCEEDED = re.compile(r"Task (?P<task>[\w.]+)\[[^\]]+\] succeeded in [\d.]+s: (?P<result>-?\d+)")


@dataclass
class BeatAndWorker:
    queue: str
    directory: Path
    beat: subprocess.Popen
    worker: subprocess.Popen

    def runs(self) -> dict[str, list[int]]:
        """What each job returned, run by run, from the worker's log."""
        results: dict[str, list[int]] = {}
        for match in _SUCCEEDED.finditer(self._log("worker")):
            results.setdefault(match["task"], []).append(int(match["result"]))
        return results

    def failure(self) -> str:
        """Why the jobs cannot finish (a process gone, a job raising), or empty."""
        for name, process in (("beat", self.beat), ("worker", self.worker)):
            if process.poll() is not None:
                return f"celery {name} exited with {process.returncode}"
        if "raised unexpected" in self._log("worker"):
            return "a job raised in the worker"
        return ""

    def logs(self) -> str:
        return "\n".join(
            f"--- {name} log (tail)\n" + "\n".join(self._log(name).splitlines()[-40:])
            for name in ("beat", "worker")
        )

    def stop_beat(self) -> dict:
        """Stop beat the way a deployment does; it saves its schedule file on the way out."""
        _stop(self.beat)
        # The file beat itself just wrote in the test's own directory.
        with shelve.open(str(self.directory / "celerybeat-schedule")) as schedule:  # noqa: S301
            return dict(schedule["entries"])

    def _log(self, name: str) -> str:
        return (self.directory / f"{name}.log").read_text(errors="replace")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def beat_and_worker() -> Iterator[BeatAndWorker]:
    """Start `celery beat` and a worker on a queue of their own; stop both and tidy up after."""
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        pytest.fail("REDIS_URL is not set: scripts/test.sh starts Redis and sets it.")
    queue = f"keyhold-beat-{uuid.uuid4().hex[:8]}"
    directory = Path(tempfile.mkdtemp(prefix="keyhold-beat-"))
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.rotation.beat_settings",
        "KEYHOLD_TEST_WORKER_DATABASE_NAME": connection.settings_dict["NAME"],
        "KEYHOLD_TEST_BEAT_QUEUE": queue,
        "PYTHONUNBUFFERED": "1",
    }
    environment.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    processes: list[subprocess.Popen] = []

    def start(name: str, *arguments: str) -> subprocess.Popen:
        with (directory / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", name, *arguments],
                cwd=ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        return process

    try:
        worker = start(
            "worker",
            "--pool=solo",
            f"--queues={queue}",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        )
        beat = start(
            "beat",
            f"--schedule={directory / 'celerybeat-schedule'}",
            f"--pidfile={directory / 'celerybeat.pid'}",
            "--loglevel=INFO",
        )
        yield BeatAndWorker(queue=queue, directory=directory, beat=beat, worker=worker)
    finally:
        for process in reversed(processes):
            _stop(process)
        broker = redis.Redis.from_url(redis_url)
        broker.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        broker.close()
        shutil.rmtree(directory, ignore_errors=True)


def wait_for(jobs: BeatAndWorker, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not done():
        problem = jobs.failure()
        if problem or time.monotonic() > deadline:
            pytest.fail(f"{problem or 'the jobs did not finish in time'}\n{jobs.logs()}")
        time.sleep(0.25)


def events(action: str, task: RotationTask):
    return AuditEvent.objects.filter(action=action, outcome="success", target_id=str(task.pk))


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_beat_runs_the_rotation_jobs_through_a_worker_and_each_acts_once(
    client_a, alice, bob, high_credential, standard_credential, service_credential
):
    client_a.primary_technician = bob
    client_a.save(update_fields=["primary_technician"])
    now = timezone.now()
    # Last rotated one interval ago less five days: due inside the 7-day lead, outside the
    # 3-day reminder window. The scan fills in the due date and must open a task.
    interval = tier_interval_days(
        policy=rotation_policy_for(actor=None, client=client_a), tier=PrivilegeTier.HIGH
    )
    Credential.objects.filter(pk=high_credential.pk).update(
        last_rotated_at=now - timedelta(days=interval - 5)
    )
    # Overdue, and reminded already (before beat starts): only the escalation is left.
    overdue = rotation_task_request(
        actor=None, credential=service_credential, reason="manual", due_at=now - timedelta(hours=1)
    )
    assert rotation_reminders_send(actor=None) == 1
    reminded_before = RotationTask.objects.get(pk=overdue.pk).reminded_at
    # Due tomorrow, inside the reminder window, not yet reminded.
    soon = rotation_task_request(
        actor=None, credential=standard_credential, reason="manual", due_at=now + timedelta(days=1)
    )
    tasks = {name: settings.CELERY_BEAT_SCHEDULE[name]["task"] for name in ENTRIES}

    with beat_and_worker() as jobs:

        def done() -> bool:
            runs = jobs.runs()
            return (
                all(len(runs.get(task, [])) >= RUNS for task in tasks.values())
                and RotationTask.objects.filter(credential=high_credential).exists()
                and RotationTask.objects.filter(pk=soon.pk, reminded_at__isnull=False).exists()
                and RotationTask.objects.filter(pk=overdue.pk, escalated_at__isnull=False).exists()
            )

        wait_for(jobs, done)
        beat_entries = jobs.stop_beat()
        runs = jobs.runs()
        queue = jobs.queue

    # Beat ran the project's own entries (task, arguments, options), only sooner and on the
    # test's queue, and sent each job several times.
    assert set(beat_entries) == set(ENTRIES)
    for name in ENTRIES:
        project, entry = settings.CELERY_BEAT_SCHEDULE[name], beat_entries[name]
        assert entry.task == project["task"]
        assert tuple(entry.args) == tuple(project.get("args", ()))
        assert entry.kwargs == project.get("kwargs", {})
        assert entry.options == {**project.get("options", {}), "queue": queue}
        assert entry.total_run_count >= RUNS
    # The worker ran each job repeatedly; exactly one run of each found work.
    for task in tasks.values():
        assert len(runs[task]) >= RUNS
        assert sorted(runs[task]) == [0] * (len(runs[task]) - 1) + [1], (task, runs[task])

    # The due scan opened one task for the credential coming due, and only that one.
    scanned = RotationTask.objects.get(credential=high_credential)
    assert scanned.status == RotationTask.Status.OPEN
    assert scanned.due_at == now + timedelta(days=5)
    assert list(scanned.reasons.values_list("reason", flat=True)) == ["schedule"]
    assert RotationTask.objects.count() == 3
    created = AuditEvent.objects.filter(action="rotation.task_created", target_id=str(scanned.pk))
    assert created.count() == 1
    assert created.get().actor_label == "rotation scheduler"

    # The reminder went to the owner once: in the app and by email.
    soon.refresh_from_db()
    assert soon.reminded_at >= now
    assert soon.escalated_at is None
    assert events("rotation.reminder_sent", soon).count() == 1
    assert Notification.objects.filter(user=bob, message__contains="Front desk").count() == 1
    assert (
        OutboxMessage.objects.filter(
            topic="rotation.reminder_sent", recipient=bob.email, subject__contains="Front desk"
        ).count()
        == 1
    )

    # The overdue task was escalated to the client's manager once, and not reminded again.
    overdue.refresh_from_db()
    assert overdue.escalated_at >= now
    assert overdue.reminded_at == reminded_before
    assert events("rotation.reminder_sent", overdue).count() == 1
    assert events("rotation.task_escalated", overdue).count() == 1
    assert events("rotation.task_escalated", soon).count() == 0
    assert events("rotation.task_escalated", scanned).count() == 0
    assert Notification.objects.filter(user=alice, message__contains="overdue").count() == 1
    assert OutboxMessage.objects.filter(topic="rotation.task_escalated").count() == 1
    assert OutboxMessage.objects.get(topic="rotation.task_escalated").recipient == alice.email
    assert not Notification.objects.filter(user=bob, message__contains="overdue").exists()
