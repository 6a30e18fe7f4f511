"""YooKassa (Russian bank acquiring) through the official SDK; see `provider.py`."""
