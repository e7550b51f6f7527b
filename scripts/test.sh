#!/usr/bin/env bash
# Set up and run Keyhold's whole test suite: lint, migrations and deployment checks, then
# pytest on SQLite and on PostgreSQL with a real Redis (and headless Chromium).
# DATABASE_URL (a PostgreSQL URL) and REDIS_URL may point at servers of your own; without
# them the script uses, starts or installs local ones on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh

echo "== Setting up Python packages in .venv"
keyhold_venv "[dev]"

postgres_url() {
  if [ -n "${DATABASE_URL:-}" ]; then
    echo "$DATABASE_URL"
    return
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
      echo "   installing PostgreSQL (Debian package) ..." >&2
      keyhold_apt_install postgresql
    fi
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    keyhold_as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "PostgreSQL is not reachable on 127.0.0.1:5432: set DATABASE_URL to one." >&2
    exit 1
  fi
  if psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
    echo "postgres://postgres@127.0.0.1:5432/keyhold"
  else
    # A freshly installed Debian cluster trusts its own OS users over the socket only.
    keyhold_as_root su postgres -c "psql -Atc \"select 1 from pg_roles where rolname='$(id -un)'\"" \
      | grep -q 1 || keyhold_as_root su postgres -c "createuser --superuser $(id -un)"
    echo "postgres://%2Fvar%2Frun%2Fpostgresql/keyhold"
  fi
}

redis_url() {
  if [ -n "${REDIS_URL:-}" ]; then
    echo "$REDIS_URL"
    return
  fi
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    if ! command -v redis-server >/dev/null 2>&1; then
      echo "   installing Redis (Debian package) ..." >&2
      keyhold_apt_install redis-server
    fi
    mkdir -p /tmp/keyhold-redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
      --appendonly no --dir /tmp/keyhold-redis --logfile /tmp/keyhold-redis/redis.log >&2
    for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 1; done
  fi
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "Redis is not reachable on 127.0.0.1:6379: set REDIS_URL to one." >&2
    exit 1
  fi
  echo "redis://127.0.0.1:6379/0"
}

echo "== Services"
if [ ! -x /usr/bin/chromium ]; then
  echo "   installing Chromium (Debian package) for the browser tests ..."
  keyhold_apt_install chromium
fi
# The automated-rotation tests start their own private servers of each target on loopback.
missing_targets=()
command -v mariadbd >/dev/null 2>&1 || missing_targets+=(mariadb-server)
command -v slapd >/dev/null 2>&1 || missing_targets+=(slapd)
command -v ldapadd >/dev/null 2>&1 || missing_targets+=(ldap-utils)
[ -x /usr/sbin/sshd ] || missing_targets+=(openssh-server)
command -v sudo >/dev/null 2>&1 || missing_targets+=(sudo)
if [ ${#missing_targets[@]} -gt 0 ]; then
  echo "   installing rotation targets for the connector tests: ${missing_targets[*]} ..."
  keyhold_apt_install "${missing_targets[@]}"
fi
PG_URL=$(postgres_url)
export REDIS_URL
REDIS_URL=$(redis_url)
echo "   PostgreSQL: $PG_URL"
echo "   Redis: $REDIS_URL"
echo "   Chromium: $(/usr/bin/chromium --version 2>/dev/null || echo missing)"
echo "   Rotation targets: $(mariadbd --version 2>/dev/null | cut -d' ' -f1-4), \
slapd $(dpkg-query -W -f='${Version}' slapd 2>/dev/null), $(/usr/sbin/sshd -V 2>&1 | head -n 1)"

echo "== Lint and format"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "== Migrations match the models"
DATABASE_URL=sqlite:///:memory: .venv/bin/python manage.py makemigrations --check --dry-run

echo "== Django deployment checks with production settings"
DJANGO_SETTINGS_MODULE=config.settings.production \
  SECRET_KEY="check-only-$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
  ALLOWED_HOSTS=keyhold.example DATABASE_URL=sqlite:///:memory: \
  .venv/bin/python manage.py check --deploy --fail-level WARNING

echo "== The OpenAPI schema generates without warnings and validates"
DJANGO_SETTINGS_MODULE=config.settings.test DATABASE_URL=sqlite:///:memory: \
  .venv/bin/python manage.py spectacular --validate --fail-on-warn --file /dev/null

echo "== Tests on SQLite (the embedded default)"
env -u DATABASE_URL .venv/bin/pytest -q -p no:randomly

echo "== Tests on PostgreSQL with Redis"
DATABASE_URL="$PG_URL" .venv/bin/pytest -q -p no:randomly
