"""The API sweeps' shared world, and what they know about the OpenAPI schema's routes.

Two clients, A and B, each with a system, a standard, three high-privilege (one checked
out by the administrator, one with two requests waiting for approval, the administrator's
and a privileged technician's, one free) and an emergency credential, an open rotation task,
a submitted intake, a staged submission from a client intake link, and the audit events all
of that left. An administrator (also a manager) manages both clients; a technician uses A
only; a second, privileged technician asks for checkouts on both. Every value of client X
carries a canary: metadata "CANARY-X-…", secrets and notes "CANARY-X-SECRET-…" and
"CANARY-X-NOTES-…", TOTP seeds "CANARYXSEED…" (base32), so that a sweep can grep any
response body for what must not be there.

The routes come from drf-spectacular's schema, so a route added later is swept without a
change here, unless it has a path parameter nobody taught the sweeps to fill: then
`fill_path` fails and names the parameter, the path and the place to add a filler.
"""

import base64
import copy
import functools
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

from django.db import transaction
from django.urls import resolve
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from accounts.models import Role, User
from audit.models import AuditEvent
from intake.models import Intake, IntakeEntry, StagedCredential
from intake.services import links as intake_links
from intake.services.intakes import (
    intake_draft_get_or_start,
    intake_entry_save,
    intake_submit,
)
from integrations.models import ApiScope
from integrations.services.tokens import api_token_create
from rotation.models import RotationTask
from rotation.services.tasks import rotation_task_request
from tenants.models import AccessLevel, Client, System
from tenants.services import assignment_grant
from tests.factories import ClientFactory, SystemFactory, UserFactory
from vault.models import Checkout, Credential
from vault.services.checkouts import checkout_request, client_vault_policy_update
from vault.services.credentials import credential_create, credential_update

API_PREFIX = "/api/v1/"
HTTP_METHODS = ("get", "post", "put", "patch", "delete", "options", "trace", "head")
ALL_SCOPES = tuple(ApiScope.values)
NONEXISTENT_SEQUENCE = 10**12


# --- The schema --------------------------------------------------------------------------------


@functools.cache
def _schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def api_schema() -> dict:
    """The OpenAPI document as drf-spectacular generates it (a copy: callers may change it)."""
    return copy.deepcopy(_schema())


@dataclass(frozen=True)
class Operation:
    path: str  # the schema's template, "/api/v1/credentials/{credential_id}/reveal/"
    method: str  # lower case
    spec: dict = field(compare=False, repr=False)

    @property
    def id(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.path)

    @property
    def query_params(self) -> set[str]:
        return {p["name"] for p in self.spec.get("parameters", []) if p.get("in") == "query"}

    @property
    def is_list(self) -> bool:
        """A GET of a collection: no path parameter and a paginated 200."""
        if self.method != "get" or self.path_params:
            return False
        schema = _json_schema(self.spec.get("responses", {}).get("200", {}))
        return "results" in resolve_schema(schema).get("properties", {})

    @property
    def request_schema(self) -> dict | None:
        body = self.spec.get("requestBody")
        if not body:
            return None
        return resolve_schema(_json_schema(body))


def _json_schema(part: dict) -> dict:
    content = part.get("content", {})
    for media_type in ("application/json", "application/problem+json"):
        if media_type in content:
            return content[media_type].get("schema", {})
    return next(iter(content.values()), {}).get("schema", {}) if content else {}


def resolve_schema(schema: dict) -> dict:
    """Follow $ref and merge allOf, enough to read a request or response body's fields."""
    components = _schema()["components"]["schemas"]
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    if "allOf" in schema:
        merged: dict = {"type": "object", "properties": {}, "required": []}
        for part in schema["allOf"]:
            part = resolve_schema(part)
            merged["properties"].update(part.get("properties", {}))
            merged["required"] += part.get("required", [])
            for key in ("enum", "type", "format"):
                if key in part:
                    merged[key] = part[key]
        return merged
    return schema


def operations() -> list[Operation]:
    """Every (path, method) of the schema, in a stable order."""
    found = []
    for path, item in sorted(_schema()["paths"].items()):
        for method, spec in item.items():
            if method in HTTP_METHODS:
                found.append(Operation(path=path, method=method, spec=spec))
    return found


def schema_paths() -> list[str]:
    return sorted(_schema()["paths"])


def documented_methods(path: str) -> set[str]:
    return {m for m in _schema()["paths"][path] if m in HTTP_METHODS}


# --- The world ---------------------------------------------------------------------------------


@dataclass
class Tenant:
    """One client's objects; `key` is "A" or "B"."""

    key: str
    client: Client
    system: System
    standard: Credential
    high_active: Credential
    high_pending: Credential
    high_free: Credential
    emergency: Credential
    active_checkout: Checkout
    pending_checkout: Checkout  # the administrator's own request
    requested_checkout: Checkout  # the privileged technician's, for a manager to decide
    task: RotationTask
    intake: Intake
    intake_entry: IntakeEntry
    staged: StagedCredential

    def object_ids(self) -> set[str]:
        """Every public identifier of the client's objects, as a response would print it."""
        objects = [
            self.client, self.system, self.standard, self.high_active, self.high_pending,
            self.high_free, self.emergency, self.active_checkout, self.pending_checkout,
            self.requested_checkout, self.task,
            self.intake, self.intake_entry, self.staged,
        ]  # fmt: skip
        return {str(obj.pk) for obj in objects}

    def last_event(self) -> AuditEvent:
        return AuditEvent.objects.filter(client=self.client).order_by("-sequence").first()

    def snapshot(self) -> dict:
        """The client's rows as they stand, to show a refused request changed nothing."""
        of = {"client": self.client}
        return {
            "client": list(Client.objects.filter(pk=self.client.pk).values_list("name", "status")),
            "systems": list(System.objects.filter(**of).order_by("pk").values_list("pk", "name")),
            "credentials": list(
                Credential.objects.filter(**of)
                .order_by("pk")
                .values_list("pk", "status", "updated_at", "system_id", "secret")
            ),
            "checkouts": list(
                Checkout.objects.filter(**of).order_by("pk").values_list("pk", "status")
            ),
            "tasks": list(
                RotationTask.objects.filter(**of).order_by("pk").values_list("pk", "status")
            ),
            "intakes": list(Intake.objects.filter(**of).order_by("pk").values_list("pk", "status")),
            "entries": list(
                IntakeEntry.objects.filter(**of).order_by("pk").values_list("pk", "updated_at")
            ),
            "staged": list(
                StagedCredential.objects.filter(**of).order_by("pk").values_list("pk", "status")
            ),
        }


@dataclass
class World:
    admin: User
    technician: User  # use level on client A only
    requester: User  # privileged level on both clients
    tenants: dict[str, Tenant]

    @property
    def a(self) -> Tenant:
        return self.tenants["A"]

    @property
    def b(self) -> Tenant:
        return self.tenants["B"]

    def token(self, scopes=ALL_SCOPES, *, clients=("A",)) -> str:
        """A token of the administrator, limited to the named clients (none: all of theirs)."""
        _, plaintext = api_token_create(
            actor=self.admin,
            name=f"Sweep {uuid.uuid4().hex[:8]}",
            scopes=list(scopes),
            clients=[self.tenants[key].client for key in clients],
            expires_at=timezone.now() + timedelta(days=1),
        )
        return plaintext


def secret_of(key: str, what: str) -> str:
    return f"CANARY-{key}-SECRET-{what}"


def notes_of(key: str, what: str) -> str:
    return f"CANARY-{key}-NOTES-{what}"


def seed_of(key: str) -> str:
    return f"CANARY{key}SEEDJBSWY3DPEHPK3PXP"


def _credential(admin, client, key, what, credential_type, **extra) -> Credential:
    return credential_create(
        actor=admin,
        client=client,
        name=f"CANARY-{key}-CREDENTIAL-{what}",
        credential_type=credential_type,
        secret=secret_of(key, what),
        username=f"CANARY-{key}-USERNAME-{what}",
        host=f"canary-{key.lower()}-host-{what}.example.net",
        notes=notes_of(key, what),
        totp_seed=seed_of(key),
        **extra,
    )


def _tenant(key: str, admin: User, requester: User) -> Tenant:
    client = ClientFactory(name=f"CANARY-{key}-CLIENT", slug=f"canary-{key.lower()}-client")
    assignment_grant(actor=None, client=client, user=admin, level=AccessLevel.MANAGE)
    assignment_grant(actor=None, client=client, user=requester, level=AccessLevel.PRIVILEGED)
    system = SystemFactory(client=client, name=f"CANARY-{key}-SYSTEM")
    standard = _credential(admin, client, key, "standard", "standard_user", system=system)
    # A rotated secret leaves the old one as an encrypted version, for history routes.
    credential_update(
        actor=admin,
        credential=standard,
        secret=secret_of(key, "standard-rotated"),
        reason=f"CANARY-{key}-REASON rotated",
    )
    high_active = _credential(admin, client, key, "high-active", "domain_admin")
    high_pending = _credential(admin, client, key, "high-pending", "domain_admin")
    high_free = _credential(admin, client, key, "high-free", "domain_admin")
    emergency = _credential(admin, client, key, "emergency", "domain_admin", is_emergency=True)
    active = checkout_request(
        actor=admin,
        credential=high_active,
        ticket=f"CANARY-{key}-TICKET-1",
        reason=f"CANARY-{key}-REASON checkout",
    )
    client_vault_policy_update(
        actor=admin,
        client=client,
        reveal_ticket_required=False,
        checkout_approval_required=True,
        checkout_default_minutes=60,
        checkout_max_minutes=480,
    )
    pending = checkout_request(
        actor=admin,
        credential=high_pending,
        ticket=f"CANARY-{key}-TICKET-2",
        reason=f"CANARY-{key}-REASON approval",
    )
    requested = checkout_request(
        actor=requester,
        credential=high_pending,
        ticket=f"CANARY-{key}-TICKET-3",
        reason=f"CANARY-{key}-REASON second approval",
    )
    task = rotation_task_request(
        actor=admin, credential=standard, reason="manual", detail=f"CANARY-{key}-DETAIL"
    )
    intake = intake_draft_get_or_start(actor=admin, client=client)
    entry = intake_entry_save(
        actor=admin,
        intake=intake,
        system_name=f"CANARY-{key}-INTAKE-SYSTEM",
        system_kind="server",
        credential_type="standard_user",
        username=f"CANARY-{key}-INTAKE-USERNAME",
        access_method="rdp",
        received_via="entered",
        mfa_on_path="no",
        rotation_unknown=True,
        secret=secret_of(key, "intake"),
        notes=notes_of(key, "intake"),
        totp_seed=seed_of(key),
    )
    intake = intake_submit(actor=admin, intake=intake)
    staged = _staged(admin, client, key)
    return Tenant(
        key=key,
        client=client,
        system=system,
        standard=standard,
        high_active=high_active,
        high_pending=high_pending,
        high_free=high_free,
        emergency=emergency,
        active_checkout=active,
        pending_checkout=pending,
        requested_checkout=requested,
        task=task,
        intake=intake,
        intake_entry=entry,
        staged=staged,
    )


def _staged(admin, client, key) -> StagedCredential:
    """What a client contact sent through an intake link, waiting for review."""
    link, token = intake_links.intake_link_create(
        actor=admin,
        client=client,
        contact_name=f"CANARY-{key}-CONTACT",
        requests=[
            {
                "system_name": f"CANARY-{key}-LINK-SYSTEM",
                "credential_type": "",
                "username_hint": "",
                "note": "",
            }
        ],
    )
    request_id = str(link.requests.get().pk)
    staged = intake_links.intake_link_submit(
        actor=None,
        token_hash=intake_links.intake_token_hash(token=token),
        values={
            request_id: {
                "username": f"CANARY-{key}-LINK-USERNAME",
                "secret": secret_of(key, "staged"),
                "url": "",
                "notes": notes_of(key, "staged"),
                "totp": seed_of(key),
                "mfa_on_path": "",
            }
        },
        client_ip="203.0.113.9",
    )
    return staged[0]


@contextmanager
def world_for_module(django_db_blocker) -> Iterator[World]:
    """The world built once for a test module, inside a transaction rolled back after its
    last test; pytest-django rolls each test's own changes back to a savepoint within it."""
    with django_db_blocker.unblock(), transaction.atomic():
        world = build_world()
        yield world
        transaction.set_rollback(True)


def build_world() -> World:
    """Both clients, through the real services; about a second on SQLite."""
    # Also a manager: the audit log is for managers and auditors, and the sweeps read it.
    admin = UserFactory(
        email="ada.sweep@msp.example",
        full_name="Ada Sweep",
        roles=[Role.ADMINISTRATOR, Role.MANAGER],
    )
    requester = UserFactory(
        email="pat.sweep@msp.example", full_name="Pat Sweep", roles=[Role.TECHNICIAN]
    )
    tenants = {key: _tenant(key, admin, requester) for key in ("A", "B")}
    technician = UserFactory(
        email="tom.sweep@msp.example", full_name="Tom Sweep", roles=[Role.TECHNICIAN]
    )
    assignment_grant(actor=None, client=tenants["A"].client, user=technician, level=AccessLevel.USE)
    return World(admin=admin, technician=technician, requester=requester, tenants=tenants)


# --- Canaries ----------------------------------------------------------------------------------


def leaks_of_tenant(
    body: bytes | str, tenant: Tenant, *, allowed: set[str] = frozenset()
) -> list[str]:
    """Which of the tenant's canaries or identifiers appear in a response body.

    `allowed`: identifiers the request itself carried (a 400 may echo them back).
    """
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    lowered = text.lower()
    found = [
        marker
        for marker in (f"canary-{tenant.key.lower()}-", f"canary{tenant.key.lower()}seed")
        if marker in lowered
    ]
    found += sorted(ident for ident in tenant.object_ids() - allowed if ident in lowered)
    return found


def secret_leaks(body: bytes | str, key: str) -> list[str]:
    """Which of client `key`'s secret, notes or TOTP values appear, raw or base64-encoded."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    markers = [f"CANARY-{key}-SECRET-", f"CANARY-{key}-NOTES-", f"CANARY{key}SEED"]
    # base64 of the markers as they would start an encoded value (three alignments).
    encoded = []
    for marker in markers:
        for shift in range(3):
            chunk = base64.b64encode(b"x" * shift + marker.encode()).decode()
            encoded.append(chunk[4 if shift else 0 : -4])
    return [m for m in markers + encoded if m and m in text]


# --- Filling a route's path --------------------------------------------------------------------


class UnknownParameter(AssertionError):
    """A route has a path parameter the sweeps cannot fill: teach FILLERS about it."""


def _credential_for(tenant: Tenant, path: str) -> Credential:
    if "/checkout" in path:
        return tenant.high_active
    if "/emergency" in path:
        return tenant.emergency
    return tenant.standard


def _checkout_for(tenant: Tenant, path: str) -> Checkout:
    """Another's request for a manager's decision, one's own to cancel, else the lease."""
    if re.search(r"/(approve|deny)/$", path):
        return tenant.requested_checkout
    if path.endswith("/cancel/"):
        return tenant.pending_checkout
    return tenant.active_checkout


def _sequence_for(tenant: Tenant, path: str) -> int:
    return tenant.last_event().sequence


def _intake_for(tenant: Tenant, path: str) -> Intake:
    return tenant.intake


# parameter name -> (the tenant's object for a path, a value no object has)
FILLERS = {
    "client_id": (lambda t, p: t.client, uuid.uuid4),
    "system_id": (lambda t, p: t.system, uuid.uuid4),
    "credential_id": (_credential_for, uuid.uuid4),
    "checkout_id": (_checkout_for, uuid.uuid4),
    "task_id": (lambda t, p: t.task, uuid.uuid4),
    "intake_id": (_intake_for, uuid.uuid4),
    "sequence": (_sequence_for, lambda: NONEXISTENT_SEQUENCE),
}


def _value(obj) -> str:
    return str(getattr(obj, "pk", obj))


def path_values(path: str, tenant: Tenant | None) -> dict[str, str]:
    """Path parameter -> the tenant's object id for that route, or nonexistent ids for None."""
    values = {}
    for name in re.findall(r"\{(\w+)\}", path):
        if name not in FILLERS:
            raise UnknownParameter(
                f"{path} has the path parameter {{{name}}}, which the API sweeps do not know "
                f"how to fill: add {name!r} to FILLERS in tests/integrations/api_world.py "
                "(the client's object for that route, and a value no object has), and build "
                "that object for both clients in _tenant()."
            )
        of_tenant, missing = FILLERS[name]
        values[name] = _value(of_tenant(tenant, path)) if tenant is not None else _value(missing())
    return values


def fill_path(path: str, tenant: Tenant | None) -> str:
    """The schema path with each parameter set to the tenant's object (None: nonexistent)."""
    values = path_values(path, tenant)
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


# --- Bodies ------------------------------------------------------------------------------------

# Fields that name another object: filled with the target tenant's object.
REFERENCE_FIELDS = {
    "client": lambda t: t.client,
    "client_id": lambda t: t.client,
    "system": lambda t: t.system,
    "system_id": lambda t: t.system,
    "credential": lambda t: t.high_free,
    "credential_id": lambda t: t.high_free,
    "checkout": lambda t: t.active_checkout,
    "checkout_id": lambda t: t.active_checkout,
    "task": lambda t: t.task,
    "task_id": lambda t: t.task,
    "intake": lambda t: t.intake,
    "intake_id": lambda t: t.intake,
}
PLAIN_FIELDS = {
    "ticket": "T-2001",
    "reason": "Sweep: checking the API answers",
    "note": "Sweep note",
    "purpose": "reveal",
    "secret": "Sweep-New-Secret-9f2c1d",
    "new_secret": "Sweep-New-Secret-9f2c1d",
    "name": "Sweep object",
    "duration_minutes": 60,
}


def _example(name: str, schema: dict, tenant: Tenant | None):
    schema = resolve_schema(schema)
    if name in REFERENCE_FIELDS:
        return str(REFERENCE_FIELDS[name](tenant).pk) if tenant else str(uuid.uuid4())
    if name in PLAIN_FIELDS:
        return PLAIN_FIELDS[name]
    if "enum" in schema:
        return next((v for v in schema["enum"] if v not in (None, "")), schema["enum"][0])
    kind = schema.get("type", "string")
    if kind == "object":
        return body_for(schema, tenant)
    if kind == "array":
        return []
    if kind == "boolean":
        return False
    if kind in {"integer", "number"}:
        return max(schema.get("minimum", 1), 1)
    formats = {
        "uuid": str(uuid.uuid4()),
        "date-time": (timezone.now() + timedelta(days=30)).isoformat(),
        "date": (timezone.now() - timedelta(days=30)).date().isoformat(),
        "email": "sweep@msp.example",
        "uri": "https://sweep.example.net/",
    }
    return formats.get(schema.get("format", ""), "Sweep value")


def body_for(schema: dict | None, tenant: Tenant | None) -> dict | None:
    """A body that looks valid: every writable field, references pointing into `tenant`."""
    if schema is None:
        return None
    schema = resolve_schema(schema)
    return {
        name: _example(name, prop, tenant)
        for name, prop in schema.get("properties", {}).items()
        if not prop.get("readOnly")
    }


def references_in(schema: dict | None) -> set[str]:
    if schema is None:
        return set()
    return set(resolve_schema(schema).get("properties", {})) & set(REFERENCE_FIELDS)


# --- Views -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Handler:
    view_class: type
    action: str | None  # the viewset action for the method, None for a plain view

    @property
    def open_to_every_token(self) -> bool:
        return bool(getattr(self.view_class, "open_to_every_token", False))

    def scope(self, method: str) -> str | None:
        scopes = getattr(self.view_class, "scopes", {})
        return scopes.get(self.action or method.lower())


def handler_of(path: str, method: str) -> Handler:
    """The view class behind a concrete path and what it names the method."""
    func = resolve(path).func
    actions = getattr(func, "actions", None)
    action = actions.get(method.lower()) if actions else None
    return Handler(view_class=func.cls, action=action)


# --- Calling the API ---------------------------------------------------------------------------


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def call(browser, method: str, path: str, *, body=None, headers=None, query=None):
    """One request through Django's test client; `body` is sent as JSON."""
    if query:
        path = f"{path}?{urlencode(query)}"
    extra = headers or {}
    if body is None:
        return browser.generic(method.upper(), path, **extra)
    return browser.generic(
        method.upper(), path, data=json.dumps(body), content_type="application/json", **extra
    )
