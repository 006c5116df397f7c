"""The store tablet and the handover to a store, mounted at ``/console/store/``."""

from django.urls import path

from channels_hub import store_views

app_name = "store"

urlpatterns = [
    path("", store_views.store_home, name="home"),
    path("handover/<int:number>/", store_views.hand_over, name="hand-over"),
    path("<slug:code>/", store_views.interactions, name="interactions"),
]
