"""SMS and MMS through Twilio Programmable Messaging (see channel.py); api.py is shared with the
phone channel and the system-message SMS provider."""
