"""The agent console, mounted at ``/console/`` by the composition root."""

from django.urls import include, path

from tickets import views, views_routing

app_name = "console"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("tickets/<int:number>/", views.ticket_page, name="ticket"),
    path("tickets/<int:number>/messages/", views.post_message, name="post-message"),
    path("tickets/<int:number>/status/", views.change_status, name="change-status"),
    path("tickets/<int:number>/properties/", views.update_properties, name="update-properties"),
    path("tickets/<int:number>/assignment/", views.assign, name="assign"),
    path("tickets/<int:number>/transfer/", views_routing.transfer, name="transfer"),
    path("tickets/<int:number>/routing/", views_routing.panel, name="routing-panel"),
    path("attachments/<int:attachment_id>/", views.attachment, name="attachment"),
    path("", include("tickets.urls_automation")),
    path("", include("tickets.urls_sla")),
]
