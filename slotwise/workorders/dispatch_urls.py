"""URL patterns of the dispatch pages (joined into the "workorders" namespace by urls.py)."""

urlpatterns: list = []
