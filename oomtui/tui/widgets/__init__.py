"""The main screen's widgets (nouns, one per pane)."""
