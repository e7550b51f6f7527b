"""Settings of the `celery beat` and worker that tests/rotation/test_beat.py starts.

The rotation entries are the project's own (same task names, arguments and options); only
their interval is shortened, so that beat fires them every second, and their queue is the
test's own, so that no other worker on the shared Redis takes them. The other entries are
left out: they would go to the default queue of that shared Redis.
"""

import os
from datetime import timedelta

from config.settings.test import *  # noqa: F403
from config.settings.test import CELERY_BEAT_SCHEDULE as PROJECT_BEAT_SCHEDULE

ROTATION_BEAT_ENTRIES = (
    "rotation-due-scan",
    "rotation-reminders-send",
    "rotation-escalate-overdue",
)

# Beat sends the jobs to the broker as in production, rather than running them itself.
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULE = {
    name: {
        **PROJECT_BEAT_SCHEDULE[name],
        "schedule": timedelta(seconds=1),
        "options": {
            **PROJECT_BEAT_SCHEDULE[name].get("options", {}),
            "queue": os.environ["KEYHOLD_TEST_BEAT_QUEUE"],
        },
    }
    for name in ROTATION_BEAT_ENTRIES
}
