"""Viber (REST bot API): `channel.ViberChannel`; the local fake is `slotwise.messaging.fakes.viber`."""
