"""Administrators' webhook pages: subscriptions, the delivery log, test events and retries.

A signing secret exists in plaintext only in the response to the POST that created or
rotated it: never stored unsealed, never in a URL, a message or a log, and not cached.
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Role
from accounts.services import require_role
from config.errors import FieldInvalid, InvalidRequest, NotFound
from integrations import selectors
from integrations.forms.webhooks import WebhookSubscriptionForm
from integrations.services import webhooks
from tenants.selectors import client_list_for_user

DELIVERIES_PER_PAGE = 50


def _subscription(request, subscription_id):
    return selectors.webhook_subscription_get(actor=request.user, subscription_id=subscription_id)


def _initial(subscription) -> dict:
    return {
        "name": subscription.name,
        "url": subscription.url,
        "event_types": subscription.event_types,
        "clients": subscription.visible_clients,
        "is_active": subscription.is_active,
    }


def _secret_page(request, subscription, secret: str, *, created: bool):
    return render(
        request,
        "integrations/webhooks_secret.html",
        {"subscription": subscription, "secret": secret, "created": created},
    )


@require_http_methods(["GET"])
def webhook_list(request):
    return render(
        request,
        "integrations/webhooks_list.html",
        {"subscriptions": selectors.webhook_subscription_list(actor=request.user)},
    )


@never_cache
@require_http_methods(["GET", "POST"])
@sensitive_variables("secret")
def webhook_create(request):
    """GET: the form. POST: subscribe and show the signing secret, this once."""
    require_role(request.user, Role.ADMINISTRATOR, action="set up webhooks")
    form = WebhookSubscriptionForm(
        request.POST or None, clients=client_list_for_user(actor=request.user)
    )
    if request.method == "POST" and form.is_valid():
        try:
            subscription, secret = webhooks.webhook_subscription_create(
                actor=request.user,
                name=form.cleaned_data["name"],
                url=form.cleaned_data["url"],
                event_types=form.cleaned_data["event_types"],
                clients=form.cleaned_data["clients"],
            )
        except FieldInvalid as error:
            form.add_error(error.field, error.message)
        except NotFound as error:
            form.add_error("clients", error.message)
        else:
            return _secret_page(request, subscription, secret, created=True)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "integrations/webhooks_form.html",
        {"form": form, "subscription": None},
        status=status,
    )


@require_http_methods(["GET"])
def webhook_detail(request, subscription_id):
    """The subscription and its delivery log, newest first."""
    subscription = _subscription(request, subscription_id)
    deliveries = selectors.webhook_delivery_list(actor=request.user, subscription=subscription)
    page = Paginator(deliveries, DELIVERIES_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "integrations/webhooks_detail.html",
        {"subscription": subscription, "page": page},
    )


@require_http_methods(["GET", "POST"])
def webhook_edit(request, subscription_id):
    subscription = _subscription(request, subscription_id)
    form = WebhookSubscriptionForm(
        request.POST or None,
        initial=_initial(subscription),
        clients=client_list_for_user(actor=request.user),
        editing=True,
    )
    if request.method == "POST" and form.is_valid():
        try:
            webhooks.webhook_subscription_update(
                actor=request.user,
                subscription=subscription,
                name=form.cleaned_data["name"],
                url=form.cleaned_data["url"],
                event_types=form.cleaned_data["event_types"],
                clients=form.cleaned_data["clients"],
                is_active=form.cleaned_data["is_active"],
            )
        except FieldInvalid as error:
            form.add_error(error.field, error.message)
        except NotFound as error:
            form.add_error("clients", error.message)
        else:
            messages.success(request, f"{form.cleaned_data['name']} is saved.")
            return redirect("integrations:webhook_detail", subscription_id=subscription.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "integrations/webhooks_form.html",
        {"form": form, "subscription": subscription},
        status=status,
    )


@never_cache
@require_POST
@sensitive_variables("secret")
def webhook_secret_rotate(request, subscription_id):
    """Replace the signing secret and show the new one, this once."""
    subscription = _subscription(request, subscription_id)
    subscription, secret = webhooks.webhook_subscription_secret_rotate(
        actor=request.user, subscription=subscription
    )
    return _secret_page(request, subscription, secret, created=False)


@require_POST
def webhook_test(request, subscription_id):
    subscription = _subscription(request, subscription_id)
    try:
        webhooks.webhook_subscription_test(actor=request.user, subscription=subscription)
    except InvalidRequest as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "A test event was sent; its delivery is at the top of the log.")
    return redirect("integrations:webhook_detail", subscription_id=subscription.pk)


@require_http_methods(["GET", "POST"])
def webhook_delete(request, subscription_id):
    """GET: confirm. POST: delete the subscription and its delivery log."""
    subscription = _subscription(request, subscription_id)
    if request.method == "POST":
        webhooks.webhook_subscription_delete(actor=request.user, subscription=subscription)
        messages.success(request, f"{subscription.name} is deleted; it receives no more events.")
        return redirect("integrations:webhook_list")
    return render(request, "integrations/webhooks_delete.html", {"subscription": subscription})


@require_POST
def webhook_delivery_retry(request, subscription_id, delivery_id):
    subscription = _subscription(request, subscription_id)
    delivery = selectors.webhook_delivery_get(
        actor=request.user, subscription=subscription, delivery_id=delivery_id
    )
    try:
        webhooks.webhook_delivery_retry(actor=request.user, delivery=delivery)
    except InvalidRequest as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, "The delivery is being sent once more; its row shows how it went."
        )
    return redirect("integrations:webhook_detail", subscription_id=subscription.pk)
