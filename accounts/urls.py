from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("mfa/", views.mfa_verify, name="mfa_verify"),
    path("mfa/enrol/", views.mfa_enrol, name="mfa_enrol"),
    path("account/", views.account, name="account"),
    path("notifications/", views.notifications, name="notifications"),
    path("account/backup-codes/", views.backup_codes_regenerate, name="backup_codes_regenerate"),
    path("invitation/", views.invitation_accept, name="invitation_accept"),
    path("invitation/<str:token>/", views.invitation_open, name="invitation_open"),
    path("staff/", views.staff_list, name="staff_list"),
    path("staff/invite/", views.invitation_create, name="invitation_create"),
    path(
        "staff/invitations/<uuid:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("staff/<uuid:user_id>/", views.staff_detail, name="staff_detail"),
    path("staff/<uuid:user_id>/roles/", views.staff_roles_update, name="staff_roles_update"),
    path("staff/<uuid:user_id>/mfa-reset/", views.staff_mfa_reset, name="staff_mfa_reset"),
    path(
        "staff/<uuid:user_id>/break-glass/",
        views.staff_break_glass_update,
        name="staff_break_glass_update",
    ),
    path("staff/<uuid:user_id>/deactivate/", views.staff_deactivate, name="staff_deactivate"),
]
