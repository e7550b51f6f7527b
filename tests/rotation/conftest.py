"""The rotation test world: the usual people plus pat (privileged on A) and mona (manager of A)."""

import pytest

from accounts.models import Role
from tenants.models import AccessLevel
from tenants.services import assignment_grant
from tests.factories import UserFactory
from tests.vault.test_credentials import make_credential


@pytest.fixture
def pat(client_a):
    """Technician with privileged access to client A."""
    user = UserFactory(email="pat@msp.example", full_name="Pat Privileged", roles=[Role.TECHNICIAN])
    assignment_grant(actor=None, client=client_a, user=user, level=AccessLevel.PRIVILEGED)
    return user


@pytest.fixture
def high_credential(client_a, alice):
    return make_credential(client=client_a, actor=alice, name="DC01 domain admin")


@pytest.fixture
def standard_credential(client_a, alice):
    return make_credential(
        client=client_a, actor=alice, name="Front desk", credential_type="standard_user"
    )


@pytest.fixture
def service_credential(client_a, alice):
    return make_credential(
        client=client_a, actor=alice, name="Backup agent", credential_type="service_account"
    )


@pytest.fixture
def credential_b(client_b):
    return make_credential(client=client_b, name="FS01 admin", credential_type="standard_user")
