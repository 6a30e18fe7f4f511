"""URL patterns of the intake pages (joined into the "workorders" namespace by urls.py)."""

urlpatterns: list = []
