from django.conf import settings
from django.db import models
from django.db.models import Q

from studentperf.admin_display import local_minute_text


class ModelVersion(models.Model):
    class Status(models.TextChoices):
        VALIDATED = "validated", "Validated"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"
        REJECTED = "rejected", "Rejected"

    class Engine(models.TextChoices):
        """What computes a setup's predictions: its proved ONNX graph, or the scikit-learn pipeline itself."""

        ONNXRUNTIME = "onnxruntime", "onnxruntime"
        SCIKIT_LEARN = "scikit-learn", "scikit-learn"

    version = models.PositiveIntegerField(unique=True, editable=False, help_text="Auto-incremented number.")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    setups = models.JSONField(default=list, help_text='Setups served, e.g. ["A", "B", "C"].')
    feature_schema = models.JSONField(default=dict, help_text="Per setup: names, types, allowed values, ranges.")
    metrics = models.JSONField(default=dict, help_text="Metrics with the protocol that produced them.")
    training_data_sha256 = models.CharField(max_length=64, blank=True)
    training_data = models.JSONField(
        default=dict, blank=True,
        help_text='What the version was trained on (issue 19): {"rows", "sources": {"uci": n, "school": n}, '
        '"outcomes_from", "outcomes_to" (ISO dates of the school outcomes, or null), "sha256" of the exported '
        'training table, "exported_at"}; empty for versions trained before it was recorded.',
    )
    artifact_sha256 = models.CharField(max_length=64, blank=True, help_text="sha256 of the skops bytes.")
    artifact_size = models.PositiveBigIntegerField(default=0, help_text="Size of the skops bytes.")
    artifact_file = models.CharField(max_length=255, blank=True, help_text="Encrypted file in MODEL_STORE_DIR.")
    library_versions = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.VALIDATED)
    rejection_reason = models.TextField(blank=True)
    validation_report = models.JSONField(
        default=dict, blank=True, help_text='{"checks": [{"check", "passed", "detail"}, ...]} in the order they ran.'
    )
    compiled = models.JSONField(
        default=dict, blank=True,
        help_text='Per setup, how it is served: {"engine": "onnxruntime", "sha256" of its ONNX graph, "max_abs_diff" '
        'from scikit-learn, ...} or {"engine": "scikit-learn", "reason"}; empty for versions stored before graphs.',
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The challenger (issue 19): a validated or retired version scoring the active one's traffic in shadow.
    is_challenger = models.BooleanField(
        default=False, help_text="Scores every served prediction in shadow, to be compared with the active version."
    )
    challenger_since = models.DateTimeField(null=True, blank=True)
    challenger_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_challenger"], condition=Q(is_challenger=True), name="modelstore_one_challenger"
            ),
            # The challenger is never the active version, nor a rejected one.
            models.CheckConstraint(
                condition=Q(is_challenger=False) | Q(status__in=["validated", "retired"]),
                name="modelstore_challenger_not_active_or_rejected",
            ),
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="active"), name="modelstore_one_active_version"
            ),
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(rejection_reason=""),
                name="modelstore_rejected_has_reason",
            ),
            # A rejected version keeps its reason, so it can never be the active one, whatever the code path.
            models.CheckConstraint(
                condition=~Q(status="active") | Q(rejection_reason=""), name="modelstore_active_not_rejected"
            ),
        ]

    def __str__(self) -> str:
        return f"v{self.version} {self.name} ({self.status})"

    @property
    def onnx_graphs_sha256(self) -> dict[str, str]:
        """setup -> sha256 of the ONNX graph proved at registration, for the setups served through onnxruntime."""
        compiled = self.compiled if isinstance(self.compiled, dict) else {}
        return {
            setup: entry["sha256"] for setup, entry in compiled.items()
            if isinstance(entry, dict) and entry.get("engine") == self.Engine.ONNXRUNTIME and entry.get("sha256")
        }

    @property
    def can_be_challenger(self) -> bool:
        """A validated or retired version may score in shadow; the active one serves, a rejected one never runs."""
        return self.status in (self.Status.VALIDATED, self.Status.RETIRED)

    @property
    def can_be_activated(self) -> bool:
        """Only a validated or retired version may be served; a rejected one never, the active one already is."""
        return self.status in (self.Status.VALIDATED, self.Status.RETIRED)


class ModelActivation(models.Model):
    """One change of the active version; the newest row says what a rollback returns to."""

    class Action(models.TextChoices):
        ACTIVATE = "activate", "Activate"
        ROLLBACK = "rollback", "Rollback"

    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="activations")
    previous_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    activated_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-activated_at", "-id"]

    def __str__(self) -> str:
        done = "activated" if self.action == self.Action.ACTIVATE else "rolled back to"
        return f"v{self.version.version} {done} on {local_minute_text(self.activated_at)}"
