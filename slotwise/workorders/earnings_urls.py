"""URL patterns of the earnings pages (joined into the "workorders" namespace by urls.py)."""

urlpatterns: list = []
