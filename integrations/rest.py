"""The REST API's common ground: base views, token scopes, pagination, problem details and
rate limits. Every API view of every app derives from ApiView or ApiViewSet.

A request authenticated by a token acts as the token's creator (so it never reaches more
than that person can today), narrowed to the token's clients when it has some, and allowed
only the actions its scopes name. A browser session that passed MFA acts as the person.
"""

from contextlib import suppress
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django_ratelimit.core import get_usage
from rest_framework import exceptions, generics, permissions, throttling, views, viewsets
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from audit.context import request_context_via_api_token
from audit.services import AuditWriteError
from config.errors import FieldInvalid, KeyholdError
from integrations.models import ApiToken
from integrations.schema import PROBLEM_CONTENT_TYPE
from integrations.services.tokens import api_rate_limited, api_token_scope_refused
from tenants.reach import client_reach_limited, client_reach_narrow

NOT_FOUND = "Not found, or outside what this request may reach."


def token_of(request) -> ApiToken | None:
    """The API token a request authenticated with, or None for a browser session."""
    return request.auth if isinstance(request.auth, ApiToken) else None


# --- Scopes ---------------------------------------------------------------------------------


class TokenScopeRequired(permissions.BasePermission):
    """A token may use a view only with the scope the view names for the action or method.

    A view that names no scope for an action refuses every token: a new action without a
    scope fails closed. Sessions are not limited by scopes; the person's access applies.
    """

    def has_permission(self, request, view) -> bool:
        token = token_of(request)
        if token is None or view.open_to_every_token:
            return True
        if not hasattr(view, request.method.lower()) or (
            request.method == "OPTIONS" and view.metadata_class is None
        ):
            return True  # The view answers 405 for a method it does not serve.
        scope = view.required_scope(request)
        if scope is not None and scope in token.scopes:
            return True
        api_token_scope_refused(
            token=token, scope=scope or "", method=request.method, path=request.path
        )
        self.message = (
            f"This API token does not have the {scope} scope."
            if scope
            else "API tokens cannot use this endpoint."
        )
        return False


# --- Rate limits ----------------------------------------------------------------------------


def _caller_key(request) -> str:
    token = token_of(request)
    return f"token:{token.pk}" if token is not None else f"user:{request.user.pk}"


class _KeyholdRateThrottle(throttling.BaseThrottle):
    """A fixed-window limit kept in the cache by django-ratelimit (an atomic increment in
    Redis), rather than DRF's throttles, whose history list is read and written back without
    a lock and lets concurrent requests past the limit (reference/security-checks.md A19)."""

    group = ""
    rate_setting = ""

    def allow_request(self, request, view) -> bool:
        key = _caller_key(request)
        usage = get_usage(
            request._request,
            group=self.group,
            key=lambda _group, _request: key,
            rate=getattr(settings, self.rate_setting),
            increment=True,
        )
        self._wait = None
        if usage is None or not usage["should_limit"]:
            return True
        self._wait = max(int(usage["time_left"]), 1)
        if usage["count"] == usage["limit"] + 1:
            # The request is refused whether or not the event could be written.
            with suppress(AuditWriteError):
                api_rate_limited(
                    actor=request.user,
                    token=token_of(request),
                    limit=self.group,
                    rate=getattr(settings, self.rate_setting),
                )
        return False

    def wait(self) -> float | None:
        return self._wait


class ApiRateThrottle(_KeyholdRateThrottle):
    """Every call, per token (or per person for sessions)."""

    group = "api"
    rate_setting = "API_RATE_PER_TOKEN"


class RevealRateThrottle(_KeyholdRateThrottle):
    """Reveals, per token or person: many reveals in a short time look like exfiltration."""

    group = "api.reveal"
    rate_setting = "API_REVEAL_RATE"


# --- Pagination -----------------------------------------------------------------------------


class ApiPagination(PageNumberPagination):
    """`page` and `page_size` (at most 1000; larger asks are clamped), as IT Glue and Hudu."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def paginate_queryset(self, queryset, request, view=None):
        for name in (self.page_query_param, self.page_size_query_param):
            value = request.query_params.get(name)
            if value is not None and not (value.isascii() and value.isdigit() and int(value) > 0):
                raise exceptions.ValidationError({name: ["Give a whole number of 1 or more."]})
        return super().paginate_queryset(queryset, request, view)


# --- Base views -----------------------------------------------------------------------------


class _ApiBase:
    """Scopes, client narrowing, token identity in the audit log, and sign-in rules.

    `scopes` maps a viewset action ("list", "reveal") or an HTTP method in lower case
    ("get", "post") to the scope a token needs for it.
    """

    scopes: dict[str, str] = {}
    # For endpoints about the caller itself (/me/), which every valid token may use.
    open_to_every_token = False
    permission_classes = [permissions.IsAuthenticated, TokenScopeRequired]
    throttle_classes = [ApiRateThrottle]
    pagination_class = ApiPagination

    def query_filters(self, serializer_class) -> dict:
        """The query string read by a filter serializer; 400 naming the field when bad."""
        filters = serializer_class(data=self.request.query_params.dict())
        filters.is_valid(raise_exception=True)
        return filters.validated_data

    def page_of(self, rows, serializer_class, prepare=None) -> Response:
        """One page of `rows` (page, page_size ≤ 1000) in the list envelope. `prepare`, when
        given, completes the page's rows before they are serialized (one query for them all)."""
        page = self.paginate_queryset(rows)
        if prepare is not None:
            prepare(page)
        return self.get_paginated_response(serializer_class(page, many=True).data)

    def required_scope(self, request) -> str | None:
        action = getattr(self, "action", None)
        return self.scopes.get(action or request.method.lower())

    def dispatch(self, request, *args, **kwargs):
        with client_reach_limited(None):
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs) -> None:
        token = token_of(request)
        if token is not None:
            request_context_via_api_token(str(token.pk))
            if token.client_limited:
                client_reach_narrow(token.client_ids())
        super().initial(request, *args, **kwargs)


class ApiView(_ApiBase, views.APIView):
    pass


class ApiGenericView(_ApiBase, generics.GenericAPIView):
    pass


class ApiViewSet(_ApiBase, viewsets.GenericViewSet):
    pass


# --- Problem details (RFC 9457) -------------------------------------------------------------


def problem_response(
    status: int, detail: str, *, errors: dict | None = None, headers: dict | None = None
) -> Response:
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return Response(body, status=status, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


def _validation_detail(errors) -> tuple[str, dict]:
    if isinstance(errors, dict):
        fields = {
            field: [str(message) for message in (value if isinstance(value, list) else [value])]
            for field, value in errors.items()
        }
        first_field, first = next(iter(fields.items()), ("", [""]))
        detail = first[0] if first_field == "non_field_errors" else f"{first_field}: {first[0]}"
        return detail, fields
    messages = [str(message) for message in (errors if isinstance(errors, list) else [errors])]
    return messages[0] if messages else "The request is not valid.", {}


def problem_exception_handler(exc, context) -> Response | None:
    """Every API error as application/problem+json: type, title, status, detail (+ errors)."""
    if isinstance(exc, AuditWriteError):
        # The action was rolled back with its event: nothing happened, and it may be retried.
        return problem_response(
            HTTPStatus.SERVICE_UNAVAILABLE,
            "The audit log could not be written, so nothing was done. Try again shortly.",
            headers={"Retry-After": "30"},
        )
    if isinstance(exc, FieldInvalid):
        return problem_response(exc.status, exc.message, errors={exc.field: [exc.message]})
    if isinstance(exc, KeyholdError):
        detail = NOT_FOUND if exc.status == HTTPStatus.NOT_FOUND else exc.message
        return problem_response(exc.status, detail)
    if isinstance(exc, Http404 | exceptions.NotFound):
        return problem_response(HTTPStatus.NOT_FOUND, NOT_FOUND)
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None
    headers = {}
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        headers["Retry-After"] = str(max(int(exc.wait), 1))
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if isinstance(exc, exceptions.ValidationError):
        detail, errors = _validation_detail(exc.detail)
        return problem_response(exc.status_code, detail, errors=errors, headers=headers)
    if isinstance(exc, exceptions.Throttled):
        detail = "Too many requests. Try again after the time in Retry-After (seconds)."
    else:
        detail = str(exc.detail)
    return problem_response(exc.status_code, detail, headers=headers)
