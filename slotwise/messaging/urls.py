from django.urls import path

from . import preferences, views

app_name = "messaging"

urlpatterns = [
    path("inbound/<slug:kind>/<str:key>/", views.inbound, name="inbound"),
    path("media/<uuid:public_id>/", views.media, name="media"),
    path("preferences/", preferences.preferences, name="preferences"),
]
