"""Where a request came from, carried to audit.record() without threading it through calls.

AuditContextMiddleware stores the client address, user agent and request id in a context
variable for the duration of the request; Celery tasks and commands have none. An API request
authenticated by a token adds the token's id, so its events say which integration acted.
"""

import dataclasses
import ipaddress
from contextvars import ContextVar
from dataclasses import dataclass

import structlog
from django.conf import settings
from django.http import HttpRequest

USER_AGENT_MAX = 512


@dataclass(frozen=True)
class RequestContext:
    ip_address: str | None
    user_agent: str
    request_id: str
    api_token_id: str = ""


_current: ContextVar[RequestContext | None] = ContextVar("keyhold_request_context", default=None)


def current_request_context() -> RequestContext | None:
    return _current.get()


def request_context_via_api_token(token_id: str) -> None:
    """Mark the rest of the current request as acting through the API token `token_id`.

    The middleware resets the context variable when the request ends, so this lasts exactly
    one request.
    """
    current = _current.get()
    if current is not None:
        _current.set(dataclasses.replace(current, api_token_id=token_id))


def client_ip(request: HttpRequest) -> str | None:
    """The client's address behind TRUSTED_PROXY_COUNT proxies that append to X-Forwarded-For.

    Written here rather than with django-ipware: ipware's strict mode wants the chain length
    to equal the proxy count, while a client may send its own X-Forwarded-For entries. Here
    the client address is the Nth entry from the right, which only a trusted proxy wrote.
    """
    candidate = request.META.get("REMOTE_ADDR")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        chain = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        chain = [part for part in chain if part]
        if len(chain) >= proxies:
            candidate = chain[-proxies]
    try:
        return ipaddress.ip_address(candidate).compressed if candidate else None
    except ValueError:
        return None


class AuditContextMiddleware:
    """Runs after django-structlog's RequestMiddleware, so the request id is shared with logs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = structlog.contextvars.get_contextvars().get("request_id", "")
        token = _current.set(
            RequestContext(
                ip_address=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX],
                request_id=str(request_id),
            )
        )
        try:
            return self.get_response(request)
        finally:
            _current.reset(token)
