"""Building predictions with known final grades through the real services, for the accuracy check's tests."""
from __future__ import annotations

import hashlib

import pandas as pd

from modelstore.schema import FEATURES
from predictions.models import BatchJob, BatchRow, Prediction
from predictions.services import outcome_record, prediction_create_many, student_create


def dataset_records(dataset: pd.DataFrame, *, n: int, seed: int = 0) -> tuple[list[dict], list[int]]:
    """`n` rows of the training data drawn at random: the records (without G3) and their G3."""
    sample = dataset.sample(n=n, random_state=seed, replace=n > len(dataset))
    records = [{name: _plain(row[name]) for name in FEATURES} for _, row in sample.iterrows()]
    return records, [int(grade) for grade in sample["G3"]]


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def students_predict(records: list[dict], *, teacher, prefix: str = "S") -> list[Prediction]:
    """A stored student per record (owned by `teacher`), each predicted once: the predictions, in order."""
    students = [
        student_create(data={"external_id": f"{prefix}{index}", **record}, teacher=teacher)
        for index, record in enumerate(records)
    ]
    return prediction_create_many(records=records, students=students, source=Prediction.Source.WEB, user=teacher)


def outcomes_record(predictions: list[Prediction], grades: list[int], *, user) -> None:
    for prediction, grade in zip(predictions, grades, strict=True):
        outcome_record(student=prediction.student, final_grade=grade, user=user)


def batch_predict(records: list[dict], grades: list[int | None], *, rejected: int = 0) -> list[Prediction]:
    """A done batch job whose rows carry `grades` as G3 (None: no G3), plus `rejected` rows refused."""
    content = b"synthetic batch"
    job = BatchJob.objects.create(
        source=Prediction.Source.API, file_name="batch.csv", input_data=content,
        input_sha256=hashlib.sha256(content).hexdigest(), rows_total=len(records) + rejected,
        rows_done=len(records) + rejected, rows_failed=rejected, chunk_size=500, status=BatchJob.Status.DONE,
    )
    predictions = prediction_create_many(records=records, source=Prediction.Source.BATCH)
    BatchRow.objects.bulk_create(
        [BatchRow(job=job, row_number=index + 1, prediction=prediction, final_grade=grade)
         for index, (prediction, grade) in enumerate(zip(predictions, grades, strict=True))]
        + [BatchRow(job=job, row_number=len(records) + index + 1, errors={"age": ["must be between 15 and 22"]})
           for index in range(rejected)]
    )
    return predictions


def graded_students(dataset: pd.DataFrame, *, teacher, n: int, grades_for, seed: int = 0, prefix: str = "S"):
    """`n` students drawn from the training data, predicted, then given the final grades `grades_for(predictions)`
    returns (e.g. opposite_grades): their predictions."""
    records, _ = dataset_records(dataset, n=n, seed=seed)
    predictions = students_predict(records, teacher=teacher, prefix=prefix)
    outcomes_record(predictions, grades_for(predictions), user=teacher)
    return predictions


def opposite_grades(predictions: list[Prediction]) -> list[int]:
    """A final grade on the other side of the pass mark from each prediction's call: accuracy 0."""
    return [15 if prediction.pass_probability < 0.5 else 5 for prediction in predictions]


def agreeing_grades(predictions: list[Prediction]) -> list[int]:
    """A final grade on the side of the pass mark each prediction called: accuracy 1."""
    return [15 if prediction.pass_probability >= 0.5 else 5 for prediction in predictions]


def check_of(checks, version):
    [check] = [check for check in checks if check.model_version_id == version.pk]
    return check



def unusual_students(odd_record: dict, grades: list[int], *, teacher, prefix: str = "U") -> list[Prediction]:
    """A stored student per final grade, each with `odd_record` (a record every version flags unusual) and G2
    spread from 2 to 18 so that the calls differ, predicted, then given that grade: their predictions."""
    step = 16 / max(len(grades) - 1, 1)
    records = [{**odd_record, "G2": round(2 + step * index)} for index in range(len(grades))]
    predictions = students_predict(records, teacher=teacher, prefix=prefix)
    outcomes_record(predictions, grades, user=teacher)
    return predictions
