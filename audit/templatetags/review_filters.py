"""Template helpers of the review pages."""

import html
from collections.abc import Iterable

from django import template
from django.utils.safestring import SafeString, mark_safe

from tenants.models import Client

register = template.Library()


@register.simple_tag
def client_options(clients: Iterable[Client], chosen: str) -> SafeString:
    """One <option> per client, the chosen one selected.

    Written here rather than as a template loop: a whole MSP's 5,000 clients took the
    template engine about 100 ms a page (issue 9), this about 5. Every value is escaped.
    """
    return mark_safe(  # noqa: S308 - each slug and name is escaped just below
        "".join(
            f'<option value="{html.escape(each.slug)}"'
            f"{' selected' if each.slug == chosen else ''}>{html.escape(each.name)}</option>"
            for each in clients
        )
    )
