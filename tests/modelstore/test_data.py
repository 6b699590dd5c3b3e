import hashlib

import pandas as pd
import pytest

from modelstore.ml.data import DEFAULT_DATA_PATH, file_sha256, load_dataset
from modelstore.schema import CATEGORICAL, FEATURES, TARGET
from studentperf.errors import ApplicationError

UCI_SHA256 = "e47f9ee225e1ee6e69b7564e6dac7123e80b8486677fe111f351964cef5dec80"


def _write(tmp_path, frame: pd.DataFrame):
    path = tmp_path / "students.csv"
    frame.to_csv(path, sep=";", index=False)
    return path


def test_load_dataset_reads_the_uci_file_with_ints_as_ints(dataset):
    assert dataset.shape == (395, 33)
    assert list(dataset.columns) == list(FEATURES) + [TARGET]
    for name in ("age", "absences", "G1", "G2", TARGET):
        assert dataset[name].dtype.kind == "i", name
    assert set(dataset["school"]) == {"GP", "MS"}
    assert all(isinstance(value, str) for name in CATEGORICAL for value in dataset[name])
    # The quoted G1/G2 of the CSV are numbers, not strings.
    assert dataset.loc[0, "G1"] == 5 and dataset.loc[0, TARGET] == 6


def test_load_dataset_names_a_missing_column(tmp_path, dataset):
    with pytest.raises(ApplicationError) as caught:
        load_dataset(_write(tmp_path, dataset.drop(columns=["absences"])))
    assert caught.value.fields == {"absences": ["missing column"]}


def test_load_dataset_names_an_unknown_column(tmp_path, dataset):
    with pytest.raises(ApplicationError) as caught:
        load_dataset(_write(tmp_path, dataset.assign(shoe_size=42)))
    assert list(caught.value.fields) == ["shoe_size"]


@pytest.mark.parametrize(
    ("column", "value"), [("school", "XX"), ("age", 30), ("G2", 21), (TARGET, -1), ("failures", "many")]
)
def test_load_dataset_refuses_values_outside_the_schema(tmp_path, dataset, column, value):
    broken = dataset.astype({column: object})
    broken.loc[3, column] = value
    with pytest.raises(ApplicationError) as caught:
        load_dataset(_write(tmp_path, broken))
    assert list(caught.value.fields) == [column]
    assert repr(str(value)) in caught.value.fields[column][0]


def test_file_sha256_is_the_published_digest_of_the_data():
    assert file_sha256(DEFAULT_DATA_PATH) == UCI_SHA256
    assert file_sha256(DEFAULT_DATA_PATH) == hashlib.sha256(DEFAULT_DATA_PATH.read_bytes()).hexdigest()
