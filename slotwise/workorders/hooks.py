"""Hooks registered in `apps.ready`: a payment link paid for an order lands on its timeline."""
