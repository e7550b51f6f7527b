"""Pages for people without an account who hold a one-time link (share links, intake links).

Browsers send `Origin: null` with a form POST from a no-referrer page, which Django's CSRF
origin check rightly refuses; the page holding the form (its address carries no token)
therefore sends a Referer to its own origin only (FORM_PAGE_REFERRER_POLICY), every other
page none at all.
"""

from functools import wraps

from django.contrib.auth.decorators import login_not_required
from django.views.decorators.cache import never_cache

FORM_PAGE_REFERRER_POLICY = "same-origin"


def public_link_page(view):
    """Public, uncached, unindexed, and no Referer to anyone else from these pages."""

    @login_not_required
    @never_cache
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if "Referrer-Policy" not in response:
            response["Referrer-Policy"] = "no-referrer"
        response["X-Robots-Tag"] = "noindex, nofollow, noarchive"
        return response

    return wrapper
