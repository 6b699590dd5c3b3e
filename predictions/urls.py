from django.urls import path

from . import views, views_batches, views_monitoring

app_name = "predictions"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("students/new/", views.student_new, name="student-new"),
    path("students/<int:pk>/", views.student_detail, name="student-detail"),
    path("students/<int:pk>/edit/", views.student_edit, name="student-edit"),
    path("students/<int:pk>/predict/", views.student_predict, name="student-predict"),
    path("students/<int:pk>/outcome/", views.student_outcome, name="student-outcome"),
    path("predictions/new/", views.prediction_new, name="new"),
    path("predictions/<uuid:pk>/", views.prediction_detail, name="detail"),
    path("batches/", views_batches.batch_list, name="batch-list"),
    path("batches/new/", views_batches.batch_new, name="batch-new"),
    path("batches/template.csv", views_batches.batch_template, name="batch-template"),
    path("batches/<uuid:pk>/", views_batches.batch_detail, name="batch-detail"),
    path("batches/<uuid:pk>/status.json", views_batches.batch_status, name="batch-status"),
    path("batches/<uuid:pk>/results.csv", views_batches.batch_results, name="batch-results"),
    path("monitoring/", views_monitoring.monitoring, name="monitoring"),
    path("monitoring/accuracy/", views_monitoring.monitoring_accuracy, name="monitoring-accuracy"),
    path("monitoring/accuracy/run/", views_monitoring.monitoring_accuracy_run, name="monitoring-accuracy-run"),
    path("monitoring/alerts/<int:pk>/acknowledge/", views_monitoring.monitoring_alert_acknowledge,
         name="monitoring-alert-acknowledge"),
]
