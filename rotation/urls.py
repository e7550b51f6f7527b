from django.urls import path

from rotation.views import policies, psa, tasks

app_name = "rotation"

urlpatterns = [
    path("rotation/tasks/", tasks.task_mine, name="task_mine"),
    path("rotation/tasks/<uuid:task_id>/", tasks.task_detail, name="task_detail"),
    path("rotation/tasks/<uuid:task_id>/complete/", tasks.task_complete, name="task_complete"),
    path("rotation/tasks/<uuid:task_id>/cancel/", tasks.task_cancel, name="task_cancel"),
    path("rotation/overdue/", tasks.overdue, name="overdue"),
    path(
        "clients/<slug:slug>/credentials/<uuid:credential_id>/rotate/",
        tasks.task_request,
        name="task_request",
    ),
    path("clients/<slug:slug>/rotation-policy/", policies.rotation_policy, name="policy"),
    # PSA
    path("rotation/psa/", psa.psa_settings, name="psa_settings"),
    path(
        "integrations/psa/<uuid:connection_id>/callback/<str:token>/",
        psa.psa_callback,
        name="psa_callback",
    ),
]
