"""The evidence log of a case: a printable report page and its CSV export."""

import csv
import io
from collections.abc import Iterator

from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from audit.export import csv_cell, utc_timestamp
from offboarding.selectors.cases import EvidenceReport, case_evidence_report
from offboarding.services.evidence import case_evidence_export

CSV_HEADER = (
    "at_utc",
    "step",
    "step_label",
    "by",
    "client",
    "credential",
    "detail",
    "audit_event",
)
ROWS_PER_FETCH = 500
CHUNK_BYTES = 64 * 1024


@require_GET
def evidence_report(request, case_id):
    report = case_evidence_report(actor=request.user, case_id=case_id)
    return render(request, "offboarding/evidence_report.html", {"report": report})


@require_GET
def evidence_csv(request, case_id):
    report = case_evidence_export(actor=request.user, case_id=case_id)
    response = StreamingHttpResponse(_csv_chunks(report), content_type="text/csv; charset=utf-8")
    filename = f"keyhold-offboarding-{report.case.pk}-evidence.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _csv_chunks(report: EvidenceReport) -> Iterator[bytes]:
    """The report's rows in the audit export's CSV dialect: a BOM for Excel, every cell quoted,
    formula triggers neutralised, about 64 KiB per chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(CSV_HEADER)
    for row in report.rows.iterator(chunk_size=ROWS_PER_FETCH):
        values = (
            utc_timestamp(row.at),
            row.step,
            row.get_step_display(),
            row.by_label,
            row.client.name if row.client_id else "",
            row.credential.name if row.credential_id else "",
            row.detail,
            row.audit_event_id or "",
        )
        writer.writerow([csv_cell(value) for value in values])
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
