"""What API keys and OAuth2 clients, the installation's two kinds of credential, check alike when made."""
from __future__ import annotations


def credential_problems(*, kind: str, name: str, name_max: int, scopes: list[str], allowed: tuple[str, ...]) -> dict:
    """The refused fields of a new credential named `name` (stripped) with `scopes` among `allowed`, each with its
    reasons: {} when both are fine. `kind` ("key", "client") is how the sentences call it."""
    problems: dict[str, list[str]] = {}
    if not name:
        problems["name"] = [f"Give the {kind} a name."]
    elif len(name) > name_max:
        problems["name"] = [f"At most {name_max} characters."]
    unknown = [scope for scope in scopes if scope not in allowed]
    if unknown:
        problems["scopes"] = [f"Unknown scope(s) {', '.join(unknown)}; choose among {', '.join(allowed)}."]
    elif not scopes:
        problems["scopes"] = [f"Give at least one scope among {', '.join(allowed)}."]
    return problems
