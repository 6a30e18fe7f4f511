"""Hooks other apps register (in AppConfig.ready) to react to messaging events, so messaging
imports none of them: the onboarding bot marks an application "Message not sent" when the
welcome fails (S1.3)."""

#: called with (message) after an outgoing message failed for good (inside the transaction)
message_failed_hooks: list = []

#: called with (conversation, actor) when a person takes a conversation over from the bot
#: (`conversations.conversation_take_over`, inside the transaction): the bot stops its flow.
takeover_hooks: list = []
