from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts import selectors as account_selectors
from accounts.models import Role
from accounts.services import require_role
from config.errors import InvalidRequest
from tenants import selectors, services
from tenants.forms import (
    AssignClientForm,
    AssignStaffForm,
    ClientForm,
    PrimaryTechnicianForm,
    SystemForm,
)
from tenants.models import AccessLevel

CLIENTS_PER_PAGE = 50


def client_list(request):
    search = request.GET.get("q", "").strip()
    clients = selectors.client_list_for_user(actor=request.user, search=search)
    page = Paginator(clients, CLIENTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "tenants/client_list.html", {"page": page, "search": search})


def client_create(request):
    require_role(
        request.user, Role.MANAGER, Role.ADMINISTRATOR, Role.ONBOARDING, action="add clients"
    )
    form = ClientForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            client = services.client_create(actor=request.user, **form.cleaned_data)
        except InvalidRequest as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"{client.name} was added; you manage it.")
            return redirect("tenants:client_detail", slug=client.slug)
    return render(request, "tenants/client_form.html", {"form": form})


def client_detail(request, slug):
    client = selectors.client_get_for_user(actor=request.user, slug=slug, level=AccessLevel.VIEW)
    form = SystemForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            system = services.system_create(actor=request.user, client=client, **form.cleaned_data)
        except InvalidRequest as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"{system.name} was added to {client.name}.")
            return redirect("tenants:client_detail", slug=client.slug)
    return render(
        request,
        "tenants/client_detail.html",
        {
            "client": client,
            "systems": selectors.system_list_for_client(actor=request.user, client=client),
            "system_form": form,
            "can_manage": client.my_level >= AccessLevel.MANAGE,
            "can_assign": client.my_level >= AccessLevel.MANAGE
            and request.user.has_role(Role.MANAGER, Role.ADMINISTRATOR),
            "primary_form": _primary_form(request, client),
        },
    )


def _primary_form(request, client, data=None):
    if client.my_level < AccessLevel.MANAGE:
        return None
    candidates = selectors.client_primary_technician_candidates(actor=request.user, client=client)
    return PrimaryTechnicianForm(
        data,
        candidates=candidates,
        initial={"technician": client.primary_technician_id},
        auto_id="primary_%s",
    )


@require_POST
def client_primary_technician(request, slug):
    client = selectors.client_get_for_user(actor=request.user, slug=slug, level=AccessLevel.MANAGE)
    form = _primary_form(request, client, request.POST)
    if form.is_valid():
        technician = form.cleaned_data["technician"]
        try:
            services.client_primary_technician_set(
                actor=request.user, client=client, technician=technician
            )
        except InvalidRequest as error:
            messages.error(request, error.message)
        else:
            who = technician or "the managers' queue"
            messages.success(request, f"Rotation tasks of {client.name} now go to {who}.")
    else:
        messages.error(request, "Choose one of the staff assigned to this client.")
    return redirect("tenants:client_detail", slug=client.slug)


def system_detail(request, slug, system_id):
    client = selectors.client_get_for_user(actor=request.user, slug=slug, level=AccessLevel.VIEW)
    system = selectors.system_get_for_user(actor=request.user, client=client, system_id=system_id)
    return render(request, "tenants/system_detail.html", {"client": client, "system": system})


def client_access(request, slug):
    client = selectors.client_get_for_user(actor=request.user, slug=slug, level=AccessLevel.MANAGE)
    require_role(request.user, Role.MANAGER, Role.ADMINISTRATOR, action="assign staff to clients")
    staff = account_selectors.staff_list(actor=request.user, include_inactive=False)
    form = AssignStaffForm(request.POST or None, staff=staff)
    if request.method == "POST" and form.is_valid():
        try:
            assignment = services.assignment_grant(
                actor=request.user,
                client=client,
                user=form.cleaned_data["user"],
                level=form.cleaned_data["level"],
            )
        except InvalidRequest as error:
            form.add_error(None, error.message)
        else:
            level = assignment.level_label.lower()
            messages.success(request, f"{assignment.user} now has {level} access to {client.name}.")
            return redirect("tenants:client_access", slug=client.slug)
    return render(
        request,
        "tenants/client_access.html",
        {
            "client": client,
            "assignments": selectors.assignment_list_for_client(actor=request.user, client=client),
            "form": form,
        },
    )


@require_POST
def assignment_revoke(request, slug, assignment_id):
    client = selectors.client_get_for_user(actor=request.user, slug=slug, level=AccessLevel.MANAGE)
    assignment = selectors.assignment_get_for_client(
        actor=request.user, client=client, assignment_id=assignment_id
    )
    services.assignment_revoke(actor=request.user, assignment=assignment)
    messages.success(request, f"Access of {assignment.user} to {client.name} was revoked.")
    next_page = request.POST.get("from")
    if next_page == "staff":
        return redirect("tenants:staff_access", user_id=assignment.user_id)
    return redirect("tenants:client_access", slug=client.slug)


def staff_access(request, user_id):
    member = account_selectors.staff_get(actor=request.user, user_id=user_id)
    clients = selectors.clients_managed_by(actor=request.user)
    form = AssignClientForm(request.POST or None, clients=clients)
    if request.method == "POST" and form.is_valid():
        try:
            assignment = services.assignment_grant(
                actor=request.user,
                client=form.cleaned_data["client"],
                user=member,
                level=form.cleaned_data["level"],
            )
        except InvalidRequest as error:
            form.add_error(None, error.message)
        else:
            messages.success(
                request,
                f"{member} now has {assignment.level_label.lower()} access to "
                f"{assignment.client.name}.",
            )
            return redirect("tenants:staff_access", user_id=member.pk)
    return render(
        request,
        "tenants/staff_access.html",
        {
            "member": member,
            "assignments": selectors.assignment_list_for_staff_member(
                actor=request.user, member=member
            ),
            "form": form,
        },
    )
