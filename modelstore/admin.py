"""Model versions in the admin: read-only records; upload, activation and rollback through the services.

The upload, activate, rollback and challenger pages are admin views (`admin_site.admin_view`: staff only,
CSRF-protected) that check the model permission themselves: `add_modelversion` to upload, `change_modelversion`
to change which version is served or scores in shadow. Activating, rolling back and making a challenger each go
through a confirmation page (GET shows what changes, only the POST acts). The page of a version leads with its
cross-validated figures beside the active version's, then its validation report, its training data and the
figures measured on the training data (optimistic).
"""
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.module_loading import import_string
from django.utils.text import Truncator

from modelstore import selectors, services
from modelstore.figures import figures_side_by_side
from modelstore.models import ModelActivation, ModelVersion
from modelstore.texts import (
    model_version_reference_note, model_version_retraining_figures, model_version_training_data,
    model_versions_cross_validated,
)
from studentperf.admin_display import local_minute
from studentperf.errors import ApplicationError


def _version_label(version: ModelVersion | None) -> str:
    return "–" if version is None else f"v{version.version} {version.name}"


class ActivationColumns:
    """The activation history's columns, on its own list and on each version's page."""

    @admin.display(description="when", ordering="activated_at")
    def when(self, obj: ModelActivation):
        return local_minute(obj.activated_at)

    @admin.display(description="what", ordering="action")
    def what(self, obj: ModelActivation) -> str:
        return "activated" if obj.action == ModelActivation.Action.ACTIVATE else "rolled back to"

    @admin.display(description="version", ordering="version__version")
    def activated_version(self, obj: ModelActivation) -> str:
        return _version_label(obj.version)

    @admin.display(description="replaced")
    def replaced(self, obj: ModelActivation) -> str:
        return _version_label(obj.previous_version)

    @admin.display(description="by")
    def by(self, obj: ModelActivation) -> str:
        return obj.activated_by.get_username() if obj.activated_by is not None else "–"


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
    file = forms.FileField(label="Model package", widget=forms.ClearableFileInput(attrs={"accept": ".skops"}))
    name = forms.CharField(max_length=100)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        limit = settings.MODEL_UPLOAD_MAX_BYTES
        file = self.fields["file"]
        file.help_text = f"A .skops package, as written by export_model; at most {filesizeformat(limit)}."
        # upload-progress.js refuses a larger file before sending it; the server checks again (clean_file).
        file.widget.attrs["data-max-bytes"] = str(limit)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.MODEL_UPLOAD_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                f"The file is {filesizeformat(upload.size)}; packages of at most {filesizeformat(limit)} are accepted."
            )
        return upload


class ModelActivationInline(ActivationColumns, admin.TabularInline):
    """The version's page lists when it was activated or rolled back to, and what it replaced."""

    model = ModelActivation
    fk_name = "version"
    fields = readonly_fields = ("when", "what", "replaced", "by")
    extra = 0
    can_delete = False
    verbose_name_plural = "Activation history"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("version", "previous_version", "activated_by")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ChallengerFilter(admin.SimpleListFilter):
    """"By role": the challenger, or the others (Django's default for the flag read "By is challenger")."""

    title, parameter_name = "role", "role"

    def lookups(self, request, model_admin):
        return (("challenger", "The challenger"), ("other", "Not the challenger"))

    def queryset(self, request, queryset):
        if self.value() in ("challenger", "other"):
            return queryset.filter(is_challenger=self.value() == "challenger")
        return queryset


@admin.register(ModelVersion)
class ModelVersionAdmin(ServiceWrittenAdmin):
    list_display = ("version_number", "name", "state", "setup_list", "created", "created_by", "reason")
    list_filter = ("status", ChallengerFilter)
    search_fields = ("name", "description", "rejection_reason")
    list_select_related = ("created_by",)
    # The report and the metrics table above say what matters; the raw JSON stays one click away.
    fieldsets = (
        (None, {"fields": ("version", "name", "description", "status", "rejection_reason", "setups", "created_by",
                           "created_at")}),
        ("Package", {"classes": ("collapse",), "fields": (
            "artifact_sha256", "artifact_size", "artifact_file", "training_data_sha256", "library_versions")}),
        ("Raw metrics, feature schema and training data (JSON)", {"classes": ("collapse",), "fields": (
            "metrics", "feature_schema", "training_data")}),
    )
    inlines = (ModelActivationInline,)
    change_list_template = "admin/modelstore/modelversion/change_list.html"
    change_form_template = "admin/modelstore/modelversion/change_form.html"
    # "change" is the permission to change which version is served: superusers and holders of
    # modelstore.change_modelversion. Django checks it server-side before running an action.
    actions = ("activate_selected", "roll_back")

    @admin.display(description="version", ordering="version")
    def version_number(self, obj: ModelVersion) -> str:
        return f"v{obj.version}"

    @admin.display(description="state", ordering="status")
    def state(self, obj: ModelVersion) -> str:
        """The status in words; a validated or retired version scoring in shadow is "challenger"."""
        return "challenger" if obj.is_challenger else obj.get_status_display().lower()

    @admin.display(description="setups")
    def setup_list(self, obj: ModelVersion) -> str:
        return ", ".join(obj.setups or []) or "–"

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: ModelVersion):
        return local_minute(obj.created_at)

    @admin.display(description="rejection reason")
    def reason(self, obj):
        return Truncator(obj.rejection_reason).chars(140)

    # Both actions lead to the confirmation page; nothing is switched by the action itself.
    @admin.action(description="Activate the selected version…", permissions=("change",))
    def activate_selected(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return None
        return redirect(self._url("activate", queryset.get().pk))

    @admin.action(description="Roll back to the previously active version…", permissions=("change",))
    def roll_back(self, request, queryset):
        return redirect(self._url("rollback"))

    def has_change_permission(self, request, obj=None):
        # A version is never edited here; without an object "change" is the right to run the actions.
        return obj is None and super().has_change_permission(request)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        own = [
            path("upload/", self.admin_site.admin_view(self.upload_view), name="%s_%s_upload" % info),
            path("rollback/", self.admin_site.admin_view(self.rollback_view), name="%s_%s_rollback" % info),
            path("<int:object_id>/activate/", self.admin_site.admin_view(self.activate_view), name="%s_%s_activate" % info),
            path("<int:object_id>/challenger/", self.admin_site.admin_view(self.challenger_view),
                 name="%s_%s_challenger" % info),
            path("challenger/retire/", self.admin_site.admin_view(self.challenger_retire_view),
                 name="%s_%s_challenger_retire" % info),
            path("retrain/", self.admin_site.admin_view(self.retrain_view), name="%s_%s_retrain" % info),
        ]
        return own + super().get_urls()  # before the catch-all "<path:object_id>/" of the change pages

    # -- pages -------------------------------------------------------------------------------------------------

    def retrain_view(self, request):
        """POST only (the list's "Retrain from recorded outcomes" button; `include_base_data=1` from a rejected
        school-only version's page adds the UCI students): queue a retraining on a worker
        (settings.MODEL_RETRAIN_QUEUE, docs/admin.md "Retraining"); training never runs in the request."""
        self._require(request, "change")
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        include_base_data = request.POST.get("include_base_data") == "1"
        try:
            import_string(settings.MODEL_RETRAIN_QUEUE)(user=request.user, include_base_data=include_base_data)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)  # a sentence: the fields say the same
        else:
            self.message_user(request, RETRAIN_QUEUED, messages.SUCCESS)
        return redirect(self._url("changelist"))

    def changelist_view(self, request, extra_context=None):
        target = selectors.model_version_rollback_target()
        context = {
            "can_upload": self._has_model_permission(request, "add"),
            "rollback_target": target if self._has_model_permission(request, "change") else None,
            "can_retrain": self._has_model_permission(request, "change"),
        }
        return super().changelist_view(request, extra_context={**context, **(extra_context or {})})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        version = self.get_object(request, object_id)
        context = {}
        if version is not None:
            active = selectors.model_version_active_find()
            may_change = self._has_model_permission(request, "change")
            context = {
                "checks": version.validation_report.get("checks", []),
                "reference_note": model_version_reference_note(version=version),
                "active_version": active,
                "cross_validated": _cross_validated(version, active),
                "training_data": model_version_training_data(version=version),
                "retraining": model_version_retraining_figures(version=version),
                "comparison": _metrics_comparison(version, active),
                "figures": figures_side_by_side(version.metrics),
                "can_activate": version.can_be_activated and may_change,
                "can_make_challenger": version.can_be_challenger and not version.is_challenger and may_change,
                "can_retire_challenger": version.is_challenger and may_change,
                "can_retrain": may_change,
                # The comparison on the pages of the two versions compared (settings.MODEL_CHALLENGER_SUMMARY).
                "challenger": (
                    import_string(settings.MODEL_CHALLENGER_SUMMARY)()
                    if version.is_challenger or (version.status == ModelVersion.Status.ACTIVE
                                                 and selectors.model_version_challenger_find() is not None)
                    else None
                ),
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
                self.message_user(
                    request, f"Version {version.version} was rejected: {version.rejection_reason}", messages.ERROR
                )
            else:
                self.message_user(
                    request, f"Version {version.version} passed validation and can be activated.", messages.SUCCESS
                )
            if request.headers.get("X-Requested-With") == "XMLHttpRequest":
                # upload-progress.js goes to the page itself: a redirect followed by the request would show (and
                # so use up) the message above where nobody sees it.
                return JsonResponse({"location": self._url("change", version.pk)})
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
            self.message_user(
                request, f"Version {version.version} is {version.status} and cannot be activated.", messages.ERROR
            )
            return redirect(self._url("change", version.pk))
        active = selectors.model_version_active_find()
        context = {
            "title": f"Activate v{version.version}?", "version": version, "active_version": active,
            "comparison": _metrics_comparison(version, active), "cross_validated": _cross_validated(version, active),
        }
        return self._render(request, "activate.html", context)

    def challenger_view(self, request, object_id):
        self._require(request, "change")
        version = get_object_or_404(ModelVersion, pk=object_id)
        if request.method == "POST":
            try:
                services.model_version_challenger_set(version=version, user=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"Not made the challenger: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"Version {version.version} is now the challenger: it scores every "
                                  "prediction in shadow.", messages.SUCCESS)
            return redirect(self._url("change", version.pk))
        if not version.can_be_challenger or version.is_challenger:
            why = "already the challenger" if version.is_challenger else version.status
            self.message_user(request, f"Version {version.version} is {why} and cannot be made the challenger.",
                              messages.ERROR)
            return redirect(self._url("change", version.pk))
        active = selectors.model_version_active_find()
        context = {
            "title": f"Make v{version.version} the challenger?", "version": version, "active_version": active,
            "challenger": selectors.model_version_challenger_find(),
            "comparison": _metrics_comparison(version, active), "cross_validated": _cross_validated(version, active),
        }
        return self._render(request, "challenger.html", context)

    def challenger_retire_view(self, request):
        self._require(request, "change")
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        retired = services.model_version_challenger_retire(user=request.user)
        if retired is None:
            self.message_user(request, "There is no challenger to retire.", messages.ERROR)
            return redirect(self._url("changelist"))
        self.message_user(
            request, f"Version {retired.version} is no longer the challenger: shadow scoring has stopped.",
            messages.SUCCESS,
        )
        return redirect(self._url("change", retired.pk))

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
            "comparison": _metrics_comparison(target, current), "cross_validated": _cross_validated(target, current),
        }
        return self._render(request, "rollback.html", context)

    # -- helpers -----------------------------------------------------------------------------------------------

    def _activate(self, request, version: ModelVersion) -> None:
        try:
            version = services.model_version_activate(version=version, user=request.user)
        except ApplicationError as exc:
            self.message_user(request, f"Not activated: {exc}", messages.ERROR)
            return
        self.message_user(request, f"Now serving v{version.version}.", messages.SUCCESS)

    def _roll_back(self, request) -> None:
        try:
            version = services.model_version_rollback(user=request.user)
        except ApplicationError as exc:
            self.message_user(request, f"Not rolled back: {exc}", messages.ERROR)
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


RETRAIN_QUEUED = (
    "Retraining from recorded outcomes is queued: it takes a minute or two. The new version then appears in this "
    "list as the challenger (or rejected by validation, with the reason)."
)
COMPARED_METRICS = ("rmse", "pass_accuracy", "interval_coverage")


def _cross_validated(version: ModelVersion, active: ModelVersion | None) -> dict:
    """The version's cross-validated figures beside the active version's (alone when it is the active one)."""
    versions = [version] if active is None or active.pk == version.pk else [version, active]
    table = model_versions_cross_validated(versions=versions)
    columns = [{"version": each, "protocol": protocol} for each, protocol in zip(versions, table["protocols"])]
    return {"columns": columns, "setups": table["setups"]}


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
class ModelActivationAdmin(ActivationColumns, ServiceWrittenAdmin):
    list_display = ("when", "what", "activated_version", "replaced", "by")
    list_filter = ("action", "activated_at")
    date_hierarchy = "activated_at"
    list_select_related = ("version", "previous_version", "activated_by")

    def has_change_permission(self, request, obj=None):
        return False
