from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect
from django.urls import include, path, reverse
from django.utils.http import urlencode

from tenants import views as tenant_views
from vault.views import share_links as share_link_views


@login_not_required
def admin_login_redirect(request, extra_context=None):
    """The admin has no login of its own: everyone signs in (with MFA) through Keyhold's."""
    query = urlencode({"next": request.GET.get("next", reverse("admin:index"))})
    return redirect(f"{reverse('accounts:login')}?{query}")


admin.site.login = admin_login_redirect
admin.site.site_header = "Keyhold administration (read-only)"
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"

urlpatterns = [
    path("", tenant_views.client_list, name="home"),
    path("", include("accounts.urls")),
    path("", include("tenants.urls")),
    path("", include("vault.urls")),
    path("", include("rotation.urls")),
    path("", include("intake.urls")),
    path("", include("offboarding.urls")),
    # One-time share links: the client contact's public pages (no account).
    path("share/", share_link_views.share_link_page, name="share_link_page"),
    path("share/<str:token>/", share_link_views.share_link_landing, name="share_link_landing"),
    path("audit/", include("audit.urls")),
    path("api/", include("config.api_urls")),
    path("integrations/", include("integrations.urls")),
    path("admin/", admin.site.urls),
]
