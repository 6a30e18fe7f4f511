"""Telegram (Bot API): `channel.TelegramChannel`; the local fake is `slotwise.messaging.fakes.telegram`."""
