"""Who sends an API request, in the shapes the selectors and the prediction audit log take it.

An installation credential, an API key or an OAuth2 bearer token (request.auth, from
predictions.access.authentication and predictions.access.oauth), or a person signed in with a session. The
two credentials are alike: they belong to the installation (a school information system), not to a teacher,
so the selectors take either as their `api_key` and show it every student; its scopes decide what it may do.
"""
from __future__ import annotations

from predictions.access.authentication import request_api_key
from predictions.access.oauth import ClientToken, request_client_token
from predictions.models import ApiKey
from studentperf.errors import ApplicationError


def request_credential(request) -> ApiKey | ClientToken | None:
    """The API key or OAuth2 token a request was authenticated with; None for a person (or no one)."""
    return request_api_key(request) or request_client_token(request)


def requester(request) -> dict:
    """Who asks, as the selectors take it: {"api_key": key or token} or {"user": user}."""
    credential = request_credential(request)
    return {"api_key": credential} if credential is not None else {"user": request.user}


def requester_person(request):
    """The logged-in person asking; None for an API key or token."""
    return None if request_credential(request) is not None else request.user


def credential_audit(credential: ApiKey | ClientToken | None) -> dict:
    """How the prediction audit log (and a batch job) records a credential: the key's prefix or the client's id
    and name; {} for none."""
    if isinstance(credential, ApiKey):
        return {"api_key_prefix": credential.prefix}
    if isinstance(credential, ClientToken):
        return {"oauth_client_id": credential.client_id, "oauth_client_name": credential.name}
    return {}


def requested_by(request) -> dict:
    """Who asks, as the prediction audit log records it: credential_audit's fields, or {"user": user}."""
    credential = request_credential(request)
    return credential_audit(credential) if credential is not None else {"user": request.user}


def requester_may_read(request) -> bool:
    """Whether the answer may show stored records: a person (their role decided what they reach), or a key or token
    with the "read" scope. A write-only key changes a student but is not shown it (issue 18, attack 8)."""
    credential = request_credential(request)
    return credential is None or credential.has_scope("read")


def requester_read_require(request) -> None:
    """Refuse a key or token without the "read" scope (ApplicationError kind "forbidden", 403) on an endpoint whose
    answer is made from a student's stored record (their prediction, a what-if): the "predict" scope predicts the
    records a caller sends, it does not read stored ones (issue 18, scope of what an endpoint returns)."""
    if not requester_may_read(request):
        raise ApplicationError(
            "This credential lacks the 'read' scope: the answer is made from a student's stored record.",
            kind="forbidden",
        )
