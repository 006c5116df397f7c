"""The public survey pages, mounted at ``/survey/`` by the composition root."""

from django.urls import path

from tickets.surveys import views

app_name = "surveys"

urlpatterns = [
    path("<str:token>/", views.survey_page, name="page"),
]
