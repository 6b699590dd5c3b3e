from django import forms
from django.contrib import admin
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey as PackageApiKey

from modelstore.schema import FEATURES
from predictions.access.api_keys import api_key_revoke_many
from studentperf.errors import ApplicationError

from .forms import application_error_add
from .models import ApiKey, Outcome, Prediction, Student
from .validation import record_clean


class ViewOnlyAdmin(admin.ModelAdmin):
    """List and detail only, superusers included: rows are written by the services, never by hand.

    Without the delete permission Django offers no "delete selected" action either.
    """

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Prediction)
class PredictionAdmin(ViewOnlyAdmin):
    list_display = (
        "created_at", "setup", "predicted_grade", "pass_probability", "risk", "unusual", "model_version", "source",
        "requested_by", "api_key_prefix", "latency_ms", "request_id",
    )
    list_filter = ("model_version", "source", "created_at", "setup", "risk", "unusual")
    search_fields = ("=id", "=request_id", "api_key_prefix", "student__external_id", "requested_by__username")
    date_hierarchy = "created_at"
    list_select_related = ("model_version", "requested_by")


@admin.register(Outcome)
class OutcomeAdmin(ViewOnlyAdmin):
    """The history of recorded final grades; a correction is made through the outcome service (API)."""

    list_display = ("student", "final_grade", "is_current", "supersedes", "recorded_by", "recorded_at")
    list_filter = ("is_current", "recorded_at")
    search_fields = ("student__external_id", "recorded_by__username")
    date_hierarchy = "recorded_at"
    list_select_related = ("student", "supersedes", "recorded_by")


class StudentAdminForm(forms.ModelForm):
    class Meta:
        model = Student
        fields = "__all__"

    def clean(self) -> dict:
        data = super().clean()
        if not self.errors:  # the record rules the fields cannot check alone, such as G2 needing G1
            try:
                record_clean({name: data.get(name) for name in FEATURES})
            except ApplicationError as exc:
                application_error_add(self, exc)
        return data


@admin.register(Student)
class StudentAdmin(admin.ModelAdmin):
    """Read only except for superusers: teachers edit their students in the web app, through the services."""

    form = StudentAdminForm
    list_display = ("external_id", "school", "teacher", "G1", "G2", "updated_at")
    list_filter = ("school",)
    search_fields = ("external_id",)
    list_select_related = ("teacher",)

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser


# The package registers its own (unused) APIKey model; studentperf's keys are predictions.ApiKey.
if admin.site.is_registered(PackageApiKey):
    admin.site.unregister(PackageApiKey)


class ApiKeyAdminForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=[(scope, scope) for scope in ApiKey.SCOPES], widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiKey
        fields = ["name", "scopes", "expiry_date", "revoked"]


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    """Creating a key shows it once (a warning message); only its hash is stored. Revoking cannot be undone:
    a revoked key's fields are read only (the package makes name, expiry and revoked so; scopes added here)."""

    form = ApiKeyAdminForm
    list_display = ("name", "prefix", "scopes", "created", "expiry_date", "_has_expired", "revoked")
    list_filter = ("revoked", "created")
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None) -> tuple[str, ...]:
        fields = tuple(super().get_readonly_fields(request, obj))
        return fields + ("scopes",) if obj is not None and obj.revoked else fields

    @admin.action(description="Revoke the selected API keys (cannot be undone)", permissions=("change",))
    def revoke(self, request, queryset) -> None:
        count = api_key_revoke_many(keys=queryset)
        self.message_user(request, f"Revoked {count} API key(s).")
