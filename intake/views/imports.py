"""Import pages of a client: the history, a new import (upload, then the column mapping of a
generic CSV), the preview with per-row exclusions, and confirm or cancel.

The upload is read by ImportUploadHandler only: in memory, up to INTAKE_IMPORT_MAX_BYTES,
never in a temporary file. The handler has to be in place before anything reads the
request body, and CsrfViewMiddleware reads it: the upload view is csrf_exempt on the
outside and csrf_protect on the inside, as Django's documentation shows for custom
upload handlers.
"""

import time

from django.conf import settings
from django.contrib import messages
from django.core.files.uploadhandler import MemoryFileUploadHandler, StopUpload
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from config.errors import InvalidRequest
from intake.forms.imports import ImportMappingForm, ImportRowsForm, ImportUploadForm
from intake.importers import FORMATS
from intake.selectors import imports as import_selectors
from intake.services import imports as import_services
from tenants import selectors as tenant_selectors
from tenants.models import AccessLevel

# A confirm stops between chunks after this long, well inside the web server's timeout;
# the page then offers to continue it.
CONFIRM_SECONDS = 20


class ImportUploadHandler(MemoryFileUploadHandler):
    """Keeps an upload in memory, whatever its size up to INTAKE_IMPORT_MAX_BYTES.

    Django's default handlers write files over FILE_UPLOAD_MAX_MEMORY_SIZE to a temporary
    file; an export holds plaintext passwords, so it never goes to disk. A larger upload
    is stopped (and the rest of the request read and dropped); the view says why.
    """

    too_large = False

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.activated = True

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > settings.INTAKE_IMPORT_MAX_BYTES:
            self.too_large = True
            raise StopUpload(connection_reset=False)
        return super().receive_data_chunk(raw_data, start)


def _size_message() -> str:
    megabytes = settings.INTAKE_IMPORT_MAX_BYTES / (1024 * 1024)
    return (
        f"The file is larger than {megabytes:g} MB, the most Keyhold accepts for one import. "
        "Split the export into smaller files, or run `python manage.py import_credentials` "
        "on the server."
    )


def _import_client(request, slug):
    return tenant_selectors.client_get_for_user(
        actor=request.user, slug=slug, level=AccessLevel.MANAGE
    )


def import_list(request, slug):
    client = _import_client(request, slug)
    batches = import_selectors.import_batch_list_for_client(actor=request.user, client=client)
    return render(
        request,
        "intake/import_list.html",
        {"client": client, "batches": batches[:200], "formats": FORMATS},
    )


@csrf_exempt
def import_new(request, slug):
    if request.method == "POST":
        request.upload_handlers = [ImportUploadHandler(request)]
    return _import_new(request, slug)


@csrf_protect
def _import_new(request, slug):
    client = _import_client(request, slug)
    if request.method != "POST":
        return _upload_page(request, client, ImportUploadForm())
    request.POST  # noqa: B018  (parses the body: only now is the upload's size known)
    too_large = any(getattr(h, "too_large", False) for h in request.upload_handlers)
    if request.GET.get("step") == "mapping":
        return _mapping_step(request, client, too_large=too_large)
    form = ImportUploadForm(request.POST, request.FILES)
    if too_large:
        form.add_error("file", _size_message())
        return _upload_page(request, client, form, status=413)
    if not form.is_valid():
        return _upload_page(request, client, form)
    upload = form.cleaned_data["file"]
    try:
        kind, columns = import_selectors.import_file_kind(
            actor=request.user,
            upload=upload,
            filename=upload.name,
            format=form.cleaned_data["format"],
        )
        if kind == "generic_csv":
            mapping_form = ImportMappingForm(columns=columns, auto_id="mapping_%s")
            return _mapping_page(request, client, mapping_form, filename=upload.name)
        batch = import_services.import_preview_create(
            actor=request.user,
            client=client,
            upload=upload,
            filename=upload.name,
            format=kind,
            password=form.cleaned_data["password"] or None,
            has_header=form.header(),
        )
    except InvalidRequest as error:
        form.add_error("file", error.message)
        return _upload_page(request, client, form)
    return redirect("intake:import_preview", slug=client.slug, batch_id=batch.pk)


def _mapping_step(request, client, *, too_large: bool):
    upload = request.FILES.get("file")
    columns: list[str] = []
    problem = ""
    if too_large:
        problem = _size_message()
    elif upload is not None:
        try:
            _, columns = import_selectors.import_file_kind(
                actor=request.user, upload=upload, filename=upload.name, format="generic_csv"
            )
        except InvalidRequest as error:
            problem = error.message
    form = ImportMappingForm(request.POST, request.FILES, columns=columns, auto_id="mapping_%s")
    filename = upload.name if upload is not None else ""
    if problem or not form.is_valid():
        if problem:
            form.add_error("file", problem)
        return _mapping_page(request, client, form, filename=filename)
    try:
        batch = import_services.import_preview_create(
            actor=request.user,
            client=client,
            upload=upload,
            filename=upload.name,
            format="generic_csv",
            mapping=form.mapping(),
        )
    except InvalidRequest as error:
        form.add_error(None, error.message)
        return _mapping_page(request, client, form, filename=filename)
    return redirect("intake:import_preview", slug=client.slug, batch_id=batch.pk)


def _upload_page(request, client, form, *, status=200):
    return render(
        request,
        "intake/import_new.html",
        {
            "client": client,
            "form": form,
            "formats": FORMATS,
            "max_megabytes": settings.INTAKE_IMPORT_MAX_BYTES / (1024 * 1024),
        },
        status=status,
    )


def _mapping_page(request, client, form, *, filename: str):
    return render(
        request,
        "intake/import_mapping.html",
        {"client": client, "form": form, "filename": filename},
    )


def import_preview(request, slug, batch_id):
    client = _import_client(request, slug)
    batch = import_selectors.import_batch_get(actor=request.user, client=client, batch_id=batch_id)
    errors_only = request.GET.get("errors") == "1"
    page = import_selectors.import_row_page(
        actor=request.user, batch=batch, page=request.GET.get("page"), errors_only=errors_only
    )
    return _preview_page(request, client, batch, page, errors_only=errors_only)


def _preview_page(request, client, batch, page, *, errors_only, form=None, status=200):
    form = form or ImportRowsForm(rows=page.object_list, auto_id="row_%s")
    return render(
        request,
        "intake/import_preview.html",
        {
            "client": client,
            "batch": batch,
            "page": page,
            "form": form,
            "errors_only": errors_only,
            "progress": import_selectors.import_progress(actor=request.user, batch=batch),
            "format_label": FORMATS.get(batch.format, batch.format),
            "in_preview": batch.status == batch.Status.PREVIEW,
        },
        status=status,
    )


@require_POST
def import_exclusions(request, slug, batch_id):
    client = _import_client(request, slug)
    batch = import_selectors.import_batch_get(actor=request.user, client=client, batch_id=batch_id)
    errors_only = request.POST.get("errors") == "1"
    page = import_selectors.import_row_page(
        actor=request.user, batch=batch, page=request.POST.get("page"), errors_only=errors_only
    )
    form = ImportRowsForm(request.POST, rows=page.object_list, auto_id="row_%s")
    if form.is_valid():
        excluded, included = form.changes()
        try:
            changed = import_services.import_rows_exclusion_set(
                actor=request.user, batch=batch, excluded=excluded, included=included
            )
        except InvalidRequest as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"Exclusions saved ({changed} rows changed).")
    return redirect(_preview_url(client, batch, page=page.number, errors_only=errors_only))


def _preview_url(client, batch, *, page: int = 1, errors_only: bool = False) -> str:
    url = reverse("intake:import_preview", args=[client.slug, batch.pk])
    query = [*(["errors=1"] if errors_only else []), *([f"page={page}"] if page > 1 else [])]
    return f"{url}?{'&'.join(query)}" if query else url


@require_POST
def import_exclude_invalid(request, slug, batch_id):
    client = _import_client(request, slug)
    batch = import_selectors.import_batch_get(actor=request.user, client=client, batch_id=batch_id)
    try:
        count = import_services.import_rows_exclude_invalid(actor=request.user, batch=batch)
    except InvalidRequest as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{count} rows with errors are excluded from the import.")
    return redirect(_preview_url(client, batch))


@require_POST
def import_confirm(request, slug, batch_id):
    client = _import_client(request, slug)
    batch = import_selectors.import_batch_get(actor=request.user, client=client, batch_id=batch_id)
    try:
        result = import_services.import_confirm(
            actor=request.user, batch=batch, deadline=time.monotonic() + CONFIRM_SECONDS
        )
    except InvalidRequest as error:
        messages.error(request, error.message)
        return redirect(_preview_url(client, batch))
    if result.finished:
        messages.success(
            request,
            f"{result.imported} credentials were imported as inherited and compromised, each "
            "with a rotation task (high privilege due within 48 hours).",
        )
    else:
        messages.info(
            request,
            f"{result.imported} credentials are imported so far and {result.remaining} rows "
            "remain. Press Continue the import to go on.",
        )
    return redirect(_preview_url(client, batch))


@require_POST
def import_cancel(request, slug, batch_id):
    client = _import_client(request, slug)
    batch = import_selectors.import_batch_get(actor=request.user, client=client, batch_id=batch_id)
    try:
        import_services.import_cancel(actor=request.user, batch=batch)
    except InvalidRequest as error:
        messages.error(request, error.message)
        return redirect(_preview_url(client, batch))
    messages.success(request, "The import was cancelled and its encrypted rows deleted.")
    return redirect("intake:import_list", slug=client.slug)
