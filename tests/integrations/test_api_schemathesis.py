"""schemathesis over every operation of the OpenAPI schema, in process against the Django WSGI
application and the sweep world, as a full-scope token limited to client A (C52).

Each operation gets a bounded, derandomized run of valid and invalid requests, its path set
to client A's objects (and, in half the valid ones, the body's references too) so that the
requests reach real rows. Checks: no server error (for invalid requests too), the status
code, content type and body the schema documents, authentication never ignored, and no
response carrying anything of client B. Not `negative_data_rejection`: DRF accepts some
input the schema calls invalid (a number for a text field, an unusable page_size it then
ignores), which is lenient rather than unsafe. Each request runs in
a savepoint rolled back after it: every example starts from the same world, and a failing
one replays the same way while Hypothesis shrinks it.
"""

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integrations.api_world import (
    ALL_SCOPES,
    REFERENCE_FIELDS,
    api_schema,
    leaks_of_tenant,
    operations,
    path_values,
    world_for_module,
)

OPERATIONS = operations()
EXAMPLES = 20  # per operation and generation mode
BASE_URL = "http://testserver"


def _ids(op):
    return op.id


@pytest.fixture(autouse=True)
def _generous_rate_limits(settings):
    """Hundreds of calls with one token, and invalid ones from ignored_auth's probes."""
    settings.API_RATE_PER_TOKEN = "100000/m"
    settings.API_REVEAL_RATE = "100000/h"
    settings.API_TOKEN_REFUSALS_PER_ADDRESS = "100000/m"


@pytest.fixture(scope="module")
def module_world(django_db_setup, django_db_blocker):
    with world_for_module(django_db_blocker) as world:
        yield world


@pytest.fixture
def world(module_world, db):
    return module_world


@pytest.fixture(scope="module")
def api():
    return schemathesis.openapi.from_dict(api_schema(), config=schemathesis.Config())


@pytest.fixture
def app():
    """Django's WSGI handler, without closing the test's connection after each request (the
    test client does the same): that connection holds the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _no_data_of_client_b(world):
    def no_data_of_client_b(ctx, response, case):
        sent = {str(v) for v in (case.path_parameters or {}).values()}
        leaks = leaks_of_tenant(response.content, world.b, allowed=sent)
        assert not leaks, f"the response carries client B's data: {leaks}"

    return no_data_of_client_b


def _pin_references(case, tenant) -> None:
    """Point body fields and filters that name an object at the tenant's own: generated ids
    find nothing, so creating a checkout or a credential would otherwise never succeed."""
    for container in (case.body, case.query):
        if isinstance(container, dict):
            for name in set(container) & set(REFERENCE_FIELDS):
                container[name] = str(REFERENCE_FIELDS[name](tenant).pk)


def _strategy(operation, op, world):
    fixed = path_values(op.path, world.a)
    modes = [GenerationMode.POSITIVE]
    if op.query_params or op.request_schema is not None:
        modes.append(GenerationMode.NEGATIVE)
    return st.one_of(
        *[operation.as_strategy(generation_mode=mode, path_parameters=fixed) for mode in modes]
    )


@pytest.mark.parametrize("op", OPERATIONS, ids=_ids)
def test_schemathesis_finds_no_server_error_and_no_response_outside_the_schema(world, api, app, op):
    api.app = app  # probes (ignored_auth) go through the schema's transport too
    operation = api[op.path][op.method.upper()]
    headers = {"Authorization": f"Bearer {world.token(ALL_SCOPES, clients=('A',))}"}
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        ignored_auth,
        _no_data_of_client_b(world),
    ]

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(operation, op, world), pin=st.booleans())
    def run(case, pin):
        if pin and case.meta.generation.mode is GenerationMode.POSITIVE:
            _pin_references(case, world.a)
        with transaction.atomic():
            try:
                response = case.call_and_validate(base_url=BASE_URL, headers=headers, checks=checks)
                answered.append(response.status_code)
            finally:
                transaction.set_rollback(True)

    answered: list[int] = []
    run()
    assert answered, f"no request of {op.id} was sent"


def test_every_schema_operation_is_fuzzed(api):
    labels = {f"{op.method.upper()} {op.path}" for op in OPERATIONS}
    fuzzed = {result.ok().label for result in api.get_all_operations() if hasattr(result, "ok")}
    assert fuzzed == labels
