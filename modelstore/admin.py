"""Model versions in the admin: read-only records; activation and rollback through the services."""
from django.contrib import admin, messages

from modelstore import services
from modelstore.models import ModelActivation, ModelVersion
from studentperf.errors import ApplicationError


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by the services: viewable, never added, edited or deleted here."""

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ("version", "name", "status", "setups", "created_at", "created_by")
    list_filter = ("status",)
    search_fields = ("name", "description")
    # "change" is the permission to change which version is served: superusers and holders of
    # modelstore.change_modelversion. Django checks it server-side before running an action.
    actions = ("activate_selected", "roll_back")

    @admin.action(description="Activate the selected version", permissions=("change",))
    def activate_selected(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        try:
            version = services.model_version_activate(version=queryset.get(), user=request.user)
        except ApplicationError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"Now serving v{version.version}.", messages.SUCCESS)

    @admin.action(description="Roll back to the previously active version", permissions=("change",))
    def roll_back(self, request, queryset):
        try:
            version = services.model_version_rollback(user=request.user)
        except ApplicationError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"Rolled back: now serving v{version.version} again.", messages.SUCCESS)

    def has_change_permission(self, request, obj=None):
        # A version is never edited here; without an object "change" is the right to run the actions.
        return obj is None and super().has_change_permission(request)


@admin.register(ModelActivation)
class ModelActivationAdmin(ReadOnlyAdmin):
    list_display = ("activated_at", "action", "version", "previous_version", "activated_by")
    list_filter = ("action",)

    def has_change_permission(self, request, obj=None):
        return False
