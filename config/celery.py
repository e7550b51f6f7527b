"""The Celery app: Redis when REDIS_URL is set, otherwise the file broker under var/."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.development")

app = Celery("keyhold")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
