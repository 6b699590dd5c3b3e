"""The data endpoints under /api/v1/ (mounted by studentperf.api.urls)."""
from django.urls import path

from predictions.api import views
from predictions.batches import apis as batch_apis
from predictions.interventions.apis import StudentInterventionsApi
from predictions.monitoring.apis import AccuracyMonitoringApi
from predictions.whatif.apis import StudentWhatIfApi

urlpatterns = [
    path("predict", views.PredictApi.as_view(), name="api-predict"),
    path("students", views.StudentListApi.as_view(), name="api-students"),
    path("students/<int:pk>", views.StudentDetailApi.as_view(), name="api-student"),
    path("students/<int:pk>/predictions", views.StudentPredictionsApi.as_view(), name="api-student-predictions"),
    path("students/<int:pk>/predict", views.StudentPredictApi.as_view(), name="api-student-predict"),
    path("students/<int:pk>/what-if", StudentWhatIfApi.as_view(), name="api-student-what-if"),
    path("students/<int:pk>/interventions", StudentInterventionsApi.as_view(), name="api-student-interventions"),
    path("outcomes", views.OutcomeListApi.as_view(), name="api-outcomes"),
    path("batches", batch_apis.BatchListApi.as_view(), name="api-batches"),
    path("batches/<uuid:pk>", batch_apis.BatchDetailApi.as_view(), name="api-batch"),
    path("batches/<uuid:pk>/results", batch_apis.BatchResultsApi.as_view(), name="api-batch-results"),
    path("monitoring/accuracy", AccuracyMonitoringApi.as_view(), name="api-monitoring-accuracy"),
]
