"""Read-only admin: staff and roles change through Keyhold's own audited pages."""

from django.contrib import admin

from accounts.models import Invitation, Role, User


class ReadOnlyAdmin(admin.ModelAdmin):
    """Administrators may look; nobody changes anything here."""

    def has_module_permission(self, request):
        return request.user.is_active and request.user.has_role(Role.ADMINISTRATOR)

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(ReadOnlyAdmin):
    list_display = ["email", "full_name", "is_active", "is_staff", "date_joined", "last_login"]
    search_fields = ["email", "full_name"]
    fields = ["email", "full_name", "is_active", "is_staff", "groups", "date_joined", "last_login"]


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = ["email", "roles", "invited_by", "created_at", "expires_at", "accepted_at"]
    fields = [
        "email",
        "full_name",
        "roles",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "revoked_at",
    ]
