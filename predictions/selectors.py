"""Reads: what a person, or an API key, may see of predictions, students and outcomes."""
from __future__ import annotations

from django.db.models import Case, Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When

from modelstore.schema import FEATURES, SETUPS
from predictions.access.roles import STUDENT_VIEW, VIEW_ALL_STUDENTS
from studentperf.errors import ApplicationError

from .models import Intervention, Outcome, Prediction, Student


def prediction_list_for_user(*, user) -> QuerySet[Prediction]:
    """The predictions a person may see, newest first: with VIEW_ALL_STUDENTS (model admins, superusers)
    all of them; otherwise the ones they requested and those of their own students."""
    predictions = Prediction.objects.select_related("model_version", "student")
    if user.has_perm(VIEW_ALL_STUDENTS):
        return predictions
    return predictions.filter(Q(requested_by=user) | Q(student__teacher=user))


def student_list_for_user(*, user) -> QuerySet[Student]:
    """The students a person may see: every one with VIEW_ALL_STUDENTS, their own as a teacher, none
    without a role."""
    if user.has_perm(VIEW_ALL_STUDENTS):
        return Student.objects.all()
    if not user.has_perm(STUDENT_VIEW):
        return Student.objects.none()
    return Student.objects.filter(teacher=user)


def outcome_history(*, student: Student) -> QuerySet[Outcome]:
    """Every final grade recorded for a student, the current one and the ones it corrected, newest first."""
    return Outcome.objects.filter(student=student).select_related("supersedes", "recorded_by")


# The API's callers: an API key belongs to the installation (a school information system) and sees every
# student; a person signed in with a session sees what the *_for_user selectors give.


def student_list_for_requester(
    *, user=None, api_key=None, school: str | None = None, external_id: str | None = None, risk: str | None = None
) -> QuerySet[Student]:
    """The students an API key (all of them) or a person may see, optionally filtered.

    `risk` is the risk of each student's latest prediction; a student never predicted matches no risk.
    """
    if api_key is not None:
        students = Student.objects.all()
    elif user is not None:
        students = student_list_for_user(user=user)
    else:
        raise ValueError("A requester is an API key or a user.")
    if school:
        students = students.filter(school=school)
    if external_id:
        students = students.filter(external_id=external_id)
    if risk:
        latest = Prediction.objects.filter(student=OuterRef("pk")).order_by("-created_at").values("risk")[:1]
        students = students.annotate(latest_risk=Subquery(latest)).filter(latest_risk=risk)
    return students


def prediction_list_for_student(*, student: Student) -> QuerySet[Prediction]:
    """Every prediction made for a student, newest first, whoever asked: seeing the student is what counts."""
    return Prediction.objects.filter(student=student).select_related("model_version")


def outcome_list_for_requester(*, user=None, api_key=None, student_id: int | None = None) -> QuerySet[Outcome]:
    """The outcomes of the students the requester may see (current and corrected ones), newest first."""
    outcomes = Outcome.objects.all()
    if api_key is None:
        outcomes = outcomes.filter(student__in=student_list_for_requester(user=user))
    if student_id is not None:
        outcomes = outcomes.filter(student_id=student_id)
    return outcomes


def student_get_for_requester(*, pk, user=None, api_key=None) -> Student:
    """The student with this id if the requester may see it; ApplicationError(kind="not_found") otherwise."""
    student = student_list_for_requester(user=user, api_key=api_key).filter(pk=pk).first()
    if student is None:
        raise ApplicationError(f"There is no student with id {pk}.", kind="not_found")
    return student


# The teacher dashboard: each student with their latest prediction and current final grade, in one query.

NOT_PREDICTED = "none"  # the risk "band" of a student without any prediction yet
RISK_BANDS = (Prediction.Risk.HIGH, Prediction.Risk.MEDIUM, Prediction.Risk.LOW, NOT_PREDICTED)
# ?sort= key -> the annotation or field it orders by ("-key" reverses). Anything else keeps the default.
STUDENT_SORTS = {
    "external_id": "external_id",
    "school": "school",
    "grade": "latest_grade",
    "pass_probability": "latest_pass_probability",
    "risk": "latest_risk_rank",
    "setup": "latest_setup",
    "predicted_at": "latest_predicted_at",
    "final_grade": "current_final_grade",
}
# Within a risk band the lower chance to pass is the more worrying: it breaks the ties of the risk sort, flipped
# with it, so that the default (highest risk first) puts the student most likely to fail at the top.
STUDENT_SORT_TIES = {"risk": "-pass_probability"}
DEFAULT_STUDENT_SORT = "-risk"
INTERVENTION_FILTERS = ("none", "some")


def student_sort_clean(sort: str | None) -> str:
    """The ?sort= value if it names a known column ("grade", "-grade", ...), otherwise the default."""
    sort = sort or ""
    return sort if sort.removeprefix("-") in STUDENT_SORTS else DEFAULT_STUDENT_SORT


def _with_latest_prediction(students: QuerySet[Student]) -> QuerySet[Student]:
    latest = Prediction.objects.filter(student=OuterRef("pk")).order_by("-created_at")
    current_outcome = Outcome.objects.filter(student=OuterRef("pk"), is_current=True)
    return students.annotate(
        latest_prediction_id=Subquery(latest.values("pk")[:1]),
        latest_grade=Subquery(latest.values("predicted_grade")[:1]),
        latest_pass_probability=Subquery(latest.values("pass_probability")[:1]),
        latest_risk=Subquery(latest.values("risk")[:1]),
        latest_setup=Subquery(latest.values("setup")[:1]),
        latest_predicted_at=Subquery(latest.values("created_at")[:1]),
        latest_model_version=Subquery(latest.values("model_version__version")[:1]),
        latest_unusual=Subquery(latest.values("unusual")[:1]),
        current_final_grade=Subquery(current_outcome.values("final_grade")[:1]),
    )


def student_list_with_latest_prediction(
    *, user, q: str = "", risk: str = "", setup: str = "", intervention: str = "", sort: str = ""
) -> QuerySet[Student]:
    """The students a person may see, each annotated with their latest prediction (`latest_grade`,
    `latest_pass_probability`, `latest_risk`, `latest_setup`, `latest_predicted_at`, `latest_model_version`,
    `latest_unusual`, `latest_prediction_id`; None when never predicted) and `current_final_grade`.

    `q` searches the school's student id; `risk` is a band or "none" (never predicted); `setup` is the latest
    prediction's setup; `intervention` "none" (no intervention recorded yet) or "some"; `sort` a key of
    STUDENT_SORTS, "-" for descending. Unknown values are ignored.
    Students never predicted come last whatever the direction.
    """
    students = _with_latest_prediction(student_list_for_user(user=user))
    students = students.annotate(
        latest_risk_rank=Case(
            When(latest_risk=Prediction.Risk.LOW, then=Value(1)),
            When(latest_risk=Prediction.Risk.MEDIUM, then=Value(2)),
            When(latest_risk=Prediction.Risk.HIGH, then=Value(3)),
            default=None,
            output_field=IntegerField(),
        )
    )
    if q and q.strip():
        students = students.filter(external_id__icontains=q.strip())
    if risk == NOT_PREDICTED:
        students = students.filter(latest_prediction_id__isnull=True)
    elif risk in Prediction.Risk.values:
        students = students.filter(latest_risk=risk)
    if setup in SETUPS:
        students = students.filter(latest_setup=setup)
    if intervention in INTERVENTION_FILTERS:
        helped = Exists(Intervention.objects.filter(student=OuterRef("pk")))
        students = students.filter(helped if intervention == "some" else ~helped)
    return students.order_by(*_student_order(student_sort_clean(sort)), "school", "external_id", "pk")


def _student_order(sort: str) -> list:
    """The ordering of a clean ?sort= value and its tie-breaker (STUDENT_SORT_TIES); nulls (never predicted) last."""
    key, descending = sort.removeprefix("-"), sort.startswith("-")
    sorts = [(key, descending)]
    if tie := STUDENT_SORT_TIES.get(key):
        sorts.append((tie.removeprefix("-"), tie.startswith("-") != descending))
    return [
        F(STUDENT_SORTS[name]).desc(nulls_last=True) if down else F(STUDENT_SORTS[name]).asc(nulls_last=True)
        for name, down in sorts
    ]


def risk_counts_for_user(*, user) -> dict[str, int]:
    """How many of the students a person may see fall in each risk band of their latest prediction:
    {"high": n, "medium": n, "low": n, "none": n} ("none": never predicted)."""
    rows = (
        _with_latest_prediction(student_list_for_user(user=user))
        .order_by()
        .values("latest_risk")
        .annotate(count=Count("pk"))
    )
    counts = dict.fromkeys(RISK_BANDS, 0)
    for row in rows:
        counts[row["latest_risk"] or NOT_PREDICTED] += row["count"]
    return {str(band): count for band, count in counts.items()}


def quick_prediction_list_for_user(*, user, limit: int = 5) -> QuerySet[Prediction]:
    """A person's own latest predictions made with the quick prediction form (no student), newest first. Not
    the rows of a class upload (the batch pages show them) nor predictions asked through the API."""
    predictions = Prediction.objects.filter(requested_by=user, student__isnull=True, source=Prediction.Source.WEB)
    return predictions.select_related("model_version")[:limit]


def quick_prediction_get_for_user(*, user, pk) -> Prediction | None:
    """One of a person's own quick predictions (the form's: requested by them, without a student); None for anyone
    else's, one made for a student, a batch row, or an unknown id. Only the requester may reuse its record."""
    quick = Prediction.objects.filter(requested_by=user, student__isnull=True, source=Prediction.Source.WEB)
    return quick.filter(pk=pk).first()


def student_record_get(*, student: Student) -> dict:
    """A student's attributes as a record for record_clean / prediction_create (G1/G2 may be None)."""
    return {name: getattr(student, name) for name in FEATURES}


def intervention_list_for_student(*, student: Student) -> QuerySet[Intervention]:
    """Every intervention recorded for a student, the latest date first; seeing the student is what counts."""
    return Intervention.objects.filter(student=student).select_related("recorded_by")
