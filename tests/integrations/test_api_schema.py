"""The OpenAPI schema: generated without warnings, the same routes and methods as the URLconf,
served only to signed-in callers, with docs from vendored assets (C52, API8, API9)."""

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.core.management import CommandError, call_command
from django.test import Client as Browser
from django.utils import timezone
from drf_spectacular.drainage import GENERATOR_STATS

from integrations.services.tokens import api_token_create
from tests.conftest import sign_in
from tests.factories import UserFactory
from tests.integrations.api_world import API_PREFIX, api_schema, documented_methods
from tests.security.urls_walk import all_endpoints

PROBLEM = "application/problem+json"
UNDOCUMENTED = {"head", "options"}  # HEAD follows GET; OPTIONS is switched off (C54)


def _template(regex: str) -> str:
    """A URL pattern's regex as an OpenAPI path template: (?P<name>...) -> {name}."""
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", regex)
    return "/" + path.replace("\\Z", "").replace("$", "").replace("^", "").replace("\\", "")


def _api_endpoints():
    return [e for e in all_endpoints() if _template(e.regex).startswith(API_PREFIX)]


def _implemented_methods(callback) -> set[str]:
    actions = getattr(callback, "actions", None)
    if actions is not None:
        methods = set(actions)
    else:
        view = callback.cls
        methods = {m for m in view.http_method_names if hasattr(view, m)}
    return methods - UNDOCUMENTED


def test_schema_generates_valid_and_without_a_warning(tmp_path, capsys):
    GENERATOR_STATS.reset()  # counts carry over from earlier generations in this process
    capsys.readouterr()
    try:
        call_command(
            "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml")
        )
    except CommandError as error:
        pytest.fail(f"{error}:\n{capsys.readouterr().err}")
    captured = capsys.readouterr()
    assert captured.err.strip() == ""
    assert (tmp_path / "s.yml").read_text().startswith("openapi: 3")


def test_every_api_route_is_in_the_schema_and_every_schema_path_is_a_route():
    routes = {_template(e.regex) for e in _api_endpoints()}
    documented = set(api_schema()["paths"])
    assert routes - documented == set(), "routes missing from the OpenAPI schema"
    assert documented - routes == set(), "schema paths that no URL pattern serves"
    assert f"{API_PREFIX}me/" in routes


@pytest.mark.parametrize("endpoint", _api_endpoints(), ids=lambda e: e.name)
def test_the_schema_lists_exactly_the_methods_a_route_implements(endpoint):
    path = _template(endpoint.regex)
    assert _implemented_methods(endpoint.callback) == documented_methods(path)


def test_every_path_parameter_is_typed_in_the_schema():
    for path, item in api_schema()["paths"].items():
        for method, operation in item.items():
            params = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "path"}
            assert set(params) == set(re.findall(r"\{(\w+)\}", path)), (method, path)
            for name, param in params.items():
                schema = param["schema"]
                typed = schema.get("format") == "uuid" or schema.get("type") == "integer"
                assert typed, f"{method.upper()} {path}: {{{name}}} is {schema}"


def test_every_operation_id_is_unique():
    ids = [
        op["operationId"]
        for item in api_schema()["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    ]
    assert len(ids) == len(set(ids))


# --- /api/schema/ and /api/docs/ ---------------------------------------------------------------


@pytest.mark.django_db
def test_the_schema_is_refused_to_an_anonymous_caller_with_a_problem():
    response = Browser().get("/api/schema/")
    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response.json()["status"] == 401
    assert b"openapi" not in response.content


@pytest.mark.django_db
def test_the_schema_is_served_to_a_token(admin_user):
    _, plaintext = api_token_create(
        actor=admin_user,
        name="Docs",
        scopes=["clients:read"],
        expires_at=timezone.now() + timedelta(days=1),
    )
    response = Browser().get("/api/schema/?format=json", HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert response.status_code == 200
    assert response.json()["paths"].keys() == api_schema()["paths"].keys()


@pytest.mark.django_db
def test_the_docs_send_an_anonymous_browser_to_sign_in():
    response = Browser().get("/api/docs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_the_docs_send_a_session_without_mfa_to_the_mfa_step():
    browser = Browser()
    sign_in(browser, UserFactory(roles=["Administrator"]), verified=False)
    response = browser.get("/api/docs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/mfa/")


class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])


@pytest.mark.django_db
def test_the_docs_page_loads_every_script_and_style_from_this_server():
    browser = Browser()
    sign_in(browser, UserFactory(roles=["Technician"]))
    response = browser.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assets = _Assets()
    assets.feed(html)
    assert any("swagger-ui-bundle" in url for url in assets.urls)
    for url in assets.urls:
        assert url.startswith(("/static/drf_spectacular_sidecar/", "/api/docs/")), url
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", html, re.IGNORECASE)
    assert "<script>" not in html  # inline scripts would need 'unsafe-inline'
    script = browser.get("/api/docs/?script=")
    assert script.status_code == 200
    assert "javascript" in script["Content-Type"]
    assert not re.search(r"https?://", script.content.decode())
