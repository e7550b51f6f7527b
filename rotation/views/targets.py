"""Automated rotation of a credential: its target (set up, test, pin an SSH host key, remove),
and "Rotate now" on a rotation task."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from config.errors import FieldInvalid, InvalidRequest, NotFound
from rotation.connectors import ConnectorError
from rotation.forms import HostKeyFetchForm, RotationTargetForm
from rotation.selectors import targets as target_selectors
from rotation.selectors import tasks as task_selectors
from rotation.services import targets as target_services
from tenants import selectors as tenant_selectors
from tenants.models import AccessLevel
from vault import selectors as vault_selectors

FORM_FIELDS = ("connector", "host", "port", "database", "base_dn", "tls_mode", "host_key")


def _load(request, slug, credential_id):
    """The client and credential (manage level) and the credential's target, if any."""
    client = tenant_selectors.client_get_for_user(
        actor=request.user, slug=slug, level=AccessLevel.MANAGE
    )
    credential = vault_selectors.credential_get_for_user(
        actor=request.user, credential_id=credential_id, level=AccessLevel.MANAGE, client=client
    )
    target = target_selectors.rotation_target_for_credential(
        actor=request.user, credential=credential
    )
    return client, credential, target


def _initial(target) -> dict:
    if target is None:
        return {"connector": "postgresql", "rotate_automatically": True}
    initial = {name: getattr(target, name) for name in FORM_FIELDS}
    initial["privileged_credential"] = target.privileged_credential_id
    initial["rotate_automatically"] = target.rotate_automatically
    return initial


def _form(request, credential, *, data=None, initial=None) -> RotationTargetForm:
    choices = target_selectors.rotation_privileged_choices(
        actor=request.user, credential=credential
    )
    return RotationTargetForm(data, initial=initial, privileged_choices=choices)


def _page(request, *, client, credential, target, form, host_key=None, host_key_errors=()):
    return render(
        request,
        "rotation/target.html",
        {
            "client": client,
            "credential": credential,
            "target": target,
            "form": form,
            "host_key": host_key,
            "host_key_errors": list(host_key_errors),
        },
    )


def target_edit(request, slug, credential_id):
    """GET: the target form. POST: save it."""
    client, credential, target = _load(request, slug, credential_id)
    if request.method != "POST":
        form = _form(request, credential, initial=_initial(target))
        return _page(request, client=client, credential=credential, target=target, form=form)
    form = _form(request, credential, data=request.POST)
    if form.is_valid():
        try:
            target_services.rotation_target_save(
                actor=request.user, credential=credential, **form.cleaned_data
            )
        except FieldInvalid as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        except InvalidRequest as error:
            form.add_error(None, error.message)
        else:
            messages.success(
                request,
                f"Automated rotation of {credential.name} was saved. Test the connection to "
                "check the privileged account.",
            )
            return redirect("rotation:target", slug=client.slug, credential_id=credential.pk)
    return _page(request, client=client, credential=credential, target=target, form=form)


@require_POST
def target_host_key(request, slug, credential_id):
    """Fetch the SSH server's host key and show it with its fingerprint, to confirm and save."""
    client, credential, target = _load(request, slug, credential_id)
    typed = {name: request.POST.get(name, "") for name in FORM_FIELDS}
    typed["privileged_credential"] = request.POST.get("privileged_credential", "")
    typed["rotate_automatically"] = "rotate_automatically" in request.POST
    address = HostKeyFetchForm(request.POST)
    host_key = None
    errors: list[str] = []
    if not address.is_valid():
        errors = [error for field_errors in address.errors.values() for error in field_errors]
    else:
        try:
            host_key = target_services.rotation_target_host_key_fetch(
                actor=request.user, credential=credential, **address.cleaned_data
            )
        except (InvalidRequest, ConnectorError) as error:
            errors = [error.message]
        else:
            typed["host_key"] = host_key.key
    form = _form(request, credential, initial=typed)
    return _page(
        request,
        client=client,
        credential=credential,
        target=target,
        form=form,
        host_key=host_key,
        host_key_errors=errors,
    )


@require_POST
def target_check(request, slug, credential_id):
    """Test the connection with the privileged account; the outcome is kept on the target."""
    client, credential, target = _load(request, slug, credential_id)
    if target is None:
        raise NotFound()
    checked = target_services.rotation_target_check(actor=request.user, target=target)
    if checked.last_check_error:
        messages.error(request, f"The connection test failed: {checked.last_check_error}")
    else:
        messages.success(
            request,
            f"Keyhold logged in to {checked.host}:{checked.port} with "
            f"{checked.privileged_credential.name} and changed nothing.",
        )
    return redirect("rotation:target", slug=client.slug, credential_id=credential.pk)


@require_POST
def target_remove(request, slug, credential_id):
    client, credential, target = _load(request, slug, credential_id)
    if target is None:
        raise NotFound()
    try:
        target_services.rotation_target_remove(actor=request.user, target=target)
    except InvalidRequest as error:
        messages.error(request, error.message)
        return redirect("rotation:target", slug=client.slug, credential_id=credential.pk)
    messages.success(request, f"{credential.name} is no longer rotated automatically.")
    return redirect("vault:credential_detail", slug=client.slug, credential_id=credential.pk)


@require_POST
def task_rotate_now(request, task_id):
    """Start (or retry) the task's automated rotation in the background."""
    task = task_selectors.rotation_task_get_for_user(actor=request.user, task_id=task_id)
    try:
        target_services.rotation_automated_enqueue(actor=request.user, task=task)
    except InvalidRequest as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            f"Automated rotation of {task.credential.name} started. Its progress is below; "
            "reload the page to follow it.",
        )
    return redirect("rotation:task_detail", task_id=task.pk)
