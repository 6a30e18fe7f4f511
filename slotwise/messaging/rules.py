"""Who may do what in messaging (autodiscovered by `rules`). Lists are scoped by organisation in
the views and selectors; these are the permission names templates and navigation check."""

import rules

from slotwise.org.rules import is_org_admin

# The organisation's channels (which services, their settings, webhooks): org admins only.
rules.add_perm("messaging.manage_channels", is_org_admin)
