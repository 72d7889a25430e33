"""bot/integrations."""
