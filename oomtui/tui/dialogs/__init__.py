"""Modal dialogs that return validated values (or None when cancelled)."""
