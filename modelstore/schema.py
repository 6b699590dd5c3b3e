"""The UCI Student Performance attributes (see data/student.txt): names, types, allowed values.

This is the one place that knows the record schema. Validation, the model pipelines, the web form and
the stored feature schema of every model version all read it from here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

YES_NO = ("yes", "no")
JOBS = ("teacher", "health", "services", "at_home", "other")


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str  # "category" or "int"
    label: str
    choices: tuple = ()  # allowed values for categories, and for ordinal ints with named levels
    minimum: int | None = None
    maximum: int | None = None
    choice_labels: dict = field(default_factory=dict)

    @property
    def meaning(self) -> str:
        """What the attribute means, in a sentence for the person filling in a record."""
        return MEANINGS.get(self.name, "")

    @property
    def actionable(self) -> bool:
        """Whether the student or their family can change it (ACTIONABLE); the other attributes are background."""
        return self.name in ACTIONABLE

    @property
    def may_be_unknown(self) -> bool:
        """Whether a record may leave it unknown (MAY_BE_UNKNOWN): the model then takes its typical value."""
        return self.name in MAY_BE_UNKNOWN

    @property
    def words(self) -> str:
        """The attribute as a sentence names it: "mother's education" (its label, lower case)."""
        return self.label[:1].lower() + self.label[1:]

    def value_words(self, value) -> str:
        """A value in words, from data/student.txt's meanings: 2 -> "5th to 9th grade" (Medu), "at_home" ->
        "at home", 9 -> "9" (G1), None -> "not known yet"."""
        if value is None:
            return NOT_KNOWN
        key = _whole(value) if self.kind == "int" else str(value)
        return self.choice_labels.get(key, str(key).replace("_", " "))

    @property
    def allowed(self) -> tuple:
        if self.kind == "category":
            return self.choices
        return tuple(range(self.minimum, self.maximum + 1))

    def as_dict(self) -> dict:
        data = {
            "name": self.name, "type": self.kind, "label": self.label, "actionable": self.actionable,
            "may_be_unknown": self.may_be_unknown,
        }
        if self.kind == "category":
            data["allowed"] = list(self.choices)
        else:
            data["min"], data["max"] = self.minimum, self.maximum
        return data


def _whole(value):
    """An int attribute's value as the int its levels are keyed by (2.0 or "2" -> 2); anything else unchanged."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return int(number) if number.is_integer() else value


def _cat(name, label, choices, labels=None):
    return Feature(name, "category", label, tuple(choices), choice_labels=labels or {})


def _int(name, label, minimum, maximum, labels=None):
    return Feature(name, "int", label, minimum=minimum, maximum=maximum, choice_labels=labels or {})


EDU = {0: "none", 1: "primary (4th grade)", 2: "5th to 9th grade", 3: "secondary", 4: "higher"}
LIKERT = {1: "very low", 2: "low", 3: "medium", 4: "high", 5: "very high"}

ATTRIBUTES: tuple[Feature, ...] = (
    _cat("school", "School", ("GP", "MS"), {"GP": "Gabriel Pereira", "MS": "Mousinho da Silveira"}),
    _cat("sex", "Sex", ("F", "M"), {"F": "female", "M": "male"}),
    _int("age", "Age", 15, 22),
    _cat("address", "Home address", ("U", "R"), {"U": "urban", "R": "rural"}),
    _cat("famsize", "Family size", ("LE3", "GT3"), {"LE3": "3 or fewer", "GT3": "more than 3"}),
    _cat("Pstatus", "Parents' cohabitation", ("T", "A"), {"T": "living together", "A": "apart"}),
    _int("Medu", "Mother's education", 0, 4, EDU),
    _int("Fedu", "Father's education", 0, 4, EDU),
    _cat("Mjob", "Mother's job", JOBS),
    _cat("Fjob", "Father's job", JOBS),
    _cat("reason", "Reason to choose this school", ("home", "reputation", "course", "other")),
    _cat("guardian", "Guardian", ("mother", "father", "other")),
    _int("traveltime", "Home to school travel time", 1, 4,
         {1: "< 15 min", 2: "15 to 30 min", 3: "30 min to 1 hour", 4: "> 1 hour"}),
    _int("studytime", "Weekly study time", 1, 4,
         {1: "< 2 hours", 2: "2 to 5 hours", 3: "5 to 10 hours", 4: "> 10 hours"}),
    # student.txt: "n if 1<=n<3, else 4"; the data itself holds 0-3, so 0-4 is accepted.
    _int("failures", "Past class failures", 0, 4),
    _cat("schoolsup", "Extra educational support", YES_NO),
    _cat("famsup", "Family educational support", YES_NO),
    _cat("paid", "Extra paid classes", YES_NO),
    _cat("activities", "Extra-curricular activities", YES_NO),
    _cat("nursery", "Attended nursery school", YES_NO),
    _cat("higher", "Wants higher education", YES_NO),
    _cat("internet", "Internet access at home", YES_NO),
    _cat("romantic", "In a romantic relationship", YES_NO),
    _int("famrel", "Quality of family relationships", 1, 5,
         {1: "very bad", 2: "bad", 3: "fair", 4: "good", 5: "excellent"}),
    _int("freetime", "Free time after school", 1, 5, LIKERT),
    _int("goout", "Going out with friends", 1, 5, LIKERT),
    _int("Dalc", "Workday alcohol consumption", 1, 5, LIKERT),
    _int("Walc", "Weekend alcohol consumption", 1, 5, LIKERT),
    _int("health", "Current health status", 1, 5,
         {1: "very bad", 2: "bad", 3: "fair", 4: "good", 5: "very good"}),
    _int("absences", "School absences", 0, 93),
)
PERIOD_GRADES: tuple[Feature, ...] = (
    _int("G1", "First period grade", 0, 20),
    _int("G2", "Second period grade", 0, 20),
)
# What each attribute means (data/student.txt), in words for the forms.
MEANINGS = {
    "school": "The student's school.",
    "sex": "The student's sex.",
    "age": "The student's age in years.",
    "address": "Whether the student's home is in a town or in the countryside.",
    "famsize": "How many people live in the student's family.",
    "Pstatus": "Whether the student's parents live together.",
    "Medu": "The highest education the student's mother completed.",
    "Fedu": "The highest education the student's father completed.",
    "Mjob": "The mother's job: teacher, health care, civil services (e.g. administrative or police), at home or other.",
    "Fjob": "The father's job: teacher, health care, civil services (e.g. administrative or police), at home or other.",
    "reason": "Why this school was chosen: close to home, its reputation, a course preference or other.",
    "guardian": "Who is the student's guardian.",
    "traveltime": "How long the trip from home to school takes.",
    "studytime": "How much the student studies in a week, outside lessons.",
    "failures": "How many classes the student failed before (3 or more: enter 4).",
    "schoolsup": "Whether the student gets extra educational support from the school.",
    "famsup": "Whether the student's family supports their studies.",
    "paid": "Whether the student takes extra paid classes in mathematics.",
    "activities": "Whether the student takes part in extra-curricular activities.",
    "nursery": "Whether the student attended nursery school.",
    "higher": "Whether the student wants to go on to higher education.",
    "internet": "Whether the student has Internet access at home.",
    "romantic": "Whether the student is in a romantic relationship.",
    "famrel": "How good the relationships in the student's family are.",
    "freetime": "How much free time the student has after school.",
    "goout": "How often the student goes out with friends.",
    "Dalc": "How much alcohol the student drinks on workdays.",
    "Walc": "How much alcohol the student drinks at the weekend.",
    "health": "The student's current health.",
    "absences": "How many school days the student missed.",
    "G1": "The mathematics grade of the first period, out of 20.",
    "G2": "The mathematics grade of the second period, out of 20.",
}
# What a student or their family can change (issue 17): the pages mark these factors "can change", the API
# `actionable`; every other attribute is background (who the student is, their family, their past).
ACTIONABLE: tuple[str, ...] = (
    "studytime", "absences", "goout", "freetime", "Dalc", "Walc", "activities", "paid", "schoolsup", "famsup",
    "internet", "higher",
)
# What a teacher may leave unknown (issue 17): a student's private life, health and family relations, which a
# school often does not know and should not have to guess. A record gives None (the form's "Unknown", JSON
# null, an empty CSV cell); the model takes the attribute's typical training value in its place
# (AttributeReference.filled), so an unknown attribute has no effect on the prediction and is no reason for
# it, nor for calling the record unusual. The accuracy with all of them unknown is part of every evaluation.
MAY_BE_UNKNOWN: tuple[str, ...] = (
    "Pstatus", "romantic", "famrel", "freetime", "goout", "Dalc", "Walc", "health",
)
NOT_KNOWN = "not known yet"
TARGET = "G3"
PASS_MARK = 10  # a pass is G3 >= 10
# G3 is an integer, so "G3 >= 10" is "a continuous grade above 9.5".
PASS_THRESHOLD = PASS_MARK - 0.5
GRADE_MIN, GRADE_MAX = 0, 20

FEATURES: dict[str, Feature] = {f.name: f for f in ATTRIBUTES + PERIOD_GRADES}
ATTRIBUTE_NAMES: tuple[str, ...] = tuple(f.name for f in ATTRIBUTES)
CATEGORICAL: tuple[str, ...] = tuple(f.name for f in ATTRIBUTES if f.kind == "category")
NUMERIC_ATTRIBUTES: tuple[str, ...] = tuple(f.name for f in ATTRIBUTES if f.kind == "int")

SETUPS = ("A", "B", "C")
SETUP_DESCRIPTIONS = {
    "A": "G1 and G2 known (end of the second period)",
    "B": "G1 known (end of the first period)",
    "C": "no period grade yet (start of the year)",
}
SETUP_FEATURES: dict[str, tuple[str, ...]] = {
    "A": ATTRIBUTE_NAMES + ("G1", "G2"),
    "B": ATTRIBUTE_NAMES + ("G1",),
    "C": ATTRIBUTE_NAMES,
}


def setup_for(record: dict) -> str:
    """The paper's setup a (validated) record is predicted with: A with G1 and G2, B with G1 only, else C."""
    has_g1 = record.get("G1") is not None
    has_g2 = record.get("G2") is not None
    if has_g1 and has_g2:
        return "A"
    if has_g1:
        return "B"
    return "C"


def unknown_attributes(record: dict) -> list[str]:
    """The attributes of a record the model does without, in schema order: those left unknown (None), and a
    category value the model was not trained on (a school outside the UCI data)."""
    unknown = []
    for feature in ATTRIBUTES:
        value = record.get(feature.name)
        if value is None or (feature.kind == "category" and value not in feature.choices):
            unknown.append(feature.name)
    return unknown


def feature_label(name: str) -> str:
    """An attribute in plain words: "Medu" -> "mother's education". A name outside the schema stays as it is."""
    feature = FEATURES.get(name)
    return feature.words if feature else name


def feature_value_text(name: str, value) -> str:
    """An attribute and its value in plain words, the one wording of a factor on the pages, in the API and in
    the results files: ("Medu", 2) -> "mother's education: 5th to 9th grade", ("G1", 9) -> "first period
    grade: 9", ("internet", "no") -> "internet access at home: no"."""
    feature = FEATURES.get(name)
    if feature is None:
        return f"{name}: {NOT_KNOWN if value is None else value}"
    return f"{feature.words}: {feature.value_words(value)}"


def feature_schema(setup: str) -> list[dict]:
    """The JSON-able feature schema of one setup, as stored with every model version."""
    return [FEATURES[name].as_dict() for name in SETUP_FEATURES[setup]]
