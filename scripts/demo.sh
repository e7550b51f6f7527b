#!/usr/bin/env bash
# Set up and run Keyhold's embedded demo: SQLite and a local keyring under var/, Celery with a
# file broker (no Redis), demo data, and the server at http://localhost:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh

echo "Setting up Python packages in .venv ..."
keyhold_venv ""

# The demo is the embedded default whatever this shell has set.
unset DATABASE_URL REDIS_URL
export DJANGO_SETTINGS_MODULE=config.settings.development
mkdir -p var/celery/queue var/celery/control var/celery/results

.venv/bin/python manage.py keyring_init --if-missing
.venv/bin/python manage.py migrate --noinput -v 0
.venv/bin/python manage.py seed_demo
.venv/bin/python manage.py seed_demo_credentials
.venv/bin/python manage.py seed_demo_intake
.venv/bin/python manage.py rotation_due_scan

echo "Starting the background jobs (Celery worker and beat, file broker under var/celery) ..."
.venv/bin/celery -A config worker --beat --pool=solo --loglevel=WARNING \
  >var/celery/worker.log 2>&1 &
worker_pid=$!
trap 'kill "$worker_pid" 2>/dev/null || true' EXIT INT TERM

echo "Keyhold runs at http://localhost:8000 (Ctrl+C stops it)."
.venv/bin/python manage.py runserver localhost:8000
