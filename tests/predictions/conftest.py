from __future__ import annotations

import pytest

# The first student of data/student-mat.csv, without the final grade G3.
FIRST_STUDENT = {
    "school": "GP", "sex": "F", "age": 18, "address": "U", "famsize": "GT3", "Pstatus": "A", "Medu": 4,
    "Fedu": 4, "Mjob": "at_home", "Fjob": "teacher", "reason": "course", "guardian": "mother",
    "traveltime": 2, "studytime": 2, "failures": 0, "schoolsup": "yes", "famsup": "no", "paid": "no",
    "activities": "no", "nursery": "yes", "higher": "yes", "internet": "no", "romantic": "no", "famrel": 4,
    "freetime": 3, "goout": 4, "Dalc": 1, "Walc": 1, "health": 3, "absences": 6, "G1": 5, "G2": 6,
}


@pytest.fixture
def record() -> dict:
    """A valid record with both period grades (setup A); a fresh copy for each test."""
    return dict(FIRST_STUDENT)
