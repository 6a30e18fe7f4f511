"""E-mail: SMTP out, Mailgun inbound webhook and a local SMTP receiver in."""
