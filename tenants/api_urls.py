"""Tenants routes of the REST API (included by config/api_urls.py)."""

from django.urls import path

from tenants import api

urlpatterns = [
    path("clients/", api.ClientViewSet.as_view({"get": "list"}), name="client_list"),
    path(
        "clients/<uuid:client_id>/",
        api.ClientViewSet.as_view({"get": "retrieve"}),
        name="client_detail",
    ),
    path("systems/", api.SystemViewSet.as_view({"get": "list"}), name="system_list"),
    path(
        "systems/<uuid:system_id>/",
        api.SystemViewSet.as_view({"get": "retrieve"}),
        name="system_detail",
    ),
]
