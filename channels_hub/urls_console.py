from django.urls import path

from channels_hub import template_views, views

app_name = "channels"
urlpatterns = [
    path("", views.connection_list, name="connections"),
    path("new/", views.connection_new, name="connection-new"),
    path("new/<slug:channel>/", views.connection_create, name="connection-create"),
    path("<int:connection_id>/", views.connection_edit, name="connection-edit"),
    path("<int:connection_id>/test/", views.connection_test, name="connection-test"),
    path(
        "<int:connection_id>/templates/sync/",
        template_views.connection_sync_templates,
        name="connection-sync-templates",
    ),
    path(
        "whatsapp/tickets/<int:number>/template-reply/",
        template_views.template_reply,
        name="template-reply",
    ),
]
