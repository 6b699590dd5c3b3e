from django.urls import path

from . import views

urlpatterns = [
    path("models", views.ModelVersionListApi.as_view(), name="api-models"),
    path("models/active", views.ActiveModelApi.as_view(), name="api-models-active"),
]
