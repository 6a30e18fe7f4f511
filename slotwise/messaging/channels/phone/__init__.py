"""Phone calls on the timeline: from Twilio Voice status callbacks, and logged by hand."""
