"""Screens: the main screen, help, OOM report, kernel panic, gauge explanations."""
