"""Console pages of automation rules and macros (included by ``tickets.urls``)."""

from django.urls import path

from tickets import views_automation as views

urlpatterns = [
    path("automation/", views.rule_list, name="automation-rules"),
    path("automation/new/", views.rule_create, name="automation-rule-create"),
    path("automation/<int:rule_id>/", views.rule_detail, name="automation-rule"),
    path("automation/<int:rule_id>/edit/", views.rule_edit, name="automation-rule-edit"),
    path("automation/<int:rule_id>/toggle/", views.rule_toggle, name="automation-rule-toggle"),
    path("automation/<int:rule_id>/move/", views.rule_move, name="automation-rule-move"),
    path("automation/<int:rule_id>/delete/", views.rule_delete, name="automation-rule-delete"),
    path("macros/", views.macro_list, name="macros"),
    path("macros/new/", views.macro_create, name="macro-create"),
    path("macros/<int:macro_id>/edit/", views.macro_edit, name="macro-edit"),
    path("macros/<int:macro_id>/delete/", views.macro_delete, name="macro-delete"),
    path("tickets/<int:number>/macros/", views.macro_options, name="macro-options"),
    path("tickets/<int:number>/macro-reply/", views.macro_reply, name="macro-reply"),
]
