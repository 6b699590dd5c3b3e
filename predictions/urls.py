from django.urls import path

from . import views

app_name = "predictions"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("predictions/new/", views.prediction_new, name="new"),
    path("predictions/<uuid:pk>/", views.prediction_detail, name="detail"),
]
