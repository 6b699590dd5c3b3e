"""/api/v1/: the stable contract (docs/api.md). A /api/v2/ would get its own module beside this one."""
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

urlpatterns = [
    path("", include("predictions.api.urls")),
    path("", include("modelstore.api.urls")),
    path("schema", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI under the Content-Security-Policy: its start-up script served as a file (`docs?script`), its
    # styles from a static file (templates/drf_spectacular/swagger_ui_strict.html).
    path(
        "docs",
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", template_name="drf_spectacular/swagger_ui_strict.html"
        ),
        name="api-docs",
    ),
]
