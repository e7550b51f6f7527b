"""Administrators' pages for integrations: API tokens and outbound webhooks."""

app_name = "integrations"

urlpatterns = []
