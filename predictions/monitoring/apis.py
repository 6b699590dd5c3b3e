"""GET /api/v1/monitoring/accuracy: the latest accuracy and drift check of each model version, and the history.

API keys with the read scope see it (a key belongs to the installation); a person signed in needs the read
scope's permission and ACCURACY_CHECK_VIEW (model admins): teachers get 403.
"""
from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from predictions.access.permissions import HasScope
from predictions.access.requester import request_credential
from predictions.access.roles import ACCURACY_CHECK_VIEW
from predictions.monitoring.selectors import (
    accuracy_check_latest_list,
    accuracy_check_list,
    challenger_comparison_latest,
)
from predictions.monitoring.texts import INTERVENTIONS_NOTE
from studentperf.api.base import ApiView
from studentperf.api.schema import error_responses, page_of


class MetricsSerializer(serializers.Serializer):
    accuracy = serializers.FloatField(allow_null=True, help_text="Share of right pass/fail calls.")
    precision = serializers.FloatField(allow_null=True, help_text="Of the students flagged at risk, the share who failed.")
    recall = serializers.FloatField(allow_null=True, help_text="Of the students who failed, the share flagged at risk.")
    f1 = serializers.FloatField(allow_null=True, help_text="Harmonic mean of precision and recall.")
    roc_auc = serializers.FloatField(allow_null=True, help_text="From pass_probability; null with one class only.")
    brier = serializers.FloatField(
        allow_null=True, help_text="Brier score of pass_probability against passing (G3 >= 10): the mean squared gap, "
                                   "0 perfect, 0.25 for a constant 0.5. The pass side, whatever positive_class says.")
    rmse = serializers.FloatField(allow_null=True, help_text="Root mean squared error of the grade, in points.")
    mae = serializers.FloatField(allow_null=True, help_text="Mean absolute error of the grade, in points.")
    interval_coverage = serializers.FloatField(allow_null=True, help_text="Share of final grades inside the interval.")
    stated_coverage = serializers.FloatField(allow_null=True, help_text="The coverage the intervals promise.")
    pairs = serializers.IntegerField(help_text="Predictions whose final grade is known.")
    passes = serializers.IntegerField(help_text="Of them, final grades of 10 or more.")
    fails = serializers.IntegerField(help_text="Of them, final grades below 10.")
    flagged = serializers.IntegerField(help_text="Of them, predictions that called a fail (pass_probability < 0.5).")
    positive_class = serializers.CharField(help_text='"fail": precision, recall and F1 are about failing students.')

    class Meta:
        ref_name = "AccuracyMetrics"


class ReliabilityBandSerializer(serializers.Serializer):
    low = serializers.FloatField(help_text="The band's lowest pass_probability (included).")
    high = serializers.FloatField(help_text="The band's upper edge (excluded; 1.0 is in the top band).")
    mean_pass_probability = serializers.FloatField(help_text="The mean pass_probability of the band's pairs.")
    pass_rate = serializers.FloatField(help_text="The share of the band's pairs whose final grade is 10 or more.")
    pairs = serializers.IntegerField(help_text="Pairs in the band.")


class UnusualGroupSerializer(serializers.Serializer):
    pairs = serializers.IntegerField(help_text="Pairs whose prediction is in the group.")
    accuracy = serializers.FloatField(allow_null=True, help_text="Share of right pass/fail calls; null without pairs.")
    mae = serializers.FloatField(allow_null=True, help_text="Mean absolute error of the grade; null without pairs.")
    interval_coverage = serializers.FloatField(
        allow_null=True, help_text="Share of final grades inside the interval; null without pairs.")

    class Meta:
        ref_name = "AccuracyUnusualGroup"


class UnusualMetricsSerializer(serializers.Serializer):
    flagged = UnusualGroupSerializer(help_text="Predictions of records flagged unusual (unlike the training data).")
    unflagged = UnusualGroupSerializer(help_text="Predictions of records the novelty check found typical.")
    unknown = UnusualGroupSerializer(
        help_text="Predictions of a version that predates the novelty check (unusual null): in neither group above.")

    class Meta:
        ref_name = "AccuracyUnusualMetrics"


class InterventionGroupSerializer(serializers.Serializer):
    students = serializers.IntegerField(help_text="Students in the band and group.")
    passed = serializers.IntegerField(help_text="Of them, final grades of 10 or more.")
    pass_rate = serializers.FloatField(allow_null=True, help_text="passed / students; null without students.")

    class Meta:
        ref_name = "AccuracyInterventionGroup"


class InterventionBandSerializer(serializers.Serializer):
    # `with` is a Python keyword: both fields are declared by name.
    locals().update({
        "with": InterventionGroupSerializer(
            help_text="Students with an intervention dated on or before their final grade was first recorded."),
        "without": InterventionGroupSerializer(help_text="The band's other students."),
    })

    class Meta:
        ref_name = "AccuracyInterventionBand"


class InterventionBandsSerializer(serializers.Serializer):
    high = InterventionBandSerializer(help_text="Students whose paired prediction said high risk.")
    medium = InterventionBandSerializer(help_text="Medium risk.")
    low = InterventionBandSerializer(help_text="Low risk.")

    class Meta:
        ref_name = "AccuracyInterventionBands"


class InterventionMetricsSerializer(serializers.Serializer):
    bands = InterventionBandsSerializer()
    note = serializers.CharField(help_text="Descriptive, not causal: how to read these pass rates.")

    class Meta:
        ref_name = "AccuracyInterventions"


class CheckMetricsSerializer(MetricsSerializer):
    sources = serializers.DictField(child=serializers.IntegerField(), help_text="Pairs from students and batch rows.")
    recent_batch_rows = serializers.IntegerField(help_text="Batch rows of the window that failed_share is over.")
    reliability = ReliabilityBandSerializer(
        many=True, default=list,
        help_text="Calibration: pass_probability in 10 equal bands (0-0.1, ..., 0.9-1), lowest first, only bands with "
                  "pairs; empty without pairs (and in checks made before it was measured).")
    unusual = UnusualMetricsSerializer(
        allow_null=True, default=None,
        help_text="The figures apart for the predictions flagged unusual, the others, and those a version without the "
                  "novelty check made; each pair is in one group. null in checks made before it was measured.")
    interventions = InterventionMetricsSerializer(
        allow_null=True, default=None,
        help_text="Descriptive, not causal: per risk band of the paired prediction, the pass rate of the stored "
                  "students with an intervention before their final grade was recorded and of those without (batch "
                  "rows left out). null in checks made before it was measured.")

    class Meta:
        ref_name = "AccuracyCheckMetrics"


class SubgroupsSerializer(serializers.Serializer):
    sex = serializers.DictField(child=MetricsSerializer(), help_text="Per value of sex.")
    school = serializers.DictField(child=MetricsSerializer(), help_text="Per school.")
    address = serializers.DictField(child=MetricsSerializer(), help_text="Per home address (U urban, R rural).")


class DriftFeatureSerializer(serializers.Serializer):
    test = serializers.ChoiceField(choices=["ks", "chi2"], help_text="Kolmogorov-Smirnov or chi-squared.")
    samples = serializers.IntegerField(help_text="Recent values tested.")
    statistic = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    drifting = serializers.BooleanField(help_text="p_value below the corrected threshold.")
    status = serializers.CharField(required=False, help_text='"not enough data" when the feature was not tested.')
    recent = serializers.DictField(required=False, help_text="Recent mean (numeric) or shares (categories).")
    reference = serializers.DictField(required=False, help_text="The same on the training data.")


class DriftReferenceSerializer(serializers.Serializer):
    file = serializers.CharField()
    rows = serializers.IntegerField()
    sha256 = serializers.CharField()
    matches_training_data = serializers.BooleanField(allow_null=True, help_text="null: the version does not say.")
    note = serializers.CharField()


class DriftSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "drifting", "not enough data"])
    window_days = serializers.IntegerField()
    since = serializers.DateTimeField()
    samples = serializers.IntegerField(help_text="Records the version predicted in the window.")
    min_samples = serializers.IntegerField()
    p_value = serializers.FloatField(help_text="DRIFT_P_VALUE, for all features together.")
    correction = serializers.CharField(help_text='"bonferroni": threshold = p_value / features tested.')
    threshold = serializers.FloatField(allow_null=True)
    drifting = serializers.ListField(child=serializers.CharField(), help_text="The features that drift.")
    features = serializers.DictField(child=DriftFeatureSerializer())
    reference = DriftReferenceSerializer()


class CheckAlertSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["accuracy", "coverage", "drift", "failures"])
    message = serializers.CharField()
    created_at = serializers.DateTimeField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)


class AccuracyCheckSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    model_version = serializers.IntegerField(source="model_version.version")
    created_at = serializers.DateTimeField()
    pairs = serializers.IntegerField()
    metrics = CheckMetricsSerializer()
    subgroups = SubgroupsSerializer()
    drift = DriftSerializer()
    failed_share = serializers.FloatField(allow_null=True, help_text="Share of recent batch rows rejected.")
    alerts = CheckAlertSerializer(many=True, source="alerts.all", help_text="Alerts this check raised or renewed.")


class AccuracyFilterSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, required=False, help_text="Only this model version's checks.")


class ChallengerFiguresSerializer(serializers.Serializer):
    accuracy = serializers.FloatField(help_text="Share of right pass/fail calls.")
    rmse = serializers.FloatField(help_text="Root mean squared grade error, in points out of 20.")
    interval_coverage = serializers.FloatField(help_text="Share of final grades inside the predicted interval.")
    brier = serializers.FloatField(help_text="Mean squared gap between pass_probability and passing; lower is better.")

    class Meta:
        ref_name = "ChallengerFigures"


class ChallengerDifferenceSerializer(serializers.Serializer):
    difference = serializers.FloatField(help_text="Challenger minus active (accuracy: a share; RMSE: points).")
    low = serializers.FloatField(help_text="Lower end of the paired bootstrap 95 % interval.")
    high = serializers.FloatField(help_text="Upper end of the paired bootstrap 95 % interval.")

    class Meta:
        ref_name = "ChallengerDifference"


class ChallengerDifferencesSerializer(serializers.Serializer):
    accuracy = ChallengerDifferenceSerializer(help_text="Above zero: the challenger makes more right calls.")
    rmse = ChallengerDifferenceSerializer(help_text="Below zero: the challenger's grades are closer.")

    class Meta:
        ref_name = "ChallengerDifferences"


class ChallengerBootstrapSerializer(serializers.Serializer):
    resamples = serializers.IntegerField()
    seed = serializers.IntegerField(help_text="Fixed: the same pairs always give the same interval.")
    confidence = serializers.FloatField()

    class Meta:
        ref_name = "ChallengerBootstrap"


class ChallengerComparisonSerializer(serializers.Serializer):
    check_id = serializers.IntegerField(help_text="The accuracy check (of the active version) that compared them.")
    checked_at = serializers.DateTimeField()
    active_version = serializers.IntegerField()
    challenger_version = serializers.IntegerField()
    students = serializers.IntegerField(help_text="Students (or batch rows) with an outcome scored by both versions.")
    min_students = serializers.IntegerField(help_text="CHALLENGER_MIN_STUDENTS: fewer gives not_enough_data.")
    verdict = serializers.ChoiceField(choices=["better", "worse", "no_clear_difference", "not_enough_data"])
    decided_by = serializers.ChoiceField(
        choices=["accuracy", "rmse"], allow_null=True, help_text="The figure whose interval decided; null if none did."
    )
    recommendation = serializers.CharField(help_text="The verdict in a plain sentence.")
    active = ChallengerFiguresSerializer(allow_null=True, help_text="Null with not enough data.")
    challenger = ChallengerFiguresSerializer(allow_null=True, help_text="Null with not enough data.")
    differences = ChallengerDifferencesSerializer(allow_null=True, help_text="Null with not enough data.")
    bootstrap = ChallengerBootstrapSerializer(allow_null=True, help_text="Null with not enough data.")

    class Meta:
        ref_name = "ChallengerComparison"


class AccuracyMonitoringSerializer(page_of(AccuracyCheckSerializer)):
    latest = AccuracyCheckSerializer(many=True, help_text="The newest check of each version, newest version first.")
    challenger = ChallengerComparisonSerializer(
        allow_null=True, help_text="The newest comparison of the active version with the challenger, on the same "
        "students (issue 19); null when no check has compared one.",
    )

    class Meta:
        ref_name = "AccuracyMonitoring"


class CanViewAccuracyChecks(BasePermission):
    message = "Your role does not allow this: accuracy checks are for model administrators."

    def has_permission(self, request, view) -> bool:
        return request_credential(request) is not None or request.user.has_perm(ACCURACY_CHECK_VIEW)


_METRICS = {
    "accuracy": 0.9, "precision": 0.85, "recall": 0.81, "f1": 0.83, "roc_auc": 0.95, "brier": 0.082, "rmse": 1.62,
    "mae": 1.1,
    "interval_coverage": 0.91, "stated_coverage": 0.9, "pairs": 120, "passes": 82, "fails": 38, "flagged": 36,
    "positive_class": "fail",
}
_CHECK = {
    "id": 42, "model_version": 3, "created_at": "2026-11-27T03:00:00Z", "pairs": 120,
    "metrics": {**_METRICS, "sources": {"student": 95, "batch": 25}, "recent_batch_rows": 400, "reliability": [
        {"low": 0.0, "high": 0.1, "mean_pass_probability": 0.04, "pass_rate": 0.0, "pairs": 20},
        {"low": 0.2, "high": 0.3, "mean_pass_probability": 0.26, "pass_rate": 0.3, "pairs": 10},
        {"low": 0.5, "high": 0.6, "mean_pass_probability": 0.55, "pass_rate": 0.583, "pairs": 12},
        {"low": 0.7, "high": 0.8, "mean_pass_probability": 0.75, "pass_rate": 0.739, "pairs": 23},
        {"low": 0.9, "high": 1.0, "mean_pass_probability": 0.97, "pass_rate": 1.0, "pairs": 55},
    ], "unusual": {
        "flagged": {"pairs": 4, "accuracy": 0.5, "mae": 3.2, "interval_coverage": 0.75},
        "unflagged": {"pairs": 116, "accuracy": 0.914, "mae": 1.04, "interval_coverage": 0.914},
        "unknown": {"pairs": 0, "accuracy": None, "mae": None, "interval_coverage": None},
    }, "interventions": {"bands": {
        "high": {"with": {"students": 9, "passed": 4, "pass_rate": 0.444},
                 "without": {"students": 11, "passed": 2, "pass_rate": 0.182}},
        "medium": {"with": {"students": 6, "passed": 4, "pass_rate": 0.667},
                   "without": {"students": 19, "passed": 11, "pass_rate": 0.579}},
        "low": {"with": {"students": 0, "passed": 0, "pass_rate": None},
                "without": {"students": 50, "passed": 47, "pass_rate": 0.94}},
    }, "note": INTERVENTIONS_NOTE}},
    "subgroups": {
        "sex": {"F": {**_METRICS, "pairs": 64}, "M": {**_METRICS, "pairs": 56}},
        "school": {"GP": {**_METRICS, "pairs": 101}, "MS": {**_METRICS, "pairs": 19}},
        "address": {"U": {**_METRICS, "pairs": 90}, "R": {**_METRICS, "pairs": 30}},
    },
    "drift": {
        "status": "drifting", "window_days": 30, "since": "2026-10-28T03:00:00Z", "samples": 412, "min_samples": 30,
        "p_value": 0.01, "correction": "bonferroni", "threshold": 0.0003125, "drifting": ["absences"],
        "features": {
            "absences": {"test": "ks", "samples": 412, "statistic": 0.41, "p_value": 2.1e-9, "drifting": True,
                         "recent": {"mean": 14.2}, "reference": {"mean": 5.7}},
            "school": {"test": "chi2", "samples": 412, "statistic": 1.3, "p_value": 0.25, "drifting": False,
                       "recent": {"shares": {"GP": 0.85, "MS": 0.15}}, "reference": {"shares": {"GP": 0.88, "MS": 0.12}}},
        },
        "reference": {"file": "student-mat.csv", "rows": 395, "sha256": "3a7c" + "0" * 60,
                      "matches_training_data": True, "note": "The version was trained on this file."},
    },
    "failed_share": 0.02,
    "alerts": [{"id": 7, "kind": "drift", "message": "Model v3: the inputs of the last 30 days differ from the "
                "training data in 1 feature(s): absences.", "created_at": "2026-11-27T03:00:01Z",
                "acknowledged_at": None}],
}


_CHALLENGER = {
    "check_id": 42, "checked_at": "2026-11-27T03:00:00Z", "active_version": 3, "challenger_version": 4,
    "students": 212, "min_students": 30, "verdict": "better", "decided_by": "accuracy",
    "recommendation": "The challenger v4 is better than the active v3 on 212 students: 88 % vs 84 % pass/fail "
    "accuracy, difference 95 % CI +1.4 to +7.1 points (RMSE 1.52 vs 1.71 grade points, difference 95 % CI -0.31 to "
    "-0.07); consider promoting it.",
    "active": {"accuracy": 0.84, "rmse": 1.71, "interval_coverage": 0.9, "brier": 0.11},
    "challenger": {"accuracy": 0.88, "rmse": 1.52, "interval_coverage": 0.91, "brier": 0.09},
    "differences": {"accuracy": {"difference": 0.042, "low": 0.014, "high": 0.071},
                    "rmse": {"difference": -0.19, "low": -0.31, "high": -0.07}},
    "bootstrap": {"resamples": 2000, "seed": 19, "confidence": 0.95},
}


class AccuracyMonitoringApi(ApiView):
    required_scope = "read"
    permission_classes = [HasScope, CanViewAccuracyChecks]

    @extend_schema(
        operation_id="monitoring_accuracy",
        summary="Accuracy and drift checks: the latest per model version, and the history",
        description=(
            "Each check compares a version's predictions with the final grades recorded since (pass/fail with "
            "fail as the positive class, the Brier score of pass_probability, grade errors, interval coverage, per "
            "sex, school and address, and apart for the records flagged unusual; a reliability table of "
            "pass_probability in bands against the pass rate; per risk band, the pass rate of students with and "
            "without an intervention, descriptive, not causal) and the inputs of the last DRIFT_WINDOW_DAYS with the "
            "training data. `latest` holds the newest check of each "
            "version; `results` pages through all checks, newest first; `challenger` the newest comparison of the "
            "active version with the challenger scoring in shadow, on the same students, with paired bootstrap "
            "intervals on the differences. API keys need the read scope; people "
            "signed in need the Model admin role. See docs/monitoring.md."
        ),
        parameters=[
            AccuracyFilterSerializer,
            OpenApiParameter("page", int, description="Page number, from 1."),
            OpenApiParameter("page_size", int, description="Checks per page (default 50, at most 500)."),
        ],
        responses={200: AccuracyMonitoringSerializer, **error_responses(400, 404)},
        examples=[OpenApiExample(
            "Latest and history", response_only=True,
            value={"count": 1, "next": None, "previous": None, "results": [_CHECK], "latest": [_CHECK],
                   "challenger": _CHALLENGER},
        )],
        tags=["monitoring"],
    )
    def get(self, request):
        filters = AccuracyFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        version = filters.validated_data.get("version")
        latest = AccuracyCheckSerializer(accuracy_check_latest_list(version=version), many=True).data
        page = self.paginate(accuracy_check_list(version=version), AccuracyCheckSerializer)
        comparison = challenger_comparison_latest()
        challenger = ChallengerComparisonSerializer(comparison).data if comparison is not None else None
        return Response({**page.data, "latest": latest, "challenger": challenger})
