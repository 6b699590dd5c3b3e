"""The one application error type: a message plus the reasons for each bad field."""
from __future__ import annotations


class ApplicationError(Exception):
    """Raised by services for anything a caller can fix or must know about.

    `kind` is a short machine word ("invalid", "not_found", "conflict", "unavailable", ...);
    `fields` maps a field name to the list of reasons it was refused.
    """

    def __init__(self, message: str, *, kind: str = "invalid", fields: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.fields = {name: list(reasons) for name, reasons in (fields or {}).items()}

    def as_dict(self) -> dict:
        return {"error": self.kind, "message": self.message, "fields": self.fields}

    def __str__(self) -> str:
        if not self.fields:
            return self.message
        details = "; ".join(f"{name}: {', '.join(reasons)}" for name, reasons in self.fields.items())
        return f"{self.message} ({details})"
