"""The takeover checklist of a client: each validation step with its finding, done or open."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.services import require_role
from config.errors import FieldInvalid, InvalidRequest, NotFound
from intake.forms.takeover import TakeoverStepForm
from intake.models import TakeoverStep
from intake.selectors import takeover as selectors
from intake.services import takeover as services
from intake.services.intakes import INTAKE_ROLES
from tenants.models import AccessLevel
from tenants.selectors import client_get_for_user


def _page(request, client, *, failed=None, status=200):
    """The checklist; `failed` is a step's form that was refused, shown with its error."""
    steps = services.takeover_steps_ensure(actor=request.user, client=client)
    rows = []
    for step in steps:
        label = TakeoverStep.Key(step.key).label
        if failed is not None and failed[0] == step.key:
            form = failed[1]
        else:
            form = TakeoverStepForm(
                initial={"finding": step.finding}, step_label=label, prefix=step.key
            )
        rows.append({"step": step, "label": label, "form": form})
    return render(
        request,
        "intake/takeover_checklist.html",
        {
            "client": client,
            "rows": rows,
            "done": sum(1 for step in steps if step.status == TakeoverStep.Status.DONE),
            "inherited_waiting": selectors.takeover_inherited_waiting(
                actor=request.user, client=client
            ),
        },
        status=status,
    )


def _client(request, slug):
    client = client_get_for_user(actor=request.user, slug=slug, level=AccessLevel.MANAGE)
    require_role(request.user, *INTAKE_ROLES, action="work on a client's takeover checklist")
    return client


def takeover_checklist(request, slug):
    return _page(request, _client(request, slug))


@require_POST
def takeover_step(request, slug, key):
    client = _client(request, slug)
    if key not in TakeoverStep.Key.values:
        raise NotFound()
    services.takeover_steps_ensure(actor=request.user, client=client)
    step = selectors.takeover_step_get(actor=request.user, client=client, key=key)
    label = TakeoverStep.Key(key).label
    form = TakeoverStepForm(request.POST, step_label=label, prefix=key)
    if form.is_valid():
        action = form.cleaned_data["action"]
        finding = form.cleaned_data["finding"]
        try:
            if action == "save":
                services.takeover_finding_save(actor=request.user, step=step, finding=finding)
                messages.success(request, f"The finding of “{label}” was saved.")
            elif action == "done":
                services.takeover_step_complete(actor=request.user, step=step, finding=finding)
                messages.success(request, f"“{label}” is done.")
            else:
                services.takeover_step_reopen(actor=request.user, step=step)
                messages.success(request, f"“{label}” was reopened.")
        except FieldInvalid as error:
            form.add_error("finding", error.message)
        except InvalidRequest as error:
            form.add_error(None, error.message)
        else:
            return redirect(
                f"{reverse('intake:takeover', kwargs={'slug': client.slug})}#step-{key}"
            )
    return _page(request, client, failed=(key, form), status=400)
