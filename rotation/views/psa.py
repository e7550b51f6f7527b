"""PSA tickets: the administrators' settings page, and the PSA's public callback.

The callback is public (the PSA has no Keyhold account), CSRF-exempt and POST only; it is
proven by the token in its address and, where the PSA signs, by the signature.
"""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Role
from accounts.services import require_role
from audit.services import AuditWriteError
from config.errors import AccessDenied, FieldInvalid, InvalidRequest, KeyholdError
from rotation.models import PsaConnection
from rotation.psa import ADAPTERS
from rotation.selectors import psa as psa_selectors
from rotation.services import psa as psa_services


def _field_name(kind: str, name: str, secret: bool) -> str:
    return f"{kind}__{'secret' if secret else 'setting'}__{name}"


def _input_name(kind: str, field: str) -> str:
    """The page's input for a service's field name ("settings.x", "secrets.x", "name", …)."""
    group, _, name = field.partition(".")
    if group in ("settings", "secrets") and name:
        return _field_name(kind, name, group == "secrets")
    return field


def _kinds(data, connection: PsaConnection | None, field_errors: dict) -> list[dict]:
    """Every PSA with its fields; values from what was typed, else the stored settings."""
    kinds = []
    for kind, adapter_class in ADAPTERS.items():
        stored = connection.settings if connection and connection.kind == kind else {}
        settings_fields = [
            {
                "field": field,
                "input": _field_name(kind, field.name, False),
                "value": data.get(_field_name(kind, field.name, False), stored.get(field.name, ""))
                if data
                else stored.get(field.name, ""),
                "error": field_errors.get(_field_name(kind, field.name, False), ""),
            }
            for field in adapter_class.settings_fields
        ]
        secret_fields = [
            {
                "field": field,
                "input": _field_name(kind, field.name, True),
                "error": field_errors.get(_field_name(kind, field.name, True), ""),
            }
            for field in adapter_class.secret_fields
        ]
        kinds.append(
            {
                "kind": kind,
                "label": PsaConnection.Kind(kind).label,
                "settings": settings_fields,
                "secrets": secret_fields,
            }
        )
    return kinds


def _page(
    request, *, connection, data=None, error="", field_errors=None, callback_url="", status=200
):
    chosen = (data or {}).get("kind") or (connection.kind if connection else "webhook")
    field_errors = field_errors or {}
    return render(
        request,
        "rotation/psa/settings.html",
        {
            "connection": connection,
            "kinds": _kinds(data, connection, field_errors),
            "field_errors": field_errors,
            "chosen_kind": chosen,
            "name": (data or {}).get("name", connection.name if connection else ""),
            "base_url": (data or {}).get("base_url", connection.base_url if connection else ""),
            "error": error,
            "callback_url": callback_url,
            "calls": psa_selectors.psa_call_list_recent(actor=request.user),
        },
        status=status,
    )


@never_cache
@require_http_methods(["GET", "POST"])
@sensitive_post_parameters()
@sensitive_variables("secret_fields")
def psa_settings(request):
    """GET: the PSA connection and recent calls. POST: save the connection."""
    require_role(request.user, Role.ADMINISTRATOR, action="configure the PSA connection")
    connection = psa_selectors.psa_connection_get_active(actor=request.user)
    if request.method == "GET":
        return _page(request, connection=connection)
    kind = request.POST.get("kind", "")
    adapter_class = ADAPTERS.get(kind)
    data = {key: value for key, value in request.POST.items() if "__secret__" not in key}
    if adapter_class is None:
        return _page(request, connection=connection, data=data, error="Choose a PSA.", status=400)
    settings = {
        field.name: request.POST.get(_field_name(kind, field.name, False), "")
        for field in adapter_class.settings_fields
    }
    secret_fields = {
        field.name: request.POST.get(_field_name(kind, field.name, True), "")
        for field in adapter_class.secret_fields
    }
    try:
        saved = psa_services.psa_connection_save(
            actor=request.user,
            kind=kind,
            name=request.POST.get("name", ""),
            base_url=request.POST.get("base_url", ""),
            settings=settings,
            secret_fields=secret_fields,
        )
    except FieldInvalid as error:
        return _page(
            request,
            connection=connection,
            data=data,
            error="Correct the field marked below; nothing was saved.",
            field_errors={_input_name(kind, error.field): error.message},
            status=400,
        )
    except InvalidRequest as error:
        return _page(request, connection=connection, data=data, error=error.message, status=400)
    callback_url = ""
    if saved.callback_token:
        path = reverse(
            "rotation:psa_callback",
            kwargs={"connection_id": saved.connection.pk, "token": saved.callback_token},
        )
        callback_url = request.build_absolute_uri(path)
    response = _page(request, connection=saved.connection, callback_url=callback_url)
    return response


@login_not_required
@csrf_exempt
@never_cache
@require_POST
@sensitive_variables("token")
def psa_callback(request, connection_id, token: str):
    """A PSA telling Keyhold about a ticket: 204 when taken (or nothing to do), 403 refused."""
    try:
        psa_services.psa_callback_receive(
            actor=None,
            connection_id=str(connection_id),
            raw_body=request.body,
            headers=dict(request.headers),
            path_token=token,
        )
    except AccessDenied as error:
        return HttpResponse(error.message, status=403, content_type="text/plain")
    except KeyholdError as error:
        return HttpResponse(error.message, status=error.status, content_type="text/plain")
    except AuditWriteError:
        return HttpResponse("Try again later.", status=503, content_type="text/plain")
    return HttpResponse(status=204)
