from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect
from django.urls import include, path, reverse
from django.utils.http import urlencode

from tenants import views as tenant_views


@login_not_required
def admin_login_redirect(request, extra_context=None):
    """The admin has no login of its own: everyone signs in (with MFA) through Keyhold's."""
    query = urlencode({"next": request.GET.get("next", reverse("admin:index"))})
    return redirect(f"{reverse('accounts:login')}?{query}")


admin.site.login = admin_login_redirect
admin.site.site_header = "Keyhold administration (read-only)"

urlpatterns = [
    path("", tenant_views.client_list, name="home"),
    path("", include("accounts.urls")),
    path("", include("tenants.urls")),
    path("", include("vault.urls")),
    path("audit/", include("audit.urls")),
    path("admin/", admin.site.urls),
]
