"""The onboarding checklist, the structured intake draft, and the client notice after submit."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.services import require_role
from config.errors import FieldInvalid, InvalidRequest
from intake.forms.intakes import IntakeEntryForm, entry_data
from intake.selectors import intakes as selectors
from intake.services import intakes as services
from intake.services.intakes import ASSIGNING_ROLES, INTAKE_ROLES, EntryInvalid
from tenants.models import AccessLevel
from tenants.selectors import client_get_for_user


def _intake_client(request, slug):
    client = client_get_for_user(actor=request.user, slug=slug, level=AccessLevel.MANAGE)
    require_role(request.user, *INTAKE_ROLES, action="run a client's intake")
    return client


def _form_error(form, error: FieldInvalid | InvalidRequest) -> None:
    field = getattr(error, "field", None)
    message = error.detail if isinstance(error, EntryInvalid) else error.message
    form.add_error(field if field in form.fields else None, message)


def onboarding(request, slug):
    client = client_get_for_user(actor=request.user, slug=slug, level=AccessLevel.VIEW)
    checklist = selectors.onboarding_checklist_for_client(actor=request.user, client=client)
    manages = client.my_level >= AccessLevel.MANAGE
    return render(
        request,
        "intake/intake_onboarding.html",
        {
            "client": client,
            "checklist": checklist,
            "can_run": manages and request.user.has_role(*INTAKE_ROLES),
            "can_grant": manages and request.user.has_role(*ASSIGNING_ROLES),
        },
    )


@require_POST
def access_grant(request, slug):
    client = client_get_for_user(actor=request.user, slug=slug, level=AccessLevel.MANAGE)
    try:
        granted = services.intake_access_grant(actor=request.user, client=client)
    except InvalidRequest as error:
        messages.error(request, error.message)
    else:
        noun = "staff member now has" if granted == 1 else "staff members now have"
        messages.success(request, f"{granted} {noun} the access the intake asked for.")
    return redirect("intake:onboarding", slug=client.slug)


def _draft_page(request, client, form, *, editing=None, status=200):
    draft = selectors.intake_draft_for_client(actor=request.user, client=client)
    rows = selectors.intake_entry_rows(actor=request.user, intake=draft) if draft else []
    number = next((row.number for row in rows if editing and row.entry.pk == editing.pk), None)
    return render(
        request,
        "intake/intake_draft.html",
        {
            "client": client,
            "draft": draft,
            "rows": rows,
            "insecure_count": sum(1 for row in rows if row.insecure),
            "form": form,
            "editing": editing,
            "editing_number": number,
            "system_names": selectors.intake_system_names(actor=request.user, client=client),
            "may_assign": request.user.has_role(*ASSIGNING_ROLES),
        },
        status=status,
    )


def _staff(request, client):
    return selectors.intake_staff_choices(actor=request.user, client=client)


def intake_draft(request, slug):
    """The draft's entries and the form that adds one (Save to draft)."""
    client = _intake_client(request, slug)
    form = IntakeEntryForm(request.POST or None, staff=_staff(request, client))
    if request.method == "POST" and form.is_valid():
        try:
            draft = services.intake_draft_get_or_start(actor=request.user, client=client)
            entry = services.intake_entry_save(
                actor=request.user, intake=draft, **form.entry_fields()
            )
        except InvalidRequest as error:
            _form_error(form, error)
        else:
            messages.success(request, f"{entry.system_name} was saved to the draft.")
            return redirect("intake:intake", slug=client.slug)
    return _draft_page(request, client, form)


def entry_edit(request, slug, entry_id):
    client = _intake_client(request, slug)
    entry = selectors.intake_entry_get_for_client(
        actor=request.user, client=client, entry_id=entry_id
    )
    data = request.POST if request.method == "POST" else None
    form = IntakeEntryForm(
        data, staff=_staff(request, client), entry=entry, initial=entry_data(entry)
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.intake_entry_save(
                actor=request.user, intake=entry.intake, entry=entry, **form.entry_fields()
            )
        except InvalidRequest as error:
            _form_error(form, error)
        else:
            messages.success(request, f"{form.cleaned_data['system_name']} was saved.")
            return redirect("intake:intake", slug=client.slug)
    return _draft_page(request, client, form, editing=entry)


@require_POST
def entry_remove(request, slug, entry_id):
    client = _intake_client(request, slug)
    entry = selectors.intake_entry_get_for_client(
        actor=request.user, client=client, entry_id=entry_id
    )
    services.intake_entry_remove(actor=request.user, entry=entry)
    messages.success(request, f"{entry.system_name} was removed from the draft.")
    return redirect("intake:intake", slug=client.slug)


@require_POST
def intake_submit(request, slug):
    client = _intake_client(request, slug)
    draft = selectors.intake_draft_for_client(actor=request.user, client=client)
    if draft is None:
        messages.error(request, "There is no intake draft to submit; add an entry first.")
        return redirect("intake:intake", slug=client.slug)
    try:
        intake = services.intake_submit(actor=request.user, intake=draft)
    except EntryInvalid as error:
        # Show the entry that stopped the submit, with the message beside its field.
        entry = selectors.intake_entry_get_for_client(
            actor=request.user, client=client, entry_id=error.entry_id
        )
        form = IntakeEntryForm(entry_data(entry), staff=_staff(request, client), entry=entry)
        form.is_valid()
        _form_error(form, error)
        messages.error(request, f"The intake was not submitted. {error.message}")
        return _draft_page(request, client, form, editing=entry, status=400)
    except InvalidRequest as error:
        messages.error(request, error.message)
        return redirect("intake:intake", slug=client.slug)
    messages.success(request, f"The intake of {client.name} was submitted.")
    if selectors.intake_insecure_entries(actor=request.user, intake=intake):
        return redirect("intake:intake_notice", slug=client.slug, intake_id=intake.pk)
    return redirect("intake:onboarding", slug=client.slug)


def intake_notice(request, slug, intake_id):
    """The notice to send the client after credentials arrived by email or chat."""
    client = _intake_client(request, slug)
    intake = selectors.intake_get_for_client(actor=request.user, client=client, intake_id=intake_id)
    entries = selectors.intake_insecure_entries(actor=request.user, intake=intake)
    return render(
        request,
        "intake/intake_notice.html",
        {
            "client": client,
            "intake": intake,
            "entries": entries,
            "sender": request.user.full_name or request.user.email,
        },
    )
