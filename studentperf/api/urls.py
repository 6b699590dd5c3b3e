"""/api/v1/: the stable contract (docs/api.md). A /api/v2/ would get its own module beside this one."""
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("", include("predictions.api.urls")),
    path("", include("modelstore.api.urls")),
    path("schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
