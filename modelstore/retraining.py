"""Retraining on a school's recorded outcomes (issue 19): the training table, its measurement, the new version.

The school's rows come from the caller (predictions.retraining reads them: the students with a current
recorded final grade), as a DataFrame of the schema's attributes (None where unknown), G3 and `recorded_at`.
modelstore imports nothing of predictions, so everything here works on that frame.

How a retrained version is measured (docs/model.md, "Retraining"): every school row is predicted once by a
pipeline that did not see it, in the setup it would be served in (A with both period grades, ...): for each
setup, 5-fold cross-validation over the school rows of that setup, each fold's pipeline trained on every other
row of the training table that knows the setup's period grades (the UCI rows when included). The active
version predicts the same rows. Both through `predict_records`, the served path, and scored with
`figures.setup_figures` on all the school rows together.
"""
from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone

from modelstore import services
from modelstore.figures import setup_figures
from modelstore.ml.inference import predict_records
from modelstore.models import ModelVersion
from modelstore.schema import ATTRIBUTE_NAMES, FEATURES, SETUPS, TARGET, setup_for
from modelstore.selectors import model_version_active_find
from modelstore.storage import package_loads, version_artifact_read
from studentperf.errors import ApplicationError

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

logger = logging.getLogger(__name__)

# Below this many school rows the UCI students are added: 5 folds of fewer than 20 students measure little, and
# a forest of 150 trees on fewer than 100 students is mostly noise (the UCI data itself has 395).
MIN_SCHOOL_ROWS = 100
# Below this many, nothing is trained: a retrained version could not be measured on the school's students.
MIN_MEASURED_ROWS = 10
CV_FOLDS = 5
RANDOM_STATE = 0
# The period grades each setup's pipeline needs: a school row trains a setup only when it knows them.
SETUP_GRADES = {"A": ("G1", "G2"), "B": ("G1",), "C": ()}
FIGURES_COMPARED = ("pass_accuracy", "rmse", "interval_coverage", "brier", "mae", "interval_width")
BETTER_RULE = "pass/fail accuracy not lower and RMSE lower than the active version's, on the same school students"


@dataclass
class RetrainResult:
    version: ModelVersion
    school_rows: int
    uci_rows: int
    base_added_because: str = ""  # why the UCI rows were added when not asked for
    figures: dict = field(default_factory=dict)  # {"new": {...}, "active": {...} or None}
    active_version: int | None = None
    better: bool | None = None  # None: no active version to compare with
    action: str = ""  # "challenger", "activated" or "rejected"


def model_version_retrain(
    *, school: pd.DataFrame, include_base_data: bool = False, activate_if_better: bool = False,
    user: AbstractBaseUser | None = None,
) -> RetrainResult:
    """Train the recipe on `school` (plus the UCI data when asked, or when fewer than MIN_SCHOOL_ROWS), measure
    it and the active version on the school rows, register it through validation, record its training data, and
    make it the challenger (or, with `activate_if_better` and BETTER_RULE met, the active version)."""
    school_rows = len(school)
    school_rows_require(count=school_rows)
    base_added_because = ""
    if not include_base_data and school_rows < MIN_SCHOOL_ROWS:
        include_base_data = True
        base_added_because = (
            f"Only {school_rows} students have a recorded final grade; at least {MIN_SCHOOL_ROWS} are needed to "
            "train on the school's students alone, so the UCI students were added."
        )
    # The training libraries (pandas, scikit-learn) are imported by the functions that train: a web process
    # imports this module (the admin's button checks school_rows_require) and stays free of them
    # (docs/performance.md, "Memory").
    from modelstore.ml.data import load_dataset

    uci = load_dataset()
    table = training_table(school=school, base=uci if include_base_data else None, reference=uci)
    active = model_version_active_find()
    measured = _comparison(table=table, school=school, active=active)
    training_data = _training_data(table=table, school=school)
    uci_rows = training_data["sources"]["uci"]
    version = services.model_version_register(
        pipelines=table_train(table),
        name="retrained",
        description=f"Retrained on {school_rows} school students' recorded final grades"
        + (f" and {uci_rows} UCI students." if uci_rows else "."),
        created_by=user,
        metrics={"retraining": measured},
        training_data_sha256=training_data["sha256"],
    )
    version.training_data = training_data
    version.save(update_fields=["training_data"])
    result = RetrainResult(
        version=version, school_rows=school_rows, uci_rows=uci_rows, base_added_because=base_added_because,
        figures=measured["figures"], active_version=measured["active_version"], better=measured["better"],
    )
    _offer(result, activate_if_better=activate_if_better, user=user)
    logger.info("model version retrained", extra={
        "model_version": version.version, "school_rows": school_rows, "uci_rows": uci_rows, "action": result.action,
    })
    return result


def school_rows_require(*, count: int) -> None:
    """ApplicationError naming the number needed when `count` students with a recorded final grade are too few to
    train and measure a version on (checked again before the admin's button queues a run)."""
    if count < MIN_MEASURED_ROWS:
        raise ApplicationError(
            f"Only {count} student(s) have a recorded final grade; at least {MIN_MEASURED_ROWS} are needed "
            "to train and measure a version on the school's students.", kind="conflict",
            fields={"outcomes": [f"{count} recorded, at least {MIN_MEASURED_ROWS} needed"]},
        )


def _comparison(*, table: pd.DataFrame, school: pd.DataFrame, active: ModelVersion | None) -> dict:
    """The new recipe (cross-validated) and the active version on the same school rows: metrics["retraining"]."""
    truth = school[TARGET].to_numpy(dtype=float)
    records = school_records(school)
    figures = {"new": _figures(school_cross_validated(table, records), truth)}
    figures["active"] = _figures(_predicted(version_pipelines(active), records), truth) if active else None
    return {
        "protocol": f"each of the {len(school)} school students predicted, in the setup it is served in, by a "
        f"pipeline trained without it ({CV_FOLDS}-fold cross-validation per setup, seed {RANDOM_STATE}); the "
        "active version on the same students; figures as on the version page (pass accuracy: predicted grade "
        "on the pass side of 9.5)",
        "rows": len(school), "figures": figures,
        "active_version": active.version if active else None,
        # A version trained on these students already measures itself on them in-sample (optimistic).
        "active_trained_on_school": bool(active and (active.training_data or {}).get("sources", {}).get("school")),
        "better": None if active is None else _better(figures["new"], figures["active"]),
        "rule": BETTER_RULE,
    }


def _training_data(*, table: pd.DataFrame, school: pd.DataFrame) -> dict:
    """ModelVersion.training_data of a version trained on `table`."""
    recorded = school["recorded_at"].tolist()
    return {
        "rows": len(table),
        "sources": {"uci": len(table) - len(school), "school": len(school)},
        # Dates in the school's time zone (TIME_ZONE), as the pages show them.
        "outcomes_from": timezone.localdate(min(recorded)).isoformat(),
        "outcomes_to": timezone.localdate(max(recorded)).isoformat(),
        "sha256": hashlib.sha256(training_table_csv(table)).hexdigest(),
        "exported_at": timezone.now().isoformat(),
    }


def _offer(result: RetrainResult, *, activate_if_better: bool, user: AbstractBaseUser | None) -> None:
    """A validated result becomes the challenger, or the active version when asked and better (or none is active)."""
    version = result.version
    if version.status == ModelVersion.Status.REJECTED:
        result.action = "rejected"
    elif activate_if_better and result.better is not False:
        result.version, result.action = services.model_version_activate(version=version, user=user), "activated"
    else:
        result.version, result.action = services.model_version_challenger_set(version=version, user=user), "challenger"


def training_table(*, school: pd.DataFrame, base: pd.DataFrame | None, reference: pd.DataFrame) -> pd.DataFrame:
    """The rows trained on: `base` (UCI) rows then the school rows, columns `source`, the schema's attributes and
    G3. An unknown attribute (None, or a category outside the schema such as another school's code) takes its
    typical value among the table's known values (`reference`'s when none is known), the value the recipe's
    AttributeReference gives an unknown value when predicting; a period grade stays unknown (NaN)."""
    import pandas as pd

    parts = [] if base is None else [base.assign(source="uci")]
    parts.append(school.assign(source="school"))
    table = pd.concat(
        [part[["source", *FEATURES, TARGET]] for part in parts], ignore_index=True
    ).astype({name: object for name in ATTRIBUTE_NAMES})
    for name in ATTRIBUTE_NAMES:
        known = _known(table[name], name)
        typical = _typical(table.loc[known, name], name) if known.any() else _typical(reference[name], name)
        table.loc[~known, name] = typical
        if FEATURES[name].kind == "int":
            table[name] = table[name].astype(np.int64)
    return table.astype({"G1": float, "G2": float, TARGET: np.int64})


def training_table_csv(table: pd.DataFrame) -> bytes:
    """The training table as the UCI files are written (`;`-separated, a header), an unknown period grade
    empty: what training_data["sha256"] is the sha256 of."""
    out = io.StringIO()
    table.astype({"G1": "Int64", "G2": "Int64"}).to_csv(out, sep=";", index=False, lineterminator="\n")
    return out.getvalue().encode()


def table_train(table: pd.DataFrame, *, random_state: int = RANDOM_STATE) -> dict[str, Pipeline]:
    """One pipeline per setup, each on the rows that know its period grades."""
    from modelstore.ml.recipe import train_pipelines

    pipelines = {}
    for setup in SETUPS:
        pipelines |= train_pipelines(_setup_rows(table, setup), setups=(setup,), random_state=random_state)
    return pipelines


def school_records(school: pd.DataFrame) -> list[dict]:
    """The school rows as validated records (None where unknown), as the served path takes them."""
    return [
        {name: _plain(row[name]) for name in FEATURES} for row in school[list(FEATURES)].to_dict("records")
    ]


def school_cross_validated(table: pd.DataFrame, records: list[dict]) -> list[dict]:
    """The served outputs for each school record (the school rows of `table`, in order, as recorded: unknown
    values None, as the active version is given them), each by a pipeline trained without it."""
    from modelstore.ml.recipe import train_pipelines

    school_at = np.flatnonzero(table["source"].to_numpy() == "school")
    setups = np.array([setup_for(record) for record in records])
    outputs: list[dict] = [{} for _ in records]
    for setup in SETUPS:
        measured = np.flatnonzero(setups == setup)
        for test in _folds(len(measured)):
            held_out = school_at[measured[test]]
            pipelines = train_pipelines(
                _setup_rows(table.drop(index=held_out), setup), setups=(setup,), random_state=RANDOM_STATE
            )
            predicted = _predicted(pipelines, [records[i] for i in measured[test]])
            for position, output in zip(measured[test], predicted):
                outputs[position] = output
    return outputs


def version_pipelines(version: ModelVersion) -> dict[str, Pipeline]:
    """A stored version's pipelines (decrypted, sha256 and the allow-list checked)."""
    pipelines, _ = package_loads(version_artifact_read(version).package)
    return pipelines


def _predicted(pipelines: dict[str, Pipeline], records: list[dict]) -> list[dict]:
    return predict_records(pipelines, records, coverage=settings.PREDICTION_INTERVAL_COVERAGE, top_k=0)


def _folds(size: int) -> list[np.ndarray]:
    from sklearn.model_selection import KFold

    if size == 0:
        return []
    if size < 2:
        return [np.arange(size)]
    splits = KFold(min(CV_FOLDS, size), shuffle=True, random_state=RANDOM_STATE).split(np.arange(size))
    return [test for _, test in splits]


def _setup_rows(table: pd.DataFrame, setup: str) -> pd.DataFrame:
    grades = list(SETUP_GRADES[setup])
    rows = table.dropna(subset=grades) if grades else table
    return rows.astype({name: np.int64 for name in grades})


def _figures(outputs: list[dict], truth: np.ndarray) -> dict:
    def column(read):
        return np.array([read(output) for output in outputs], dtype=float)

    measured = setup_figures(
        grade=column(lambda o: o["predicted_grade"]), chance=column(lambda o: o["pass_probability"]),
        low=column(lambda o: o["interval"]["low"]), high=column(lambda o: o["interval"]["high"]), truth=truth,
    )
    return {name: measured[name] for name in FIGURES_COMPARED}


def _better(new: dict, active: dict) -> bool:
    return new["pass_accuracy"] >= active["pass_accuracy"] and new["rmse"] < active["rmse"]


def _known(column: pd.Series, name: str) -> pd.Series:
    feature = FEATURES[name]
    if feature.kind == "category":
        return column.isin(feature.choices)
    return column.notna()


def _typical(column: pd.Series, name: str):
    from modelstore.ml.estimators import typical_value

    # The value estimators.AttributeReference takes for an unknown one, of the column's known values.
    return typical_value(column.astype(np.int64) if FEATURES[name].kind == "int" else column.astype(str))


def _plain(value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value
