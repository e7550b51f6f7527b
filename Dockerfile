# syntax=docker/dockerfile:1
# Keyhold's production image. One image runs every process of docker-compose.yml: gunicorn
# (the default command), the Celery worker and beat, and the one-shot migrate and
# keyring-init jobs. The source and the collected static files belong to root; the app runs
# as the unprivileged user `keyhold`, which can write only to /var/lib/keyhold (Celery beat's
# schedule) and, in the keyring-init job alone, /run/keyhold (the keyring volume).
FROM python:3.11-slim

# PYTHONPATH: `pip install .` puts the packages in site-packages, but templates/ and static/
# stay in /app (BASE_DIR is derived from config/), so every process imports the code from
# /app. WEB_CONCURRENCY is gunicorn's worker count; docker-compose.yml may override it.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    KEYHOLD_VAR_DIR=/var/lib/keyhold \
    KEYHOLD_KEYRING=/run/keyhold/keyring.json \
    WEB_CONCURRENCY=3

# A fixed uid/gid, so the keyring file written by keyring-init is readable by web, worker
# and beat. Both directories are created here, owned by keyhold and mode 0700: Docker copies
# a mount point's owner and mode into a named volume when that volume is first created.
RUN groupadd --system --gid 10001 keyhold \
    && useradd --system --uid 10001 --gid keyhold --no-create-home \
        --home-dir /var/lib/keyhold --shell /usr/sbin/nologin keyhold \
    && install -d -o keyhold -g keyhold -m 0700 /var/lib/keyhold /run/keyhold

WORKDIR /app
COPY . .
RUN pip install . \
    && rm -rf build ./*.egg-info \
    && python -m compileall -q config accounts tenants vault

# Production settings refuse to load without a SECRET_KEY of 50+ characters. This throwaway
# value exists for this one command only: it is not an ENV and is not kept in the image.
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    python manage.py collectstatic --noinput

USER keyhold:keyhold
EXPOSE 8000

# The access log leaves out query strings (%(U)s is the path alone, not %(r)s) and the
# Referer, which can carry another page's query string.
CMD ["gunicorn", "config.wsgi:application", \
     "--bind", "0.0.0.0:8000", \
     "--worker-tmp-dir", "/dev/shm", \
     "--timeout", "30", \
     "--max-requests", "1000", \
     "--max-requests-jitter", "100", \
     "--access-logfile", "-", \
     "--access-logformat", "%(h)s %(t)s \"%(m)s %(U)s %(H)s\" %(s)s %(b)s %(L)s \"%(a)s\""]
