"""OAuth2 clients: create (the secret is returned once, only its hash is stored) and revoke (issue 18)."""
from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import AccessToken, Application

from predictions.access.credentials import credential_problems
from predictions.models import OAuthClient
from studentperf.errors import ApplicationError


def oauth_client_create(
    *, name: str, scopes: list[str], expiry_date: datetime | None = None
) -> tuple[OAuthClient, str]:
    """A new confidential client allowed the client-credentials grant with these scopes, expiring at `expiry_date`
    (never when None).

    Returns the row and the client secret, which is stored only hashed (DOT's default): show it once. Raises
    ApplicationError naming `name`, `scopes` or `expiry_date`.
    """
    name = name.strip()
    problems = credential_problems(
        kind="client", name=name, name_max=Application._meta.get_field("name").max_length, scopes=scopes,
        allowed=OAuthClient.SCOPES,
    )
    if expiry_date is not None and expiry_date <= timezone.now():
        problems["expiry_date"] = ["Must be in the future."]
    if problems:
        raise ApplicationError("The OAuth2 client cannot be created.", fields=problems)
    secret = generate_client_secret()
    with transaction.atomic():
        application = Application.objects.create(
            name=name,
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
            client_secret=secret,  # hashed on save (hash_client_secret defaults to True)
            hash_client_secret=True,
        )
        client = OAuthClient.objects.create(
            application=application,
            scopes=[scope for scope in OAuthClient.SCOPES if scope in scopes],  # canonical order, no duplicates
            expiry_date=expiry_date,
        )
    return client, secret


def oauth_client_revoke_many(*, clients: QuerySet[OAuthClient]) -> int:
    """Revoke every client of `clients` not yet revoked and delete their tokens, so that none works from now on;
    the number revoked. A revoked client gets no new token (invalid_client)."""
    with transaction.atomic():
        applications = list(clients.values_list("application_id", flat=True))
        AccessToken.objects.filter(application_id__in=applications).delete()
        return clients.filter(revoked=False).update(revoked=True)
