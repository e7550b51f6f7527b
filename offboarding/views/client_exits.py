"""Client offboarding pages: open a case, decide each credential, the handover file, confirm.

The handover file is created by a POST that answers with the passphrase page (shown once,
never cached). The file itself, already encrypted under that passphrase, waits in the cache
for HANDOVER_DOWNLOAD_SECONDS under a random key that only this session holds; the Download
button (a POST) takes it out and deletes it. The passphrase is never stored: a download
link cannot carry it, and a page cannot also be a file, so the two leave separately.
"""

import secrets

from django.contrib import messages
from django.core.cache import cache
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from accounts.mfa import recent_mfa_required
from config.errors import InvalidRequest
from offboarding.forms import ClientExitDecisionForm, ClientExitOpenForm
from offboarding.models import OffboardingCase
from offboarding.selectors import client_exits as selectors
from offboarding.services import client_exits as services

HANDOVER_DOWNLOAD_SECONDS = 300
HANDOVER_SESSION_KEY = "offboarding_handover_download"
HANDOVER_CACHE_PREFIX = "offboarding:handover:"


@require_http_methods(["GET", "POST"])
def client_exit_new(request):
    clients = selectors.client_exit_clients_for_user(actor=request.user)
    initial = {"client": request.GET.get("client", "")}
    form = ClientExitOpenForm(request.POST or None, clients=clients, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            case = services.client_exit_open(
                actor=request.user,
                client=form.cleaned_data["client"],
                reason=form.cleaned_data["reason"],
            )
        except InvalidRequest as error:
            form.add_error(None, error.message)
        else:
            messages.success(
                request,
                f"The offboarding of {case.client.name} is open. Decide each credential, "
                "export the handover file, then confirm to end the staff's access.",
            )
            return redirect("offboarding:client_exit_detail", case_id=case.pk)
    cases = selectors.client_exit_list_for_user(actor=request.user)
    return render(request, "offboarding/client_exit_new.html", {"form": form, "cases": cases})


def client_exit_detail(request, case_id):
    case = selectors.client_exit_get_for_user(actor=request.user, case_id=case_id)
    items = selectors.client_exit_items(actor=request.user, case=case) if case.can_act else None
    return render(
        request,
        "offboarding/client_exit_detail.html",
        {
            "case": case,
            "items": items,
            "undecided": sum(1 for item in items if not item.decision) if items else 0,
            "counts": selectors.client_exit_counts(actor=request.user, case=case),
            "evidence": selectors.client_exit_evidence(actor=request.user, case=case),
            "events": selectors.client_exit_audit_events(actor=request.user, case=case),
            "decision_form": ClientExitDecisionForm(),
        },
    )


def _back_with(request, case: OffboardingCase, error: InvalidRequest | None, done: str):
    if error is not None:
        messages.error(request, error.message)
    else:
        messages.success(request, done)
    return redirect("offboarding:client_exit_detail", case_id=case.pk)


@require_POST
def client_exit_decide(request, case_id, credential_id):
    case = selectors.client_exit_get_for_user(actor=request.user, case_id=case_id)
    credential = selectors.client_exit_credential_get(
        actor=request.user, case=case, credential_id=credential_id
    )
    form = ClientExitDecisionForm(request.POST)
    if not form.is_valid():
        return _back_with(request, case, InvalidRequest("Choose hand over or rotate."), "")
    handed_over = form.cleaned_data["decision"] == "hand_over"
    try:
        services.client_exit_credential_decide(
            actor=request.user, case=case, credential=credential, handed_over=handed_over
        )
    except InvalidRequest as error:
        return _back_with(request, case, error, "")
    done = "handed over to the client" if handed_over else "due for rotation (task opened)"
    return _back_with(request, case, None, f"{credential.name} is {done}.")


@require_POST
def client_exit_hand_over_all(request, case_id):
    case = selectors.client_exit_get_for_user(actor=request.user, case_id=case_id)
    try:
        count = services.client_exit_hand_over_all(actor=request.user, case=case)
    except InvalidRequest as error:
        return _back_with(request, case, error, "")
    return _back_with(request, case, None, f"{count} credentials marked to hand over.")


@never_cache
@recent_mfa_required
@require_http_methods(["GET", "POST"])
@sensitive_variables("export")
def client_exit_handover(request, case_id):
    """GET: what the file holds. POST: create it and show its passphrase, once."""
    case = selectors.client_exit_get_for_user(actor=request.user, case_id=case_id)
    if request.method == "GET":
        return render(request, "offboarding/client_exit_handover.html", {"case": case})
    try:
        export = services.client_exit_handover_export(actor=request.user, case=case)
    except InvalidRequest as error:
        return _back_with(request, case, error, "")
    token = secrets.token_urlsafe(32)
    cache.set(
        HANDOVER_CACHE_PREFIX + token,
        {
            "case": str(case.pk),
            "user": str(request.user.pk),
            "content": export.content,
            "filename": export.filename,
        },
        timeout=HANDOVER_DOWNLOAD_SECONDS,
    )
    previous = request.session.get(HANDOVER_SESSION_KEY)
    if previous:
        cache.delete(HANDOVER_CACHE_PREFIX + previous)
    request.session[HANDOVER_SESSION_KEY] = token
    return render(
        request,
        "offboarding/client_exit_passphrase.html",
        {
            "case": case,
            "passphrase": export.passphrase,
            "count": export.count,
            "filename": export.filename,
            "minutes": HANDOVER_DOWNLOAD_SECONDS // 60,
        },
    )


@never_cache
@require_POST
def client_exit_handover_download(request, case_id):
    """The handover file, once: taken out of the cache and deleted."""
    case = selectors.client_exit_get_for_user(actor=request.user, case_id=case_id)
    token = request.session.pop(HANDOVER_SESSION_KEY, None)
    entry = None
    if token:
        entry = cache.get(HANDOVER_CACHE_PREFIX + token)
        cache.delete(HANDOVER_CACHE_PREFIX + token)
    if entry is None or entry["case"] != str(case.pk) or entry["user"] != str(request.user.pk):
        return render(
            request,
            "offboarding/client_exit_handover.html",
            {
                "case": case,
                "gone": "This download was already used or has expired. Create a new "
                "handover file; it gets a new passphrase.",
            },
            status=410,
        )
    response = HttpResponse(entry["content"], content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{entry["filename"]}"'
    return response


@require_POST
def client_exit_confirm(request, case_id):
    case = selectors.client_exit_get_for_user(actor=request.user, case_id=case_id)
    try:
        case = services.client_exit_confirm(actor=request.user, case=case)
    except InvalidRequest as error:
        return _back_with(request, case, error, "")
    return _back_with(
        request,
        case,
        None,
        f"{case.client.name} is offboarded: every staff access ended. Its keys are "
        f"crypto-shredded after {case.shred_after:%d %B %Y}.",
    )
