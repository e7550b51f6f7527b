from django.urls import path

from integrations import api

app_name = "integrations"

urlpatterns = [
    path("me/", api.me, name="me"),
]
