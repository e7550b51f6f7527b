"""Every route of the API, from the OpenAPI schema: a caller of client A gets 404 for each
object of client B, the same 404 as for an object that does not exist, and no response
carries B's data or a secret other than a reveal (C01, C02, C03, C50; issue 8 acceptance).

The sweeps read the routes from the schema, so a route added later is swept as it lands;
one with a path parameter the world cannot fill fails and says what to add
(tests/integrations/api_world.py).
"""

import base64
import json
import uuid

import pytest
from django.test import Client as Browser

from tests.conftest import sign_in
from tests.integrations.api_world import (
    ALL_SCOPES,
    REFERENCE_FIELDS,
    bearer,
    body_for,
    call,
    fill_path,
    leaks_of_tenant,
    operations,
    path_values,
    references_in,
    secret_leaks,
    world_for_module,
)

OPERATIONS = operations()
ON_OBJECTS = [op for op in OPERATIONS if op.path_params]
LISTS = [op for op in OPERATIONS if op.is_list]
READS = [op for op in OPERATIONS if op.method == "get"]
WRITES_WITH_REFERENCES = [
    op
    for op in OPERATIONS
    if op.method in {"post", "put", "patch"} and references_in(op.request_schema)
]
# Lists of things that belong to no client (none yet): exempt from the "B's rows exist" control.
NOT_CLIENT_DATA = {"/api/v1/me/"}
PROBLEM = "application/problem+json"
# Query filters that name an object: set to B's in the list sweeps.
REFERENCE_QUERY = {**REFERENCE_FIELDS, "target_id": lambda tenant: tenant.high_active}


def _ids(op):
    return op.id


@pytest.fixture(autouse=True)
def _generous_rate_limits(settings):
    """The sweeps make many calls with one token; the limits themselves are tested elsewhere."""
    settings.API_RATE_PER_TOKEN = "100000/m"
    settings.API_REVEAL_RATE = "100000/h"


@pytest.fixture(scope="module")
def module_world(django_db_setup, django_db_blocker):
    with world_for_module(django_db_blocker) as world:
        yield world


@pytest.fixture
def world(module_world, db):
    return module_world


def _principal(world, who: str) -> tuple[Browser, dict]:
    """A caller of client A only: a full-scope token limited to A, or the technician's session."""
    browser = Browser()
    if who == "token":
        return browser, bearer(world.token(ALL_SCOPES, clients=("A",)))
    sign_in(browser, world.technician)
    return browser, {}


def _send(browser, headers, op, path, body_tenant):
    body = body_for(op.request_schema, body_tenant) if op.method != "get" else None
    return call(browser, op.method, path, body=body, headers=headers)


def _normalised(response, *sent: str) -> tuple[int, str]:
    text = response.content.decode(errors="replace")
    for value in sent:
        text = text.replace(value, "<sent>")
    return response.status_code, text


# --- Objects of client B -----------------------------------------------------------------------


@pytest.mark.parametrize("who", ["token", "session"])
@pytest.mark.parametrize("op", ON_OBJECTS, ids=_ids)
def test_a_caller_of_client_a_gets_the_same_404_for_b_objects_as_for_missing_ones(world, op, who):
    browser, headers = _principal(world, who)
    b_path = fill_path(op.path, world.b)
    missing_path = fill_path(op.path, None)
    before = world.b.snapshot()

    of_b = _send(browser, headers, op, b_path, world.b)
    missing = _send(browser, headers, op, missing_path, None)

    # The technician's role may rule a whole route out (403 whatever the object): fine, as
    # long as it answers the same for B's object and for none. A token gets 404.
    refused = {404} if who == "token" else {403, 404}
    assert of_b.status_code in refused, (b_path, of_b.status_code, of_b.content[:300])
    assert of_b["Content-Type"] == PROBLEM
    assert (missing.status_code, missing.json()) == (of_b.status_code, of_b.json())
    assert leaks_of_tenant(of_b.content, world.b) == []
    assert world.b.snapshot() == before


@pytest.mark.parametrize("op", [op for op in ON_OBJECTS if op.method == "get"], ids=_ids)
def test_the_b_objects_of_the_sweep_are_real_for_a_token_not_limited_to_a(world, op):
    """The control for the 404s above: the same path answers 200 when B is in reach."""
    token = world.token(ALL_SCOPES, clients=())
    response = call(Browser(), "get", fill_path(op.path, world.b), headers=bearer(token))
    assert response.status_code == 200, response.content[:300]
    assert leaks_of_tenant(response.content, world.b) != []


@pytest.mark.parametrize("who", ["token", "session"])
@pytest.mark.parametrize("op", WRITES_WITH_REFERENCES, ids=_ids)
def test_a_write_that_names_a_b_object_in_its_body_is_refused_like_a_missing_one(world, op, who):
    """C03: references inside a body reach no further than the path does."""
    browser, headers = _principal(world, who)
    path = fill_path(op.path, world.a)
    before_a = world.a.snapshot()
    before_b = world.b.snapshot()
    b_body = body_for(op.request_schema, world.b)
    missing_body = body_for(op.request_schema, None)
    references = references_in(op.request_schema)
    sent_b = [str(v) for k, v in b_body.items() if k in references]
    sent_missing = [str(v) for k, v in missing_body.items() if k in references]

    missing = call(browser, op.method, path, body=missing_body, headers=headers)
    of_b = call(browser, op.method, path, body=b_body, headers=headers)

    assert not 200 <= of_b.status_code < 300, (path, b_body, of_b.content[:300])
    assert _normalised(of_b, *sent_b) == _normalised(missing, *sent_missing)
    assert leaks_of_tenant(of_b.content, world.b, allowed=set(sent_b)) == []
    assert world.b.snapshot() == before_b
    assert world.a.snapshot() == before_a


# --- Lists ---------------------------------------------------------------------------------------


def _reference_filters(op, tenant) -> list[dict]:
    """One query per filter naming an object, set to the tenant's; `client` even if not one."""
    names = (set(REFERENCE_QUERY) & op.query_params) | {"client"}
    return [{name: str(REFERENCE_QUERY[name](tenant).pk)} for name in sorted(names)]


@pytest.mark.parametrize("who", ["token", "session"])
@pytest.mark.parametrize("op", LISTS, ids=_ids)
def test_a_list_for_a_caller_of_client_a_holds_no_b_row_even_when_filtered_to_b(world, op, who):
    browser, headers = _principal(world, who)
    plain = call(browser, "get", op.path, headers=headers)
    # The technician's role may rule a whole list out; then every filter is refused alike.
    assert plain.status_code in ({200} if who == "token" else {200, 403})
    assert leaks_of_tenant(plain.content, world.b) == []
    answers = {200, 400, 404} if plain.status_code == 200 else {400, 403}
    for query in [*_reference_filters(op, world.b), {"client": world.b.client.slug}]:
        filtered = call(browser, "get", op.path, headers=headers, query=query)
        assert filtered.status_code in answers, (query, filtered.status_code)
        allowed = set(query.values()) if filtered.status_code != 200 else set()
        assert leaks_of_tenant(filtered.content, world.b, allowed=allowed) == [], query
        if filtered.status_code == 200 and set(query) & op.query_params:
            assert filtered.json()["count"] == 0, query


@pytest.mark.parametrize("op", [op for op in LISTS if op.path not in NOT_CLIENT_DATA], ids=_ids)
def test_every_list_shows_b_rows_to_a_token_that_reaches_b(world, op):
    """The control for the sweep above: the world has B rows in every list."""
    token = world.token(ALL_SCOPES, clients=())
    response = call(Browser(), "get", op.path, headers=bearer(token), query={"page_size": 1000})
    assert response.status_code == 200
    assert leaks_of_tenant(response.content, world.b) != [], (
        f"{op.path} shows no row of client B even to a token that reaches B: build B's rows "
        "for it in tests/integrations/api_world.py, or add it to NOT_CLIENT_DATA with a reason."
    )


def test_a_client_filter_cannot_widen_a_token_limited_to_a(world):
    token = world.token(ALL_SCOPES, clients=("A",))
    for op in LISTS:
        for query in _reference_filters(op, world.b):
            response = call(Browser(), "get", op.path, headers=bearer(token), query=query)
            sent = set(query.values())
            assert leaks_of_tenant(response.content, world.b, allowed=sent) == [], op.path


# --- Secrets -------------------------------------------------------------------------------------


def test_no_list_or_detail_response_of_client_a_contains_a_secret(world):
    """Issue 8: only a reveal returns a secret; notes and TOTP seeds never leave."""
    token = world.token(ALL_SCOPES, clients=("A",))
    seen = []
    for op in READS:
        path = fill_path(op.path, world.a)
        response = call(Browser(), "get", path, headers=bearer(token), query={"page_size": 1000})
        assert response.status_code == 200, (path, response.content[:300])
        assert secret_leaks(response.content, "A") == [], path
        seen.append(path)
    assert seen, "the schema has no GET routes"


def test_the_secret_canaries_are_what_a_reveal_returns(world):
    """The control for the scan above: the canary is the secret the API reveals."""
    reveal = "/api/v1/credentials/{credential_id}/reveal/"
    if reveal not in {op.path for op in OPERATIONS}:
        pytest.fail(f"{reveal} is not in the schema")
    token = world.token(ALL_SCOPES, clients=("A",))
    response = call(
        Browser(),
        "post",
        fill_path(reveal, world.a),
        body={"ticket": "T-4711"},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.content
    assert "CANARY-A-SECRET-standard-rotated" in response.content.decode()
    assert "CANARY-A-NOTES-" not in response.content.decode()


def test_the_fillers_name_each_path_parameter_of_every_route(world):
    """A route whose path cannot be filled fails here with the parameter and the fix."""
    for op in OPERATIONS:
        values = path_values(op.path, world.b)
        assert set(values) == set(op.path_params)
        missing = path_values(op.path, None)
        assert all(values[name] != missing[name] for name in values)
        for value in values.values():
            if not value.isdigit():
                uuid.UUID(value)


def test_canary_scan_finds_what_it_looks_for(world):
    """The scanners are not blind: B's name, id and secrets are found in any spelling."""
    assert leaks_of_tenant(json.dumps({"name": world.b.client.name}), world.b)
    assert leaks_of_tenant(str(world.b.task.pk), world.b)
    assert leaks_of_tenant(world.b.client.slug, world.b)
    secret = "CANARY-A-SECRET-standard"
    assert secret_leaks(secret, "A")
    for prefix in (b"", b"a", b"ab"):
        assert secret_leaks(base64.b64encode(prefix + secret.encode()).decode(), "A"), prefix
    assert secret_leaks("CANARYASEEDJBSWY3DPEHPK3PXP", "A")
    assert secret_leaks("nothing here", "A") == []
