"""The pages and endpoints bench/bench.py times issue as many queries for one credential as
for many, spread over several clients (issue 9: no query count that grows with the data)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tenants.models import AccessLevel
from tenants.services import assignment_grant
from tests.conftest import sign_in
from tests.factories import SystemFactory
from tests.vault.test_api_credentials import bearer
from tests.vault.test_credentials import make_credential
from vault.models import CredentialType

# (path, who asks): the technician's pages and the API token's list, as the bench sends them.
BENCHMARKED = {
    "credential list, page 1": ("/credentials/", "technician"),
    "search, common term": ("/search/?q=admin", "technician"),
    "search, rare term": ("/search/?q=zephyrine", "technician"),
    "API list of 1,000": ("/api/v1/credentials/?page_size=1000", "token"),
}
KINDS = (
    CredentialType.DOMAIN_ADMIN,
    CredentialType.STANDARD_USER,
    CredentialType.SERVICE_ACCOUNT,
    CredentialType.FIREWALL_ADMIN,
)


def _counts(client, headers) -> dict[str, int]:
    counts = {}
    for name, (path, who) in BENCHMARKED.items():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path, **(headers if who == "token" else {}))
        assert response.status_code == 200, (name, response.content[:300])
        counts[name] = len(queries)
    return counts


@pytest.mark.django_db
def test_benchmarked_lists_issue_the_same_queries_for_one_credential_or_many_clients_worth(
    client, bob, admin_user, client_a, client_b, system_a
):
    assignment_grant(actor=None, client=client_b, user=bob, level=AccessLevel.USE)
    _, headers = bearer(admin_user, scopes=["credentials:read"])
    # One row that every search finds: a search without a match skips the tags' query.
    make_credential(client=client_a, actor=admin_user, name="DC01 admin zephyrine", system=system_a)
    sign_in(client, bob)
    client.get("/api/v1/credentials/", **headers)  # the token's first use is noted once
    one = _counts(client, headers)

    system_b = SystemFactory(client=client_b, name="FS01")
    for n in range(24):
        make_credential(
            client=(client_a, client_b)[n % 2],
            actor=admin_user,
            name=f"Server {n} admin" + (" zephyrine" if n == 7 else ""),
            credential_type=KINDS[n % len(KINDS)],
            system=(system_a, system_b)[n % 2] if n % 3 else None,
            tags=[f"site-{n % 5}", "backup"] if n % 4 else [],
            totp_seed="" if n % 2 else "JBSWY3DPEHPK3PXP",
        )
    many = _counts(client, headers)
    assert many == one
