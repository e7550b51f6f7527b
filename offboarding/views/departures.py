"""Offboarding pages: the list of cases, a new departure, and a departure's case page."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.models import Role
from config.errors import AccessDenied, InvalidRequest
from offboarding.forms import DepartureCloseForm, DepartureOpenForm
from offboarding.models import OffboardingCase
from offboarding.selectors import departures as selectors
from offboarding.services import departures as services


def case_list(request):
    cases = selectors.case_list_for_user(actor=request.user)
    return render(
        request,
        "offboarding/case_list.html",
        {
            "cases": cases,
            "can_open": request.user.has_role(Role.MANAGER, Role.ADMINISTRATOR),
        },
    )


def departure_new(request):
    staff = selectors.departure_subject_choices(actor=request.user)
    form = DepartureOpenForm(request.POST or None, staff=staff)
    if request.method == "POST" and form.is_valid():
        try:
            case = services.departure_open(
                actor=request.user,
                subject=form.cleaned_data["subject"],
                reason=form.cleaned_data["reason"],
            )
        except InvalidRequest as error:
            form.add_error(None, error.message)
        else:
            messages.success(
                request,
                f"The departure of {case.subject} is ready. Nothing has changed yet: "
                "confirm it to remove their access.",
            )
            return redirect("offboarding:case_detail", case_id=case.pk)
    return render(request, "offboarding/departure_new.html", {"form": form})


def _detail(request, case, *, close_form=None, status=200):
    progress = selectors.departure_progress_for_user(actor=request.user, case=case)
    acting = request.user.has_role(Role.MANAGER, Role.ADMINISTRATOR)
    live = case.status != OffboardingCase.Status.CLOSED
    return render(
        request,
        "offboarding/departure_detail.html",
        {
            "case": case,
            "progress": progress,
            "can_confirm": acting and case.status == OffboardingCase.Status.DRAFT,
            "can_close": acting and live,
            "can_accept_risk": request.user.has_role(Role.MANAGER),
            "close_form": close_form or DepartureCloseForm(auto_id="close_%s"),
        },
        status=status,
    )


def case_detail(request, case_id):
    case = selectors.departure_get_for_user(actor=request.user, case_id=case_id)
    if case.status == OffboardingCase.Status.OPEN:
        # Rotations finished since the last look join the evidence log before it is shown.
        services.departure_progress_sync(actor=request.user, case=case)
    return _detail(request, case)


@require_POST
def departure_confirm(request, case_id):
    case = selectors.departure_get_for_user(actor=request.user, case_id=case_id)
    try:
        case = services.departure_confirm(actor=request.user, case=case)
    except (InvalidRequest, AccessDenied) as error:
        messages.error(request, error.message)
        return redirect("offboarding:case_detail", case_id=case.pk)
    messages.success(
        request,
        f"{case.subject} can no longer sign in and has no client access. Rotation tasks are "
        "open for every credential at risk.",
    )
    return redirect("offboarding:case_detail", case_id=case.pk)


@require_POST
def departure_close(request, case_id):
    case = selectors.departure_get_for_user(actor=request.user, case_id=case_id)
    form = DepartureCloseForm(request.POST, auto_id="close_%s")
    if not form.is_valid():
        return _detail(request, case, close_form=form)
    try:
        services.departure_close(
            actor=request.user,
            case=case,
            risk_accepted_reason=form.cleaned_data["risk_accepted_reason"],
        )
    except (InvalidRequest, AccessDenied) as error:
        form.add_error("risk_accepted_reason", error.message)
        status = 403 if isinstance(error, AccessDenied) else 200
        case = selectors.departure_get_for_user(actor=request.user, case_id=case_id)
        return _detail(request, case, close_form=form, status=status)
    messages.success(request, "The departure case is closed.")
    return redirect("offboarding:case_detail", case_id=case.pk)
