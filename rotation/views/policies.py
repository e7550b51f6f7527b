"""The client's rotation policy page: intervals, new-password rules, credentials' own intervals."""

from django.contrib import messages
from django.shortcuts import redirect, render

from config.errors import FieldInvalid, InvalidRequest
from rotation.forms import CredentialIntervalForm, RotationPolicyForm
from rotation.selectors import policies as policy_selectors
from rotation.services import policies as policy_services
from tenants import selectors as tenant_selectors
from tenants.models import AccessLevel
from vault import selectors as vault_selectors


def _overrides(request, client, policy) -> list[dict]:
    rows = []
    for credential in policy_selectors.credential_overrides_for_client(
        actor=request.user, client=client
    ):
        client_days = policy_selectors.tier_interval_days(
            policy=policy, tier=credential.privilege_tier
        )
        rows.append(
            {
                "credential": credential,
                "client_days": client_days,
                "effective": policy_selectors.effective_interval_days(
                    policy=policy,
                    tier=credential.privilege_tier,
                    own_days=credential.rotation_interval_days,
                ),
                "capped": client_days is not None
                and credential.rotation_interval_days > client_days,
            }
        )
    return rows


def rotation_policy(request, slug):
    client = tenant_selectors.client_get_for_user(
        actor=request.user, slug=slug, level=AccessLevel.VIEW
    )
    policy = policy_selectors.rotation_policy_for(actor=request.user, client=client)
    can_edit = client.my_level >= AccessLevel.MANAGE
    initial = {
        "high_privilege_days": policy.high_privilege_days,
        "service_days": policy.service_days,
        "standard_days": policy.standard_days,
        "rotate_high_privilege_on_staff_change": policy.rotate_high_privilege_on_staff_change,
        "password_length": policy.password_length,
        "password_symbols": policy.password_symbols,
        "password_exclude": policy.password_exclude,
    }
    credentials = vault_selectors.credential_list_for_user(actor=request.user, client=client)
    is_interval = request.method == "POST" and "credential" in request.POST
    form = RotationPolicyForm(
        request.POST if request.method == "POST" and not is_interval else None, initial=initial
    )
    interval_form = CredentialIntervalForm(
        request.POST if is_interval else None, credentials=credentials, auto_id="interval_%s"
    )
    if request.method == "POST":
        if not can_edit:
            tenant_selectors.client_get_for_user(
                actor=request.user, slug=slug, level=AccessLevel.MANAGE
            )
        if is_interval:
            if interval_form.is_valid():
                credential = interval_form.cleaned_data["credential"]
                try:
                    policy_services.credential_rotation_interval_set(
                        actor=request.user,
                        credential=credential,
                        days=interval_form.cleaned_data["days"],
                    )
                except FieldInvalid as error:
                    interval_form.add_error(error.field, error.message)
                except InvalidRequest as error:
                    interval_form.add_error(None, error.message)
                else:
                    messages.success(request, f"The interval of {credential.name} was saved.")
                    return redirect("rotation:policy", slug=client.slug)
        elif form.is_valid():
            try:
                policy_services.rotation_policy_update(
                    actor=request.user, client=client, **form.cleaned_data
                )
            except FieldInvalid as error:
                form.add_error(error.field, error.message)
            except InvalidRequest as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, f"The rotation policy of {client.name} was saved.")
                return redirect("rotation:policy", slug=client.slug)
    return render(
        request,
        "rotation/policy.html",
        {
            "client": client,
            "policy": policy,
            "form": form,
            "interval_form": interval_form,
            "can_edit": can_edit,
            "overrides": _overrides(request, client, policy),
        },
    )
