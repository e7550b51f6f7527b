"""Every route and method of the API, from the OpenAPI schema: a token needs exactly the scope
the view names for what it does, whatever the method (C50, method confusion), and a method
the schema does not list gets 405, OPTIONS and TRACE included (C54).

The scope a route needs is read from its view (`scopes`, by viewset action or method), not
from a list kept here, so a new route is checked as it lands.
"""

import pytest
from django.test import Client as Browser

from audit.models import AuditEvent
from integrations.models import ApiScope, ApiToken
from tests.conftest import sign_in
from tests.integrations.api_world import (
    ALL_SCOPES,
    HTTP_METHODS,
    bearer,
    body_for,
    call,
    documented_methods,
    fill_path,
    handler_of,
    operations,
    schema_paths,
    world_for_module,
)

OPERATIONS = operations()
PROBLEM = "application/problem+json"
SCOPE_REFUSED = "api_token.scope_refused"


def _ids(op):
    return op.id


@pytest.fixture(autouse=True)
def _generous_rate_limits(settings):
    settings.API_RATE_PER_TOKEN = "100000/m"
    settings.API_REVEAL_RATE = "100000/h"


@pytest.fixture(scope="module")
def module_world(django_db_setup, django_db_blocker):
    with world_for_module(django_db_blocker) as world:
        yield world


@pytest.fixture
def world(module_world, db):
    return module_world


def _send(op, path, world, headers):
    body = body_for(op.request_schema, world.a) if op.method != "get" else None
    return call(Browser(), op.method, path, body=body, headers=headers)


def _problem(response, status):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    return body


# --- Scopes --------------------------------------------------------------------------------------


def test_every_operation_names_a_known_scope_or_is_open_to_every_token(world):
    for op in OPERATIONS:
        handler = handler_of(fill_path(op.path, world.a), op.method)
        scope = handler.scope(op.method)
        assert handler.open_to_every_token or scope in ApiScope.values, (
            f"{op.id}: {handler.view_class.__name__}.scopes names no scope for "
            f"{handler.action or op.method!r}, so every token is refused: name one, or take "
            "the operation out of the API"
        )


@pytest.mark.parametrize("op", OPERATIONS, ids=_ids)
def test_a_token_without_the_scope_of_the_operation_is_refused_with_403(world, op):
    path = fill_path(op.path, world.a)
    handler = handler_of(path, op.method)
    if handler.open_to_every_token:
        response = _send(op, path, world, bearer(world.token(["audit:read"])))
        assert response.status_code == 200
        return
    needed = handler.scope(op.method)
    others = [scope for scope in ALL_SCOPES if scope != needed]
    before = AuditEvent.objects.filter(action=SCOPE_REFUSED).count()

    body = _problem(_send(op, path, world, bearer(world.token(others))), 403)

    assert body["detail"] == f"This API token does not have the {needed} scope."
    assert AuditEvent.objects.filter(action=SCOPE_REFUSED).count() == before + 1


@pytest.mark.parametrize("op", OPERATIONS, ids=_ids)
def test_a_token_with_only_the_scope_of_the_operation_gets_past_the_scope_check(world, op):
    path = fill_path(op.path, world.a)
    handler = handler_of(path, op.method)
    scopes = [handler.scope(op.method) or "audit:read"]
    before = AuditEvent.objects.filter(action=SCOPE_REFUSED).count()

    response = _send(op, path, world, bearer(world.token(scopes)))

    assert "does not have the" not in response.content.decode(), response.content[:300]
    assert response.status_code != 401
    assert AuditEvent.objects.filter(action=SCOPE_REFUSED).count() == before


@pytest.mark.parametrize("op", OPERATIONS, ids=_ids)
def test_a_token_left_with_no_scope_at_all_is_refused(world, op):
    path = fill_path(op.path, world.a)
    plaintext = world.token(["clients:read"])
    ApiToken.objects.filter(prefix=plaintext[:10]).update(scopes=[])
    response = _send(op, path, world, bearer(plaintext))
    if handler_of(path, op.method).open_to_every_token:
        assert response.status_code == 200
    else:
        _problem(response, 403)


# --- Methods -------------------------------------------------------------------------------------


def _undocumented(path: str) -> list[str]:
    """Methods the schema does not list for the path; HEAD goes with GET."""
    documented = documented_methods(path)
    if "get" in documented:
        documented = documented | {"head"}
    return [m for m in HTTP_METHODS if m not in documented]


CASES = [(path, method) for path in schema_paths() for method in _undocumented(path)]


def _caller(world, who):
    browser = Browser()
    if who == "token":
        return browser, bearer(world.token(ALL_SCOPES))
    sign_in(browser, world.admin)
    return browser, {}


@pytest.mark.parametrize("who", ["token", "session"])
@pytest.mark.parametrize(("path", "method"), CASES, ids=[f"{m.upper()} {p}" for p, m in CASES])
def test_a_method_the_schema_does_not_list_gets_405(world, path, method, who):
    browser, headers = _caller(world, who)
    body = {} if method in {"post", "put", "patch"} else None
    response = call(browser, method, fill_path(path, world.a), body=body, headers=headers)
    assert response.status_code == 405, (
        f"{method.upper()} {path} answered {response.status_code} to a {who}, not 405: "
        f"{response.content[:200]!r}. A 403 'API tokens cannot use this endpoint' means the "
        "token scope check (integrations/rest.py TokenScopeRequired) runs before DRF can "
        "answer 405 for a method the view does not handle."
    )
    if method == "head":
        assert response.content == b""
        return
    assert method.upper() in _problem(response, 405)["detail"]


@pytest.mark.parametrize("who", ["token", "session"])
@pytest.mark.parametrize("path", [p for p in schema_paths() if "get" in documented_methods(p)])
def test_head_answers_like_get_without_a_body(world, path, who):
    browser, headers = _caller(world, who)
    concrete = fill_path(path, world.a)
    get = call(browser, "get", concrete, headers=headers)
    head = call(browser, "head", concrete, headers=headers)
    assert get.status_code == 200
    assert head.status_code == 200
    assert head.content == b""


@pytest.mark.parametrize("path", schema_paths())
def test_trace_never_echoes_the_request(world, path):
    token = world.token(ALL_SCOPES)
    response = call(Browser(), "trace", fill_path(path, world.a), headers=bearer(token))
    assert response.status_code != 200
    assert token not in response.content.decode()
    assert "Bearer" not in response.content.decode()
