"""The public survey pages, mounted at ``/survey/`` by the composition root."""

from django.urls import path

from tickets import views_surveys

app_name = "surveys"

urlpatterns = [
    path("<str:token>/", views_surveys.survey_page, name="page"),
]
