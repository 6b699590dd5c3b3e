import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey

from modelstore.schema import ATTRIBUTES, PERIOD_GRADES, Feature, unknown_attributes
from studentperf.admin_display import local_minute_text


# A school's code (settings.SCHOOLS) is at most this long; the list lives in the setting, not in the database.
SCHOOL_CODE_MAX = 16


def _attribute_field(feature: Feature, *, optional: bool = False) -> models.Field:
    # An attribute a teacher may leave unknown (schema.MAY_BE_UNKNOWN) is NULL until it is known.
    optional = optional or feature.may_be_unknown
    if feature.name == "school":
        return models.CharField(feature.label, max_length=SCHOOL_CODE_MAX, help_text="A code of settings.SCHOOLS.")
    if feature.kind == "category":
        width = max(len(choice) for choice in feature.choices)
        choices = [(value, feature.choice_labels.get(value, value)) for value in feature.choices]
        return models.CharField(feature.label, max_length=width, choices=choices, null=optional, blank=optional)
    return models.PositiveSmallIntegerField(
        feature.label,
        null=optional,
        blank=optional,
        validators=[MinValueValidator(feature.minimum), MaxValueValidator(feature.maximum)],
    )


class Student(models.Model):
    external_id = models.CharField(max_length=64, help_text="The school's own student id.")
    # PROTECT: a teacher's students are handed over before the account is deleted. SET_NULL would move them into
    # the teacherless namespace, where the same id may already be taken (issue 18, attack 7).
    teacher = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="students"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    locals().update({feature.name: _attribute_field(feature) for feature in ATTRIBUTES})
    locals().update({feature.name: _attribute_field(feature, optional=True) for feature in PERIOD_GRADES})

    class Meta:
        ordering = ["school", "external_id"]
        permissions = [("view_all_students", "Can see every teacher's students")]
        constraints = [
            # Each teacher's students are their own namespace of ids, so that a teacher learns nothing of the
            # students they may not see (issue 18, attack 7); students without a teacher (an API key's) share one.
            models.UniqueConstraint(
                fields=["teacher", "school", "external_id"], name="predictions_student_unique_per_teacher"
            ),
            models.UniqueConstraint(
                fields=["school", "external_id"], condition=Q(teacher__isnull=True),
                name="predictions_student_unique_without_teacher",
                violation_error_message="A student without a teacher already has this id at this school.",
            ),
            models.CheckConstraint(condition=Q(G2__isnull=True) | Q(G1__isnull=False), name="predictions_g2_needs_g1"),
        ]

    def __str__(self) -> str:
        return f"{self.school}/{self.external_id}"

    @property
    def school_name(self) -> str:
        """The school's name from settings.SCHOOLS; its code when the setting no longer lists it."""
        return settings.SCHOOLS.get(self.school, self.school)


class AppendOnlyQuerySet(models.QuerySet):
    """The audit log's rows are only ever added: no bulk rewrite or removal through the ORM either."""

    def update(self, **kwargs):
        raise ValueError("Prediction rows are append-only and cannot be changed.")

    def delete(self):
        raise ValueError("Prediction rows are append-only and cannot be deleted.")


class AppendOnlyRow:
    """A model whose rows are only ever added: saving an existing row or deleting one raises. `rows_name` names
    them in the error ("Prediction rows are append-only and cannot be changed.")."""

    rows_name = "Prediction"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError(f"{self.rows_name} rows are append-only and cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError(f"{self.rows_name} rows are append-only and cannot be deleted.")


class Prediction(AppendOnlyRow, models.Model):
    """Append-only audit log: one row per prediction served, never updated."""

    objects = AppendOnlyQuerySet.as_manager()

    class Source(models.TextChoices):
        WEB = "web", "Web"
        API = "api", "API"
        BATCH = "batch", "Batch"
        WHAT_IF = "what_if", "What-if"

    class Risk(models.TextChoices):
        HIGH = "high", "High"
        MEDIUM = "medium", "Medium"
        LOW = "low", "Low"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    student = models.ForeignKey(Student, null=True, blank=True, on_delete=models.PROTECT, related_name="predictions")
    what_if_for = models.ForeignKey(
        Student, null=True, blank=True, on_delete=models.PROTECT, related_name="what_ifs",
        help_text="A what-if (source what_if) was asked for this student; it is never the student's prediction.",
    )
    model_version = models.ForeignKey("modelstore.ModelVersion", on_delete=models.PROTECT, related_name="predictions")
    setup = models.CharField(max_length=1, choices=[("A", "A"), ("B", "B"), ("C", "C")])
    input = models.JSONField(help_text="The validated record exactly as predicted.")
    predicted_grade = models.FloatField()
    pass_probability = models.FloatField()
    confidence = models.FloatField()
    risk = models.CharField(max_length=8, choices=Risk.choices)
    interval_low = models.FloatField()
    interval_high = models.FloatField()
    interval_coverage = models.FloatField()
    top_factors = models.JSONField(default=list)
    unusual = models.BooleanField(
        null=True,
        help_text="Whether the record is unlike the students the model learned from; empty: the model version "
        "predates the check.",
    )
    unusual_reasons = models.JSONField(
        default=list, blank=True, help_text="The attributes that make the record unusual, in words."
    )
    source = models.CharField(max_length=8, choices=Source.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key_prefix = models.CharField(max_length=16, blank=True, help_text="Prefix of the API key used, if any.")
    oauth_client_id = models.CharField(
        max_length=100, blank=True, help_text="Client id of the OAuth2 client whose token was used, if any."
    )
    oauth_client_name = models.CharField(
        max_length=255, blank=True, help_text="That OAuth2 client's name when it asked."
    )
    latency_ms = models.FloatField()
    request_id = models.CharField(
        max_length=128, blank=True, db_index=True,
        help_text="The request that asked for it (X-Request-ID; a batch row: the upload's), as in the logs.",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(predicted_grade__gte=0) & Q(predicted_grade__lte=20), name="predictions_grade_range"
            ),
            models.CheckConstraint(
                condition=Q(pass_probability__gte=0) & Q(pass_probability__lte=1), name="predictions_probability_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} prediction of {local_minute_text(self.created_at)}"

    @property
    def unknown_attributes(self) -> list[str]:
        """The attributes the model did without: left unknown, or a school it was not trained on."""
        return unknown_attributes(self.input)

    @property
    def interval(self) -> dict:
        return {"low": self.interval_low, "high": self.interval_high, "coverage": self.interval_coverage}


class ShadowPrediction(AppendOnlyRow, models.Model):
    """What the challenger (issue 19) predicted for a served prediction's record, scored off the request path
    by a Celery task (predictions.shadow). Append-only like the audit row it shadows; never shown to teachers,
    never in a served answer: only the accuracy check compares it with the served prediction."""

    objects = AppendOnlyQuerySet.as_manager()

    prediction = models.ForeignKey(Prediction, on_delete=models.PROTECT, related_name="shadows")
    model_version = models.ForeignKey(  # indexed by predictions_shadow_version_id below
        "modelstore.ModelVersion", on_delete=models.PROTECT, related_name="shadow_predictions", db_index=False
    )
    setup = models.CharField(max_length=1, choices=[("A", "A"), ("B", "B"), ("C", "C")])
    predicted_grade = models.FloatField()
    pass_probability = models.FloatField()
    interval_low = models.FloatField()
    interval_high = models.FloatField()
    interval_coverage = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["prediction", "model_version"], name="predictions_shadow_once"),
        ]
        # A version's shadow rows, and the MAX(id) of them in one index descent (the shadow sweep's window), on
        # PostgreSQL too, which otherwise walks the primary key back through the other versions' rows.
        indexes = [models.Index(fields=["model_version", "id"], name="predictions_shadow_version_id")]

    rows_name = "Shadow prediction"

    def __str__(self) -> str:
        return f"Shadow of prediction {self.prediction_id} by v{self.model_version.version}"


class Outcome(models.Model):
    """A final grade a student actually obtained. A correction adds a row and marks the earlier one superseded."""

    student = models.ForeignKey(Student, on_delete=models.PROTECT, related_name="outcomes")
    final_grade = models.PositiveSmallIntegerField(validators=[MinValueValidator(0), MaxValueValidator(20)])
    is_current = models.BooleanField(default=True)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-recorded_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["student"], condition=Q(is_current=True), name="predictions_one_current_outcome"),
            models.CheckConstraint(condition=Q(final_grade__lte=20), name="predictions_final_grade_range"),
        ]

    def __str__(self) -> str:
        corrected = "" if self.is_current else " (corrected)"
        return f"Final grade {self.final_grade} recorded {local_minute_text(self.recorded_at)}{corrected}"


class Intervention(models.Model):
    """Something done for a student (tutoring, a parent meeting...): personal data, kept out of the logs.

    `kind` is a code of settings.INTERVENTION_KINDS, checked by the service rather than as model choices, so a
    school can change the list without a migration."""

    student = models.ForeignKey(Student, on_delete=models.PROTECT, related_name="interventions")
    kind = models.CharField(max_length=32)
    date = models.DateField(help_text="When it was done (or began).")
    note = models.TextField(blank=True, max_length=2000)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-date", "-created_at", "-id"]
        indexes = [models.Index(fields=["student", "date"], name="predictions_intervention_date")]


class ApiKey(AbstractAPIKey):
    """A key an external system sends as `Authorization: Api-Key <key>`; only its SHA-512 hash is stored.

    `scopes` lists what the key may do ("predict", "read", "write"); an endpoint names the scope it needs.
    """

    SCOPES = ("predict", "read", "write")

    scopes = models.JSONField(default=list, blank=True, help_text='Allowed scopes: any of "predict", "read", "write".')
    last_used = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="When a request last authenticated with the key (recorded after the response, at most once a "
        "minute).",
    )

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    def clean(self) -> None:
        super().clean()
        if not isinstance(self.scopes, list) or not set(self.scopes) <= set(self.SCOPES):
            raise ValidationError({"scopes": f"Give a list of scopes among: {', '.join(self.SCOPES)}."})

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])


class OAuthClient(models.Model):
    """An external system that gets bearer tokens with the OAuth2 client-credentials grant (issue 18).

    oauth2_provider's Application holds the client id and the hashed secret; this row holds what studentperf
    grants it, as an ApiKey does: its scopes ("predict", "read", "write"), an expiry and revocation. Revoking
    or deleting the client makes its tokens fail at once.
    """

    SCOPES = ApiKey.SCOPES

    application = models.OneToOneField(
        "oauth2_provider.Application", on_delete=models.CASCADE, related_name="studentperf_client"
    )
    scopes = models.JSONField(default=list, blank=True, help_text='Allowed scopes: any of "predict", "read", "write".')
    expiry_date = models.DateTimeField(null=True, blank=True, help_text="No token is issued or accepted after it.")
    revoked = models.BooleanField(default=False, help_text="A revoked client cannot be used again.")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "OAuth2 client"
        verbose_name_plural = "OAuth2 clients"
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.application.name

    def clean(self) -> None:
        if not isinstance(self.scopes, list) or not set(self.scopes) <= set(self.SCOPES):
            raise ValidationError({"scopes": f"Give a list of scopes among: {', '.join(self.SCOPES)}."})

    @property
    def name(self) -> str:
        return self.application.name

    @property
    def client_id(self) -> str:
        return self.application.client_id

    @property
    def has_expired(self) -> bool:
        return self.expiry_date is not None and self.expiry_date <= timezone.now()

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])


class BatchJob(models.Model):
    """A CSV of student records predicted in the background: the file as uploaded, progress and outcome.

    Rows are processed in chunks of `chunk_size`; each chunk's audit rows, BatchRows and BatchChunk marker are
    committed together, so a job picked up again after a crash skips what is done and duplicates nothing.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED, db_index=True)
    source = models.CharField(max_length=8, choices=Prediction.Source.choices)
    file_name = models.CharField(max_length=255, help_text="The uploaded file's name.")
    input_data = models.BinaryField(help_text="The uploaded file, byte for byte (kept with the results).")
    input_sha256 = models.CharField(max_length=64)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0, help_text="Rows processed: predicted or rejected.")
    rows_failed = models.PositiveIntegerField(default=0, help_text="Rows rejected, each with its reason.")
    chunk_size = models.PositiveIntegerField()
    save_students = models.BooleanField(
        default=False, help_text="Rows with an external_id create or update the uploader's students (a class upload)."
    )
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times a worker started on this job.")
    error = models.TextField(blank=True, help_text="Why the job failed as a whole.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key_prefix = models.CharField(max_length=16, blank=True)
    oauth_client_id = models.CharField(max_length=100, blank=True)
    oauth_client_name = models.CharField(max_length=255, blank=True)
    request_id = models.CharField(
        max_length=128, blank=True,
        help_text="The upload's request id: every chunk's audit rows and log lines carry it, resumed or not.",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True, help_text="Last progress: a running job's heartbeat.")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(rows_done__lte=models.F("rows_total")), name="predictions_batch_done_le_total"),
            models.CheckConstraint(condition=Q(rows_failed__lte=models.F("rows_done")), name="predictions_batch_failed_le_done"),
        ]

    def __str__(self) -> str:
        return f"batch {self.id} ({self.status})"


class BatchChunk(models.Model):
    """Marks one chunk of a job as done; its unique index is what makes processing a chunk happen once."""

    job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    rows = models.PositiveIntegerField()
    failed = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="predictions_batch_chunk_once")]


class BatchRow(models.Model):
    """One data row of a batch file: its prediction, or the reasons it was rejected; and G3 when the file gave it."""

    job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="rows")
    row_number = models.PositiveIntegerField(help_text="1 for the first data row after the header.")
    external_id = models.CharField(max_length=64, blank=True)
    prediction = models.OneToOneField(
        Prediction, null=True, blank=True, on_delete=models.PROTECT, related_name="batch_row"
    )
    errors = models.JSONField(default=dict, blank=True, help_text="field -> reasons, for a rejected row.")
    final_grade = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(20)], help_text="G3 when the file gave it."
    )

    class StudentStatus(models.TextChoices):
        NOT_ASKED = "", "not asked"
        CREATED = "created", "added"
        UPDATED = "updated", "updated"
        NO_ID = "no_id", "not saved: no external_id"
        NOT_ALLOWED = "not_allowed", "not saved: the uploader may not add or change students"

    student_status = models.CharField(
        max_length=12, choices=StudentStatus.choices, blank=True, default=StudentStatus.NOT_ASKED,
        help_text="What a class upload did with the row's student (empty: saving was not asked, or the row was "
        "rejected).",
    )

    class Meta:
        ordering = ["job", "row_number"]
        constraints = [
            models.UniqueConstraint(fields=["job", "row_number"], name="predictions_batch_row_once"),
            models.CheckConstraint(
                condition=Q(final_grade__isnull=True) | Q(final_grade__lte=20), name="predictions_batch_g3_range"
            ),
        ]


class AccuracyCheck(models.Model):
    """One run of the accuracy and drift check for one model version, over the outcomes known at that time.

    `metrics`: pass/fail accuracy, precision, recall, f1, roc_auc; grade rmse, mae; interval_coverage;
    counts. `subgroups`: the same per value of sex, school and address. `drift`: per feature, the test, its
    statistic and p-value of recent inputs against the training data.
    """

    model_version = models.ForeignKey(
        "modelstore.ModelVersion", on_delete=models.PROTECT, related_name="accuracy_checks"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    pairs = models.PositiveIntegerField(help_text="Predictions whose final grade is known.")
    metrics = models.JSONField(default=dict)
    subgroups = models.JSONField(default=dict)
    drift = models.JSONField(default=dict)
    failed_share = models.FloatField(null=True, blank=True, help_text="Share of batch rows rejected recently.")
    challenger = models.JSONField(
        default=dict, blank=True,
        help_text="The active version compared with the challenger on the same students (issue 19; "
        "predictions.monitoring.challenger); empty when there was no challenger.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]


class Alert(models.Model):
    """Something an accuracy check found wrong; sent by e-mail and webhook, acknowledged by a model admin."""

    class Kind(models.TextChoices):
        ACCURACY = "accuracy", "Accuracy below threshold"
        COVERAGE = "coverage", "Interval coverage below its promise"
        DRIFT = "drift", "Input drift"
        FAILURES = "failures", "Failed predictions rising"
        RETRAINING = "retraining", "Scheduled retraining could not run"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    model_version = models.ForeignKey(
        "modelstore.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="alerts"
    )
    check_run = models.ForeignKey(AccuracyCheck, null=True, blank=True, on_delete=models.PROTECT, related_name="alerts")
    message = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    notified = models.JSONField(default=dict, blank=True, help_text="How each notification went (email, webhook).")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
