"""Swish: the merchant Commerce API over mutual TLS (see `provider.py`; fake in `payments.fakes.swish`)."""
