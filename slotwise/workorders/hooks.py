"""Hooks registered in `apps.ready`: a payment link paid for an order lands on its timeline;
inbound messages on a channel with work-order intake become draft orders (`intake`)."""

from slotwise.messaging.inbound import register_inbound_hook

from .intake import on_inbound_message

register_inbound_hook(on_inbound_message)
