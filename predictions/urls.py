from django.urls import path

from . import views

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
]
