from django.urls import path

from predictions import views
from predictions.batches import views as batch_views
from predictions.monitoring import views as monitoring_views
from predictions.whatif import views as what_if_views

app_name = "predictions"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("students/new/", views.student_new, name="student-new"),
    path("students/<int:pk>/", views.student_detail, name="student-detail"),
    path("students/<int:pk>/edit/", views.student_edit, name="student-edit"),
    path("students/<int:pk>/predict/", views.student_predict, name="student-predict"),
    path("students/<int:pk>/what-if/", what_if_views.student_what_if_page, name="student-what-if"),
    path("students/<int:pk>/interventions/", views.student_intervention, name="student-intervention"),
    path("students/<int:pk>/outcome/", views.student_outcome, name="student-outcome"),
    path("predictions/new/", views.prediction_new, name="new"),
    path("predictions/<uuid:pk>/", views.prediction_detail, name="detail"),
    path("predictions/<uuid:pk>/student/", views.student_new_from_prediction, name="student-new-from-prediction"),
    path("batches/", batch_views.batch_list, name="batch-list"),
    path("batches/new/", batch_views.batch_new, name="batch-new"),
    path("batches/template.csv", batch_views.batch_template, name="batch-template"),
    path("batches/<uuid:pk>/", batch_views.batch_detail, name="batch-detail"),
    path("batches/<uuid:pk>/status.json", batch_views.batch_status, name="batch-status"),
    path("batches/<uuid:pk>/results.csv", batch_views.batch_results, name="batch-results"),
    path("monitoring/", monitoring_views.monitoring, name="monitoring"),
    path("monitoring/accuracy/", monitoring_views.monitoring_accuracy, name="monitoring-accuracy"),
    path("monitoring/accuracy/run/", monitoring_views.monitoring_accuracy_run, name="monitoring-accuracy-run"),
    path("monitoring/alerts/<int:pk>/acknowledge/", monitoring_views.monitoring_alert_acknowledge,
         name="monitoring-alert-acknowledge"),
]
