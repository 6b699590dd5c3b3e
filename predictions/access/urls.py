"""The OAuth2 endpoints external systems use (mounted at /oauth/ by studentperf/urls.py): the token endpoint of the
client-credentials grant (its refusals charged to the address's budget, like the API's) and token revocation
(RFC 7009). DOT's other views (authorization and consent pages,
application management, device flow, introspection) are not mounted: clients are managed in the admin."""
from django.urls import path
from oauth2_provider import views

from predictions.access.oauth import BudgetedTokenView

app_name = "oauth2_provider"

urlpatterns = [
    path("token/", BudgetedTokenView.as_view(), name="token"),
    path("revoke_token/", views.RevokeTokenView.as_view(), name="revoke-token"),
]
