from django.urls import path

from tenants import views

app_name = "tenants"

urlpatterns = [
    path("clients/", views.client_list, name="client_list"),
    path("clients/new/", views.client_create, name="client_create"),
    path("clients/<slug:slug>/", views.client_detail, name="client_detail"),
    path("clients/<slug:slug>/access/", views.client_access, name="client_access"),
    path(
        "clients/<slug:slug>/primary-technician/",
        views.client_primary_technician,
        name="client_primary_technician",
    ),
    path(
        "clients/<slug:slug>/access/<uuid:assignment_id>/revoke/",
        views.assignment_revoke,
        name="assignment_revoke",
    ),
    path(
        "clients/<slug:slug>/systems/<uuid:system_id>/", views.system_detail, name="system_detail"
    ),
    path("staff/<uuid:user_id>/clients/", views.staff_access, name="staff_access"),
]
