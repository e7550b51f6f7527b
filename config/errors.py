"""The one family of application errors that services raise, and its mapping to HTTP.

Views let these propagate; KeyholdErrorMiddleware renders a friendly page in the MSP's
words (never a stack trace), with the status the error carries.
"""

from http import HTTPStatus

from django.http import JsonResponse
from django.shortcuts import render
from django.views import defaults


class KeyholdError(Exception):
    """Base of every error a service raises on purpose; `message` is safe to show."""

    status = 400
    template = "errors/400.html"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(KeyholdError):
    """Missing, or not yours: the two are deliberately indistinguishable."""

    status = 404
    template = "404.html"

    def __init__(self, message: str = "This page does not exist or you cannot see it."):
        super().__init__(message)


class AccessDenied(KeyholdError):
    status = 403
    template = "403.html"


class InvalidRequest(KeyholdError):
    status = 400
    template = "errors/400.html"


class FieldInvalid(InvalidRequest):
    """A value refused by a service; `field` names the form input it belongs to, so a view
    shows the message beside that input and keeps everything else that was entered."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class KeyholdErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, KeyholdError):
            return render(
                request, exception.template, {"message": exception.message}, status=exception.status
            )
        return None


def _api_problem(status: int, detail: str) -> JsonResponse:
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status}
    return JsonResponse(
        {**body, "detail": detail}, status=status, content_type="application/problem+json"
    )


def page_not_found(request, exception):
    """API paths answer in problem details, as their views do; pages get the friendly page."""
    if request.path.startswith("/api/"):
        return _api_problem(404, "Not found, or outside what this request may reach.")
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return _api_problem(500, "Something went wrong on the server; it has been logged.")
    return defaults.server_error(request)
