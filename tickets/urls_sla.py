"""SLA pages of the console, included by ``tickets.urls`` (namespace ``console``)."""

from django.urls import path

from tickets import views_sla

urlpatterns = [
    path("tickets/<int:number>/sla/", views_sla.sla_panel, name="sla-panel"),
    path("sla/policies/", views_sla.policies, name="sla-policies"),
]
