"""The audit export download: parse the filters, record the export, stream the rows."""

import re
from datetime import date

from django.http import QueryDict, StreamingHttpResponse
from django.views.decorators.http import require_GET

from audit import export
from config.errors import InvalidRequest

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@require_GET
def audit_export(request):
    filters = _filters(request.GET)
    export.audit_export_record(actor=request.user, filters=filters)
    events = export.audit_events_for_export(
        actor=request.user,
        start=filters["from"],
        end=filters["to"],
        client_slug=filters["client"],
        action=filters["action"],
        outcome=filters["outcome"],
    )
    response = StreamingHttpResponse(
        export.export_rows(events=events, fmt=filters["format"]),
        content_type=export.CONTENT_TYPES[filters["format"]],
    )
    filename = export.export_filename(filters=filters)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _filters(params: QueryDict) -> dict:
    fmt = params.get("format", "csv").strip().lower()
    if fmt not in export.EXPORT_FORMATS:
        raise InvalidRequest("The format must be csv or jsonl.")
    return {
        "from": _day(params, "from"),
        "to": _day(params, "to"),
        "format": fmt,
        "client": params.get("client", "").strip(),
        "action": params.get("action", "").strip(),
        "outcome": params.get("outcome", "").strip(),
    }


def _day(params: QueryDict, name: str) -> date:
    raw = params.get(name, "").strip()
    if not raw:
        raise InvalidRequest(f"Choose the '{name}' date, written YYYY-MM-DD.")
    if not _DAY.fullmatch(raw):
        raise InvalidRequest(f"The '{name}' date must be written YYYY-MM-DD.")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidRequest(f"The '{name}' date is not a day of the calendar.") from None
