"""Rotation task pages: my tasks, one task (complete, cancel), request one, managers' overdue."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.models import Role
from accounts.services import require_role
from config.errors import AccessDenied, InvalidRequest
from rotation.forms import RotationCancelForm, RotationCompleteForm, RotationRequestForm
from rotation.selectors import policies as policy_selectors
from rotation.selectors import targets as target_selectors
from rotation.selectors import tasks as task_selectors
from rotation.services import tasks as task_services
from tenants import selectors as tenant_selectors
from tenants.models import AccessLevel
from vault import selectors as vault_selectors
from vault.models import PrivilegeTier


def task_mine(request):
    tasks = task_selectors.rotation_task_list_mine(actor=request.user)
    return render(request, "rotation/mine.html", {"tasks": tasks})


def _automation(request, task, *, can_rotate: bool) -> dict:
    """The credential's rotation target and the task's automated attempts."""
    target = target_selectors.rotation_target_for_credential(
        actor=request.user, credential=task.credential
    )
    return {
        "target": target,
        "attempts": target_selectors.rotation_attempt_list_for_task(actor=request.user, task=task),
        "can_rotate_now": can_rotate and target is not None,
    }


def _detail(request, task, *, complete_form=None, cancel_form=None, status=200):
    needed = AccessLevel.PRIVILEGED if task.credential.is_high_privilege else AccessLevel.USE
    open_task = task.status == task.Status.OPEN
    return render(
        request,
        "rotation/task_detail.html",
        {
            "task": task,
            "credential": task.credential,
            "client": task.client,
            "reasons": list(task.reasons.all()),
            **_automation(request, task, can_rotate=open_task and task.my_level >= needed),
            "can_complete": open_task and task.my_level >= needed,
            "needs_privileged": task.credential.privilege_tier == PrivilegeTier.HIGH,
            "can_cancel": open_task
            and task.my_level >= AccessLevel.MANAGE
            and request.user.has_role(Role.MANAGER),
            "complete_form": complete_form
            or RotationCompleteForm(
                auto_id="complete_%s",
                policy=policy_selectors.rotation_policy_for(actor=request.user, client=task.client),
            ),
            "cancel_form": cancel_form or RotationCancelForm(auto_id="cancel_%s"),
        },
        status=status,
    )


def task_detail(request, task_id):
    task = task_selectors.rotation_task_get_for_user(actor=request.user, task_id=task_id)
    return _detail(request, task)


@require_POST
def task_complete(request, task_id):
    task = task_selectors.rotation_task_get_for_user(actor=request.user, task_id=task_id)
    form = RotationCompleteForm(request.POST, auto_id="complete_%s")
    if form.is_valid():
        data = form.cleaned_data
        generate = None
        if data["generate"]:
            generate = task_services.GenerateOptions(
                passphrase=data["kind"] == "passphrase",
                length=data["length"],
                symbols=data["symbols"],
                words=data["words"] or 5,
            )
        try:
            task_services.rotation_task_complete(
                actor=request.user, task=task, new_secret=data["new_secret"], generate=generate
            )
        except (InvalidRequest, AccessDenied) as error:
            form.add_error(None, error.message)
            status = 403 if isinstance(error, AccessDenied) else 200
            return _detail(request, task, complete_form=form, status=status)
        how = "a generated secret" if generate else "the new secret"
        used_by = task.credential.used_by.strip()
        messages.success(
            request,
            f"{task.credential.name} was rotated with {how}; the old one is kept in its history."
            + (f" Update the places that use it: {used_by}" if used_by else ""),
        )
        return redirect("rotation:task_detail", task_id=task.pk)
    return _detail(request, task, complete_form=form)


@require_POST
def task_cancel(request, task_id):
    task = task_selectors.rotation_task_get_for_user(actor=request.user, task_id=task_id)
    form = RotationCancelForm(request.POST, auto_id="cancel_%s")
    if form.is_valid():
        try:
            task_services.rotation_task_cancel(
                actor=request.user, task=task, reason=form.cleaned_data["reason"]
            )
        except (InvalidRequest, AccessDenied) as error:
            form.add_error(None, error.message)
            status = 403 if isinstance(error, AccessDenied) else 200
            return _detail(request, task, cancel_form=form, status=status)
        messages.success(request, f"The rotation of {task.credential.name} was cancelled.")
        return redirect("rotation:task_detail", task_id=task.pk)
    return _detail(request, task, cancel_form=form)


def task_request(request, slug, credential_id):
    client = tenant_selectors.client_get_for_user(
        actor=request.user, slug=slug, level=AccessLevel.VIEW
    )
    credential = vault_selectors.credential_get_for_user(
        actor=request.user, credential_id=credential_id, level=AccessLevel.USE, client=client
    )
    form = RotationRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            task = task_services.rotation_task_request(
                actor=request.user,
                credential=credential,
                reason=form.cleaned_data["reason"],
                detail=form.cleaned_data["detail"],
            )
        except InvalidRequest as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"{credential.name} is due for rotation now.")
            return redirect("rotation:task_detail", task_id=task.pk)
    return render(
        request,
        "rotation/request.html",
        {"client": client, "credential": credential, "form": form},
    )


def overdue(request):
    require_role(request.user, Role.MANAGER, action="see overdue rotations")
    report = task_selectors.rotation_overdue_for_manager(actor=request.user)
    return render(request, "rotation/overdue.html", {"report": report})
