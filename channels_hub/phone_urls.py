"""The console's hotline pages, mounted at ``/console/calls/`` by the composition root."""

from django.urls import path

from channels_hub import phone_views

app_name = "phone"

urlpatterns = [
    path("callbacks/", phone_views.callback_list, name="callbacks"),
    path("callbacks/<int:task_id>/done/", phone_views.callback_done, name="callback-done"),
    path("<int:call_id>/", phone_views.call_pop, name="call-pop"),
    path("<int:call_id>/notes/", phone_views.call_notes, name="call-notes"),
]
