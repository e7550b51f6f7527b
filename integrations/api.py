"""The REST API's views (issue 8). /api/v1/me/ proves who a request is authenticated as.

API views skip Django's login and MFA middleware, which would redirect a token request to
the sign-in page; DRF authenticates them instead (a token, or a session that passed MFA).
"""

from django.contrib.auth.decorators import login_not_required
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from integrations.models import ApiToken


@login_not_required
@api_view(["GET"])
def me(request: Request) -> Response:
    token = request.auth if isinstance(request.auth, ApiToken) else None
    return Response(
        {
            "token": None
            if token is None
            else {
                "name": token.name,
                "prefix": token.prefix,
                "scopes": token.scopes,
                "expires_at": token.expires_at,
            },
            "user": {"email": request.user.email},
        }
    )
