"""The public booking page: /book/<organisation>/ and /book/<organisation>/<type>/ (S4.6)."""

from django.urls import path

from . import views

app_name = "book"
urlpatterns = [
    path("<slug:org_slug>/", views.public_types, name="types"),
    path("<slug:org_slug>/embed-code/", views.embed_code, name="embed_code"),
    path("<slug:org_slug>/<slug:type_slug>/", views.public_book, name="type"),
    path("<slug:org_slug>/<slug:type_slug>/details/", views.public_details, name="details"),
]
