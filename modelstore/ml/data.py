"""Loading the UCI Student Performance CSV and checking it against the attribute schema."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from modelstore.schema import FEATURES, TARGET, GRADE_MAX, GRADE_MIN
from studentperf.errors import ApplicationError

DEFAULT_DATA_PATH = Path(__file__).resolve().parents[2] / "data" / "student-mat.csv"
COLUMNS: tuple[str, ...] = tuple(FEATURES) + (TARGET,)


def load_dataset(path: str | Path | None = None) -> pd.DataFrame:
    """The `;`-separated UCI CSV as a DataFrame: categories as str, numbers (G1-G3 included) as int.

    Raises ApplicationError naming every column that is missing, unknown or holds a value outside the schema.
    """
    path = Path(path) if path is not None else DEFAULT_DATA_PATH
    try:
        # Everything is read as text first so that a stray "abc" in a number column is reported, not coerced.
        raw = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ApplicationError(f"Cannot read the data file {path.name}: {exc}") from exc
    problems = _column_problems(raw)
    if problems:
        raise ApplicationError(f"The data file {path.name} does not match the attribute schema.", fields=problems)
    return _typed(raw)


def _column_problems(raw: pd.DataFrame) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    for name in COLUMNS:
        if name not in raw.columns:
            problems[name] = ["missing column"]
    for name in raw.columns:
        if name not in COLUMNS:
            problems[name] = ["unknown column"]
        else:
            bad = sorted(set(raw[name]) - {str(value) for value in _allowed(name)})
            if bad:
                problems[name] = [f"values outside the schema: {', '.join(map(repr, bad[:5]))}"]
    if raw.empty and not problems:
        problems["__all__"] = ["no rows"]
    return problems


def _allowed(name: str) -> tuple:
    if name == TARGET:
        return tuple(range(GRADE_MIN, GRADE_MAX + 1))
    return FEATURES[name].allowed


def _typed(raw: pd.DataFrame) -> pd.DataFrame:
    df = raw.loc[:, list(COLUMNS)].copy()
    for name in COLUMNS:
        if name == TARGET or FEATURES[name].kind == "int":
            df[name] = df[name].astype("int64")
        else:
            df[name] = df[name].astype(object)
    return df


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()
