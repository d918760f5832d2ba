"""channels/webchat."""
