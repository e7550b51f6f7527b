"""The test world of CONVENTIONS.md: two clients and alice, bob and charlie at least."""

import os
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY

from accounts.mfa import MFA_VERIFIED_AT, SESSION_STARTED_AT
from accounts.models import Role
from audit import reviews
from tenants.models import AccessLevel
from tenants.services import assignment_grant
from tests.factories import ClientFactory, SystemFactory, UserFactory
from vault.keyring import keyring_create

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_configure(config):
    keyring_path = Path(settings.KEYHOLD_KEYRING)
    if not keyring_path.exists():
        keyring_create(keyring_path)


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgresql` need PostgreSQL's roles; the SQLite run deselects them."""
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    kept = [item for item in items if "postgresql" not in item.keywords]
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = kept


@pytest.fixture(autouse=True)
def _audit_checkpoints_in_tmp(settings, tmp_path):
    """Each test starts with no checkpoint file of its own."""
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "audit-checkpoints"


def sign_in(client, user, *, verified: bool = True) -> None:
    """A signed-in session; `verified` marks it as having passed MFA just now."""
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    now = timezone.now().timestamp()
    session[SESSION_STARTED_AT] = now
    if verified:
        device = user.totpdevice_set.get(confirmed=True)
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session[MFA_VERIFIED_AT] = now
    session.save()


@pytest.fixture
def client_a(db):
    return ClientFactory(name="Contoso Dental", slug="contoso-dental")


@pytest.fixture
def client_b(db):
    return ClientFactory(name="Fabrikam Logistics", slug="fabrikam-logistics")


@pytest.fixture
def system_a(client_a):
    return SystemFactory(client=client_a, name="DC01")


@pytest.fixture
def system_b(client_b):
    return SystemFactory(client=client_b, name="FS01")


@pytest.fixture
def alice(client_a):
    """Manager with manage access to client A."""
    user = UserFactory(email="alice@msp.example", full_name="Alice Manager", roles=[Role.MANAGER])
    assignment_grant(actor=None, client=client_a, user=user, level=AccessLevel.MANAGE)
    return user


@pytest.fixture
def bob(client_a):
    """Technician with use access to client A."""
    user = UserFactory(email="bob@msp.example", full_name="Bob Tech", roles=[Role.TECHNICIAN])
    assignment_grant(actor=None, client=client_a, user=user, level=AccessLevel.USE)
    return user


@pytest.fixture
def charlie(client_b):
    """Technician assigned only to client B."""
    user = UserFactory(
        email="charlie@msp.example", full_name="Charlie Tech", roles=[Role.TECHNICIAN]
    )
    assignment_grant(actor=None, client=client_b, user=user, level=AccessLevel.USE)
    return user


@pytest.fixture
def admin_user(client_a, client_b):
    """Administrator managing both clients."""
    user = UserFactory(email="ada@msp.example", full_name="Ada Admin", roles=[Role.ADMINISTRATOR])
    for each in (client_a, client_b):
        assignment_grant(actor=None, client=each, user=user, level=AccessLevel.MANAGE)
    return user


@pytest.fixture(autouse=True)
def _review_streams_per_test(monkeypatch):
    """Each test keeps its own analyses of settled months: tests write events into past
    months, which production never does (the cache outlives a test in Redis)."""
    monkeypatch.setattr(reviews, "STREAM_CACHE_PREFIX", f"review-stream:{uuid.uuid4().hex}")


@pytest.fixture(autouse=True)
def _rate_limits_per_test(settings):
    """Each test counts its own requests: rate-limit windows live in the cache, which
    outlives a test (Redis in CI), so one test's refusals must not limit the next."""
    settings.RATELIMIT_CACHE_PREFIX = f"rl:{uuid.uuid4().hex}:"
