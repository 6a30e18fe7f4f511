from django.tasks import task


@task()
def check_documents() -> dict[str, int]:
    """Periodic (registered in apps.py): applications whose document photos the worker has
    fetched since — ask again for a rejected one, move a complete one to "In review"."""
    from .engine import check_documents_pending

    return check_documents_pending()
