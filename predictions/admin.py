from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from oauth2_provider.admin import AccessTokenAdmin
from oauth2_provider.models import AccessToken, Application, Grant, IDToken, RefreshToken
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey as PackageApiKey

from modelstore.schema import FEATURES
from predictions.access.api_keys import api_key_revoke_many
from predictions.access.oauth_clients import oauth_client_create, oauth_client_revoke_many
from studentperf.admin_display import credential_state, local_minute, milliseconds
from studentperf.errors import ApplicationError

from .forms import application_error_add
from .models import ApiKey, OAuthClient, Outcome, Prediction, ShadowPrediction, Student
from .templatetags.prediction_text import chance, grade, percent
from .validation import record_clean


class CredentialColumns:
    """The columns API keys and OAuth2 clients share: each has scopes, is revoked or not, expires or not."""

    @admin.display(description="scopes")
    def scope_list(self, obj: ApiKey | OAuthClient) -> str:
        return ", ".join(obj.scopes or []) or "none"

    @admin.display(description="state")
    def state(self, obj: ApiKey | OAuthClient) -> str:
        return credential_state(revoked=obj.revoked, expiry=obj.expiry_date)

    @admin.display(description="created", ordering="created")
    def created_at(self, obj: ApiKey | OAuthClient):
        return local_minute(obj.created)

    @admin.display(description="expires", ordering="expiry_date")
    def expires(self, obj: ApiKey | OAuthClient):
        return local_minute(obj.expiry_date, empty="never")


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
    """The list: what was predicted, for whom, by which version, at whose request; the request id, the input and
    the explanation are on each row's page (static/css/admin.css hides the secondary columns at phone width)."""

    list_display = (
        "when", "source", "requester", "student", "setup", "grade", "pass_chance", "risk", "unusual_text",
        "version", "latency",
    )
    list_filter = ("model_version", "source", "created_at", "setup", "risk", "unusual")
    search_fields = (
        "=id", "=request_id", "api_key_prefix", "=oauth_client_id", "oauth_client_name", "student__external_id",
        "requested_by__username",
    )
    date_hierarchy = "created_at"
    list_select_related = ("model_version", "requested_by", "student")
    # A row's page: the same words and rounding as the list, then the record, the explanation and the request id.
    fields = (
        "id", "when", "source", "requester", "student", "what_if_for", "model_version", "setup", "grade",
        "interval_text", "pass_chance", "confidence_text", "risk", "unusual_text", "unusual_reasons", "input",
        "top_factors", "latency", "request_id",
    )

    @admin.display(description="interval")
    def interval_text(self, obj: Prediction) -> str:
        return f"{grade(obj.interval_low)} to {grade(obj.interval_high)} ({percent(obj.interval_coverage)} interval)"

    @admin.display(description="confidence")
    def confidence_text(self, obj: Prediction) -> str:
        return percent(obj.confidence)

    @admin.display(description="when", ordering="created_at")
    def when(self, obj: Prediction):
        return local_minute(obj.created_at)

    @admin.display(description="asked by")
    def requester(self, obj: Prediction) -> str:
        if obj.requested_by is not None:
            return obj.requested_by.get_username()
        if obj.api_key_prefix:
            return f"API key {obj.api_key_prefix}"
        if obj.oauth_client_name or obj.oauth_client_id:
            return f"OAuth2 client {obj.oauth_client_name or obj.oauth_client_id}"
        return "–"

    @admin.display(description="grade", ordering="predicted_grade")
    def grade(self, obj: Prediction) -> str:
        return grade(obj.predicted_grade)

    @admin.display(description="chance to pass", ordering="pass_probability")
    def pass_chance(self, obj: Prediction) -> str:
        return chance(obj.pass_probability)

    @admin.display(description="unusual", ordering="unusual")
    def unusual_text(self, obj: Prediction) -> str:
        return {True: "unusual", False: "no", None: "not checked"}[obj.unusual]

    @admin.display(description="version", ordering="model_version__version")
    def version(self, obj: Prediction) -> str:
        return f"v{obj.model_version.version}"

    @admin.display(description="latency", ordering="latency_ms")
    def latency(self, obj: Prediction) -> str:
        return milliseconds(obj.latency_ms)


@admin.register(ShadowPrediction)
class ShadowPredictionAdmin(ViewOnlyAdmin):
    """What the challenger predicted, in shadow, for served predictions (issue 19): read only, for model admins;
    the monitoring page compares the two once final grades are known."""

    list_display = ("when", "challenger", "served", "setup", "grade", "pass_chance")
    list_filter = ("model_version", "setup", "created_at")
    search_fields = ("=prediction__id",)
    date_hierarchy = "created_at"
    list_select_related = ("model_version", "prediction")

    @admin.display(description="when", ordering="created_at")
    def when(self, obj: ShadowPrediction):
        return local_minute(obj.created_at)

    @admin.display(description="challenger", ordering="model_version__version")
    def challenger(self, obj: ShadowPrediction) -> str:
        return f"v{obj.model_version.version}"

    @admin.display(description="served (grade, chance to pass)")
    def served(self, obj: ShadowPrediction) -> str:
        return f"{grade(obj.prediction.predicted_grade)}, {chance(obj.prediction.pass_probability)}"

    @admin.display(description="challenger's grade", ordering="predicted_grade")
    def grade(self, obj: ShadowPrediction) -> str:
        return grade(obj.predicted_grade)

    @admin.display(description="challenger's chance to pass", ordering="pass_probability")
    def pass_chance(self, obj: ShadowPrediction) -> str:
        return chance(obj.pass_probability)


@admin.register(Outcome)
class OutcomeAdmin(ViewOnlyAdmin):
    """The history of recorded final grades; a correction is made through the outcome service (API)."""

    list_display = ("student", "final_grade", "state", "recorded_by", "recorded")
    list_filter = ("is_current", "recorded_at")
    search_fields = ("student__external_id", "recorded_by__username")
    date_hierarchy = "recorded_at"
    list_select_related = ("student", "recorded_by")

    @admin.display(description="state", ordering="is_current")
    def state(self, obj: Outcome) -> str:
        return "current" if obj.is_current else "corrected"

    @admin.display(description="recorded", ordering="recorded_at")
    def recorded(self, obj: Outcome):
        return local_minute(obj.recorded_at)


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
    list_display = ("external_id", "school", "teacher", "G1", "G2", "updated")
    list_filter = ("school",)
    search_fields = ("external_id",)
    list_select_related = ("teacher",)

    @admin.display(description="updated", ordering="updated_at")
    def updated(self, obj: Student):
        return local_minute(obj.updated_at)

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
class ApiKeyAdmin(CredentialColumns, APIKeyModelAdmin):
    """Creating a key shows it once (a warning message); only its hash is stored. Revoking cannot be undone:
    a revoked key's fields are read only (the package makes name, expiry and revoked so; scopes added here)."""

    form = ApiKeyAdminForm
    list_display = ("name", "prefix", "scope_list", "state", "created_at", "expires", "last_used_at")
    list_filter = ("revoked", "created")
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None) -> tuple[str, ...]:
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is None:
            return fields
        return fields + (("scopes",) if obj.revoked else ()) + ("last_used_at",)

    @admin.display(description="last used", ordering="last_used")
    def last_used_at(self, obj: ApiKey):
        return local_minute(obj.last_used, empty="never")

    @admin.action(description="Revoke the selected API keys (cannot be undone)", permissions=("change",))
    def revoke(self, request, queryset) -> None:
        count = api_key_revoke_many(keys=queryset)
        self.message_user(request, f"Revoked {count} API key(s).")


# OAuth2 clients (issue 18): model admins create and revoke them here and revoke single tokens; DOT's own admin
# pages for Applications, grants, ID and refresh tokens are not used (client credentials need none of them).
for _model in (Application, Grant, IDToken, RefreshToken, AccessToken):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


class OAuthClientAdminForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(scope, scope) for scope in OAuthClient.SCOPES], widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = OAuthClient
        fields = ["scopes", "expiry_date"]

    def clean_expiry_date(self):
        expiry = self.cleaned_data["expiry_date"]
        if expiry is not None and expiry <= timezone.now() and "expiry_date" in self.changed_data:
            raise forms.ValidationError("Must be in the future.")
        return expiry


class OAuthClientAddForm(OAuthClientAdminForm):
    name = forms.CharField(max_length=255, help_text="Who or what uses the client, e.g. 'school information system'.")

    class Meta(OAuthClientAdminForm.Meta):
        fields = ["name", "scopes", "expiry_date"]


@admin.register(OAuthClient)
class OAuthClientAdmin(CredentialColumns, admin.ModelAdmin):
    """Creating a client shows its secret once (a warning message); only its hash is stored. Revoking cannot be
    undone and makes its tokens fail at once; a revoked client's fields are read only."""

    list_display = ("name", "client_id", "scope_list", "state", "created_at", "expires")
    list_filter = ("revoked", "created")
    search_fields = ("application__name", "=application__client_id")
    list_select_related = ("application",)
    actions = ["revoke"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = OAuthClientAdminForm if obj is not None else OAuthClientAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None) -> list[str]:
        if obj is None:
            return ["name", "scopes", "expiry_date"]
        return ["name", "client_id", "scopes", "expiry_date", "state", "created_at"]

    def get_readonly_fields(self, request, obj=None) -> tuple[str, ...]:
        if obj is None:
            return ()
        fields = ("name", "client_id", "state", "created_at")
        return fields + ("scopes", "expiry_date") if obj.revoked else fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: the audit log keeps naming the client

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        data = form.cleaned_data
        client, secret = oauth_client_create(name=data["name"], scopes=data["scopes"], expiry_date=data["expiry_date"])
        obj.pk, obj.application, obj.created = client.pk, client.application, client.created
        self.message_user(
            request,
            f"The client id of '{client.name}' is {client.client_id} and its secret is {secret}. Store the secret "
            "now: it is shown only this once; studentperf keeps only its hash.",
            level=messages.WARNING,
        )

    @admin.action(description="Revoke the selected OAuth2 clients and their tokens (cannot be undone)",
                  permissions=("change",))
    def revoke(self, request, queryset) -> None:
        count = oauth_client_revoke_many(clients=queryset)
        self.message_user(request, f"Revoked {count} OAuth2 client(s); their tokens no longer work.")


@admin.register(AccessToken)
class ClientTokenAdmin(AccessTokenAdmin):
    """The tokens issued, masked (only their checksum is stored anyway); revoking one makes it fail at once.
    Nothing of a token can be changed by hand."""

    list_display = ("__str__", "application", "scope", "expires_at", "state")
    list_filter = ()
    actions = ["revoke_tokens"]

    @admin.display(description="expires", ordering="expires")
    def expires_at(self, obj: AccessToken):
        return local_minute(obj.expires)

    @admin.display(description="state")
    def state(self, obj: AccessToken) -> str:
        return "expired" if obj.is_expired() else "valid"

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        return [field.name for field in self.model._meta.fields if field.name not in ("token",)] + ["masked_token"]

    def get_exclude(self, request, obj=None):
        return ["token"]

    @admin.action(description="Revoke the selected tokens", permissions=("change",))
    def revoke_tokens(self, request, queryset) -> None:
        super().revoke_tokens(request, queryset)
