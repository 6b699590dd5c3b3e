"""The data endpoints under /api/v1/ (mounted by studentperf.api.urls)."""
from django.urls import path

from . import batches, views
from .monitoring import AccuracyMonitoringApi

urlpatterns = [
    path("predict", views.PredictApi.as_view(), name="api-predict"),
    path("students", views.StudentListApi.as_view(), name="api-students"),
    path("students/<int:pk>", views.StudentDetailApi.as_view(), name="api-student"),
    path("students/<int:pk>/predictions", views.StudentPredictionsApi.as_view(), name="api-student-predictions"),
    path("students/<int:pk>/predict", views.StudentPredictApi.as_view(), name="api-student-predict"),
    path("outcomes", views.OutcomeListApi.as_view(), name="api-outcomes"),
    path("batches", batches.BatchListApi.as_view(), name="api-batches"),
    path("batches/<uuid:pk>", batches.BatchDetailApi.as_view(), name="api-batch"),
    path("batches/<uuid:pk>/results", batches.BatchResultsApi.as_view(), name="api-batch-results"),
    path("monitoring/accuracy", AccuracyMonitoringApi.as_view(), name="api-monitoring-accuracy"),
]
