from django.urls import path

from rotation.views import policies, psa, targets, tasks

app_name = "rotation"

urlpatterns = [
    path("rotation/tasks/", tasks.task_mine, name="task_mine"),
    path("rotation/tasks/<uuid:task_id>/", tasks.task_detail, name="task_detail"),
    path("rotation/tasks/<uuid:task_id>/complete/", tasks.task_complete, name="task_complete"),
    path("rotation/tasks/<uuid:task_id>/cancel/", tasks.task_cancel, name="task_cancel"),
    path(
        "rotation/tasks/<uuid:task_id>/rotate-now/",
        targets.task_rotate_now,
        name="task_rotate_now",
    ),
    path("rotation/overdue/", tasks.overdue, name="overdue"),
    path(
        "clients/<slug:slug>/credentials/<uuid:credential_id>/rotate/",
        tasks.task_request,
        name="task_request",
    ),
    path("clients/<slug:slug>/rotation-policy/", policies.rotation_policy, name="policy"),
    # Automated rotation targets
    path(
        "clients/<slug:slug>/credentials/<uuid:credential_id>/rotation-target/",
        targets.target_edit,
        name="target",
    ),
    path(
        "clients/<slug:slug>/credentials/<uuid:credential_id>/rotation-target/check/",
        targets.target_check,
        name="target_check",
    ),
    path(
        "clients/<slug:slug>/credentials/<uuid:credential_id>/rotation-target/host-key/",
        targets.target_host_key,
        name="target_host_key",
    ),
    path(
        "clients/<slug:slug>/credentials/<uuid:credential_id>/rotation-target/remove/",
        targets.target_remove,
        name="target_remove",
    ),
    # PSA
    path("rotation/psa/", psa.psa_settings, name="psa_settings"),
    path(
        "integrations/psa/<uuid:connection_id>/callback/<str:token>/",
        psa.psa_callback,
        name="psa_callback",
    ),
]
