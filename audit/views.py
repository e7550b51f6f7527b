"""Review pages: the monthly access review, its events, the hygiene audit, past sign-offs.

Each view parses its input with a form, calls one selector (and on POST one service), and
renders. A bad month, quarter or filter is answered with the page and a message (400).
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse

from audit import hygiene, reviews, services
from audit.forms import EventFilterForm, HygieneFilterForm, ReviewFilterForm, SignOffForm
from config.errors import InvalidRequest

# A whole MSP's review and audit cover thousands of clients: their per-client tables are paged.
CLIENT_TOTALS_PER_PAGE = 100
COVERAGE_PER_PAGE = 100


def _bad_filters(request, template: str, form, **context):
    scope = reviews.review_scope_get(actor=request.user)
    return render(request, template, {"filter_form": form, "scope": scope, **context}, status=400)


def access_review(request):
    filters = ReviewFilterForm(request.GET)
    if not filters.is_valid():
        return _bad_filters(request, "audit/access_review.html", filters, review=None)
    month = filters.cleaned_data["month"]
    review = reviews.access_review(
        actor=request.user,
        month=month,
        client_slug=filters.cleaned_data["client"],
        technician_id=filters.cleaned_data["technician"],
    )
    form = SignOffForm(request.POST or None, findings=review.open_findings)
    if request.method == "POST" and form.is_valid():
        try:
            services.access_review_sign_off(
                actor=request.user,
                month=month.start,
                client=review.scope.client,
                technician=review.scope.technician,
                notes=form.cleaned_data["notes"],
                dispositions=form.dispositions(),
            )
        except InvalidRequest as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"The access review of {month.label} is signed off.")
            # To the top of the page, where the confirmation is, not back to the form.
            return redirect(f"{reverse('audit:access_review')}?{review.query()}#main")
    clients = Paginator(review.clients, CLIENT_TOTALS_PER_PAGE).get_page(
        request.GET.get("client_page")
    )
    return render(
        request,
        "audit/access_review.html",
        {
            "filter_form": filters,
            "scope": review.scope,
            "review": review,
            "clients": clients,
            "form": form,
        },
    )


def review_events(request):
    filters = EventFilterForm(request.GET)
    if not filters.is_valid():
        return _bad_filters(request, "audit/review_events.html", filters, events=None)
    events = reviews.review_events(
        actor=request.user,
        month=filters.cleaned_data["month"],
        finding=filters.cleaned_data["finding"],
        action=filters.cleaned_data["action"],
        outcome=filters.cleaned_data["outcome"],
        client_slug=filters.cleaned_data["client"],
        technician_id=filters.cleaned_data["technician"],
        page=request.GET.get("page", 1),
    )
    return render(
        request,
        "audit/review_events.html",
        {"filter_form": filters, "scope": events.scope, "events": events},
    )


def hygiene_audit(request):
    filters = HygieneFilterForm(request.GET)
    if not filters.is_valid():
        return _bad_filters(request, "audit/hygiene_audit.html", filters, audit=None)
    quarter = filters.cleaned_data["quarter"]
    audit = hygiene.hygiene_audit(
        actor=request.user, quarter=quarter, client_slug=filters.cleaned_data["client"]
    )
    form = SignOffForm(request.POST or None, findings=audit.open_findings)
    if request.method == "POST" and form.is_valid():
        try:
            services.hygiene_audit_sign_off(
                actor=request.user,
                quarter=quarter.start,
                client=audit.scope.client,
                notes=form.cleaned_data["notes"],
                dispositions=form.dispositions(),
            )
        except InvalidRequest as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"The hygiene audit of {quarter.label} is signed off.")
            return redirect(f"{reverse('audit:hygiene_audit')}?{audit.query()}#main")
    coverage = Paginator(audit.coverage, COVERAGE_PER_PAGE).get_page(
        request.GET.get("coverage_page")
    )
    return render(
        request,
        "audit/hygiene_audit.html",
        {
            "filter_form": filters,
            "scope": audit.scope,
            "audit": audit,
            "coverage": coverage,
            "form": form,
        },
    )


def sign_off_list(request):
    page = reviews.sign_off_list(actor=request.user, page=request.GET.get("page", 1))
    return render(request, "audit/sign_off_list.html", {"page": page})
