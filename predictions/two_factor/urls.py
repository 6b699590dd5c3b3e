from django.urls import path

from predictions.two_factor import views

app_name = "two_factor"
urlpatterns = [
    path("", views.verify, name="verify"),
    path("setup/", views.setup, name="setup"),
    path("recovery-codes/", views.recovery_codes, name="recovery-codes"),
]
