import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from rest_framework_api_key.models import AbstractAPIKey

from modelstore.schema import ATTRIBUTES, PERIOD_GRADES, Feature


def _attribute_field(feature: Feature, *, optional: bool = False) -> models.Field:
    if feature.kind == "category":
        width = max(len(choice) for choice in feature.choices)
        choices = [(value, feature.choice_labels.get(value, value)) for value in feature.choices]
        return models.CharField(feature.label, max_length=width, choices=choices)
    return models.PositiveSmallIntegerField(
        feature.label,
        null=optional,
        blank=optional,
        validators=[MinValueValidator(feature.minimum), MaxValueValidator(feature.maximum)],
    )


class Student(models.Model):
    external_id = models.CharField(max_length=64, help_text="The school's own student id.")
    teacher = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="students"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    locals().update({feature.name: _attribute_field(feature) for feature in ATTRIBUTES})
    locals().update({feature.name: _attribute_field(feature, optional=True) for feature in PERIOD_GRADES})

    class Meta:
        ordering = ["school", "external_id"]
        permissions = [("view_all_students", "Can see every teacher's students")]
        constraints = [
            models.UniqueConstraint(fields=["school", "external_id"], name="predictions_student_unique_per_school"),
            models.CheckConstraint(condition=Q(G2__isnull=True) | Q(G1__isnull=False), name="predictions_g2_needs_g1"),
        ]

    def __str__(self) -> str:
        return f"{self.school}/{self.external_id}"


class AppendOnlyQuerySet(models.QuerySet):
    """The audit log's rows are only ever added: no bulk rewrite or removal through the ORM either."""

    def update(self, **kwargs):
        raise ValueError("Prediction rows are append-only and cannot be changed.")

    def delete(self):
        raise ValueError("Prediction rows are append-only and cannot be deleted.")


class Prediction(models.Model):
    """Append-only audit log: one row per prediction served, never updated."""

    objects = AppendOnlyQuerySet.as_manager()

    class Source(models.TextChoices):
        WEB = "web", "Web"
        API = "api", "API"
        BATCH = "batch", "Batch"

    class Risk(models.TextChoices):
        HIGH = "high", "High"
        MEDIUM = "medium", "Medium"
        LOW = "low", "Low"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    student = models.ForeignKey(Student, null=True, blank=True, on_delete=models.PROTECT, related_name="predictions")
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
    source = models.CharField(max_length=8, choices=Source.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key_prefix = models.CharField(max_length=16, blank=True, help_text="Prefix of the API key used, if any.")
    latency_ms = models.FloatField()
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

    def save(self, *args, **kwargs):
        # The audit log is append-only: an existing row is never rewritten.
        if not self._state.adding:
            raise ValueError("Prediction rows are append-only and cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Prediction rows are append-only and cannot be deleted.")

    @property
    def interval(self) -> dict:
        return {"low": self.interval_low, "high": self.interval_high, "coverage": self.interval_coverage}


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


class ApiKey(AbstractAPIKey):
    """A key an external system sends as `Authorization: Api-Key <key>`; only its SHA-512 hash is stored.

    `scopes` lists what the key may do ("predict", "read", "write"); an endpoint names the scope it needs.
    """

    SCOPES = ("predict", "read", "write")

    scopes = models.JSONField(default=list, blank=True, help_text='Allowed scopes: any of "predict", "read", "write".')

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    def clean(self) -> None:
        super().clean()
        if not isinstance(self.scopes, list) or not set(self.scopes) <= set(self.SCOPES):
            raise ValidationError({"scopes": f"Give a list of scopes among: {', '.join(self.SCOPES)}."})

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])
