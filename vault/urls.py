from django.urls import path

from vault import views

app_name = "vault"

urlpatterns = [
    path("credentials/", views.credential_search, name="credential_search"),
    path("search/", views.search, name="search"),
    path("clients/<slug:slug>/credentials/", views.credential_list, name="credential_list"),
    path("clients/<slug:slug>/credentials/new/", views.credential_create, name="credential_create"),
    path(
        "clients/<slug:slug>/credentials/<uuid:credential_id>/",
        views.credential_detail,
        name="credential_detail",
    ),
    path(
        "clients/<slug:slug>/credentials/<uuid:credential_id>/edit/",
        views.credential_edit,
        name="credential_edit",
    ),
    path(
        "clients/<slug:slug>/credentials/<uuid:credential_id>/archive/",
        views.credential_archive,
        name="credential_archive",
    ),
    path(
        "clients/<slug:slug>/credentials/<uuid:credential_id>/reveal/",
        views.credential_reveal,
        name="credential_reveal",
    ),
]
