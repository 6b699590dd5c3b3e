"""Model versions in the admin: read-only records; upload, activation and rollback through the services.

The upload, activate and rollback pages are admin views (`admin_site.admin_view`: staff only, CSRF-protected)
that check the model permission themselves: `add_modelversion` to upload, `change_modelversion` to change
which version is served. The page of a version shows its validation report, its claimed and measured figures
per setup, and its reference metrics beside the active version's.
"""
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.text import Truncator

from modelstore import selectors, services
from modelstore.figures import figures_side_by_side
from modelstore.models import ModelActivation, ModelVersion
from studentperf.errors import ApplicationError


class ServiceWrittenAdmin(admin.ModelAdmin):
    """Rows written only by the services: every field read-only, never added or deleted here. The change
    permission is kept: it is what lets a model admin run the version actions (activate, roll back); compare
    predictions.admin.ViewOnlyAdmin, which refuses it too."""

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ModelUploadForm(forms.Form):
    file = forms.FileField(
        label="Model package", help_text="A .skops package, as written by export_model.",
        widget=forms.ClearableFileInput(attrs={"accept": ".skops"}),
    )
    name = forms.CharField(max_length=100)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.MODEL_UPLOAD_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                f"The file is {filesizeformat(upload.size)}; packages of at most {filesizeformat(limit)} are accepted."
            )
        return upload


class ModelActivationInline(admin.TabularInline):
    """The version's page lists when it was activated or rolled back to, and what it replaced."""

    model = ModelActivation
    fk_name = "version"
    fields = readonly_fields = ("activated_at", "action", "previous_version", "activated_by")
    extra = 0
    can_delete = False
    verbose_name_plural = "Activation history"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(ServiceWrittenAdmin):
    list_display = ("version", "name", "status", "reason", "setups", "created_at", "created_by")
    list_filter = ("status",)
    search_fields = ("name", "description", "rejection_reason")
    list_select_related = ("created_by",)
    # The report and the metrics table above say what matters; the raw JSON stays one click away.
    fieldsets = (
        (None, {"fields": ("version", "name", "description", "status", "rejection_reason", "setups", "created_by",
                           "created_at")}),
        ("Package", {"classes": ("collapse",), "fields": (
            "artifact_sha256", "artifact_size", "artifact_file", "training_data_sha256", "library_versions")}),
        ("Raw metrics and feature schema (JSON)", {"classes": ("collapse",), "fields": ("metrics", "feature_schema")}),
    )
    inlines = (ModelActivationInline,)
    change_list_template = "admin/modelstore/modelversion/change_list.html"
    change_form_template = "admin/modelstore/modelversion/change_form.html"
    # "change" is the permission to change which version is served: superusers and holders of
    # modelstore.change_modelversion. Django checks it server-side before running an action.
    actions = ("activate_selected", "roll_back")

    @admin.display(description="Rejection reason")
    def reason(self, obj):
        return Truncator(obj.rejection_reason).chars(140)

    @admin.action(description="Activate the selected version", permissions=("change",))
    def activate_selected(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        self._activate(request, queryset.get())

    @admin.action(description="Roll back to the previously active version", permissions=("change",))
    def roll_back(self, request, queryset):
        self._roll_back(request)

    def has_change_permission(self, request, obj=None):
        # A version is never edited here; without an object "change" is the right to run the actions.
        return obj is None and super().has_change_permission(request)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        own = [
            path("upload/", self.admin_site.admin_view(self.upload_view), name="%s_%s_upload" % info),
            path("rollback/", self.admin_site.admin_view(self.rollback_view), name="%s_%s_rollback" % info),
            path("<int:object_id>/activate/", self.admin_site.admin_view(self.activate_view), name="%s_%s_activate" % info),
        ]
        return own + super().get_urls()  # before the catch-all "<path:object_id>/" of the change pages

    # -- pages -------------------------------------------------------------------------------------------------

    def changelist_view(self, request, extra_context=None):
        target = selectors.model_version_rollback_target()
        context = {
            "can_upload": self._has_model_permission(request, "add"),
            "rollback_target": target if self._has_model_permission(request, "change") else None,
        }
        return super().changelist_view(request, extra_context={**context, **(extra_context or {})})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        version = self.get_object(request, object_id)
        context = {}
        if version is not None:
            active = selectors.model_version_active_find()
            context = {
                "checks": version.validation_report.get("checks", []),
                "active_version": active,
                "comparison": _metrics_comparison(version, active),
                "figures": figures_side_by_side(version.metrics),
                "can_activate": version.can_be_activated and self._has_model_permission(request, "change"),
            }
        return super().change_view(request, object_id, form_url, extra_context={**context, **(extra_context or {})})

    def upload_view(self, request):
        self._require(request, "add")
        form = ModelUploadForm(request.POST, request.FILES) if request.method == "POST" else ModelUploadForm()
        if form.is_bound and form.is_valid():
            upload = form.cleaned_data["file"]
            version = services.model_version_upload(
                data=upload.read(), name=form.cleaned_data["name"], description=form.cleaned_data["description"],
                created_by=request.user,
            )
            if version.status == ModelVersion.Status.REJECTED:
                self.message_user(request, f"v{version.version} was rejected: {version.rejection_reason}", messages.ERROR)
            else:
                self.message_user(request, f"v{version.version} passed validation and can be activated.", messages.SUCCESS)
            return redirect(self._url("change", version.pk))
        context = {"title": "Upload a model", "form": form, "max_bytes": settings.MODEL_UPLOAD_MAX_BYTES}
        return self._render(request, "upload.html", context)

    def activate_view(self, request, object_id):
        self._require(request, "change")
        version = get_object_or_404(ModelVersion, pk=object_id)
        if request.method == "POST":
            self._activate(request, version)
            return redirect(self._url("change", version.pk))
        if not version.can_be_activated:
            self.message_user(request, f"v{version.version} is {version.status} and cannot be activated.", messages.ERROR)
            return redirect(self._url("change", version.pk))
        active = selectors.model_version_active_find()
        context = {
            "title": f"Activate v{version.version}?", "version": version, "active_version": active,
            "comparison": _metrics_comparison(version, active),
        }
        return self._render(request, "activate.html", context)

    def rollback_view(self, request):
        self._require(request, "change")
        if request.method == "POST":
            self._roll_back(request)
            return redirect(self._url("changelist"))
        target, current = selectors.model_version_rollback_target(), selectors.model_version_active_find()
        if target is None:
            self.message_user(request, "There is no previously active version to roll back to.", messages.ERROR)
            return redirect(self._url("changelist"))
        context = {
            "title": f"Roll back to v{target.version}?", "version": target, "active_version": current,
            "comparison": _metrics_comparison(target, current),
        }
        return self._render(request, "rollback.html", context)

    # -- helpers -----------------------------------------------------------------------------------------------

    def _activate(self, request, version: ModelVersion) -> None:
        try:
            version = services.model_version_activate(version=version, user=request.user)
        except ApplicationError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"Now serving v{version.version}.", messages.SUCCESS)

    def _roll_back(self, request) -> None:
        try:
            version = services.model_version_rollback(user=request.user)
        except ApplicationError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"Rolled back: now serving v{version.version} again.", messages.SUCCESS)

    def _has_model_permission(self, request, action: str) -> bool:
        # The model permission itself: has_add/has_change_permission say what this read-only admin's forms allow.
        return request.user.has_perm(f"{self.opts.app_label}.{get_permission_codename(action, self.opts)}")

    def _require(self, request, action: str) -> None:
        if not self._has_model_permission(request, action):
            raise PermissionDenied

    def _url(self, page: str, *args) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{page}", args=args)

    def _render(self, request, template: str, context: dict) -> TemplateResponse:
        context = {**self.admin_site.each_context(request), "opts": self.opts, **context}
        return TemplateResponse(request, f"admin/modelstore/modelversion/{template}", context)


COMPARED_METRICS = ("rmse", "pass_accuracy", "interval_coverage")


def _metrics_comparison(version: ModelVersion, other: ModelVersion | None) -> list[dict]:
    """Per setup, the version's reference metrics beside `other`'s (the active version); None where missing."""
    own, theirs = _reference_setups(version), _reference_setups(other)
    return [
        {
            "setup": setup,
            "version": {name: own.get(setup, {}).get(name) for name in COMPARED_METRICS},
            "other": {name: theirs.get(setup, {}).get(name) for name in COMPARED_METRICS},
        }
        for setup in sorted(set(own) | set(theirs))
    ]


def _reference_setups(version: ModelVersion | None) -> dict:
    if version is None:
        return {}
    reference = version.metrics.get("reference") if isinstance(version.metrics, dict) else None
    setups = reference.get("setups") if isinstance(reference, dict) else None
    return setups if isinstance(setups, dict) else {}


@admin.register(ModelActivation)
class ModelActivationAdmin(ServiceWrittenAdmin):
    list_display = ("activated_at", "action", "version", "previous_version", "activated_by")
    list_filter = ("action", "activated_at")
    date_hierarchy = "activated_at"
    list_select_related = ("version", "previous_version", "activated_by")

    def has_change_permission(self, request, obj=None):
        return False
