"""Screens: the main screen, help, OOM report, kernel panic, gauge explanations; the start:
the welcome and its tour (welcome.py, tour.py), the picker of levels, scenarios and saves
(picker.py, ctrl+o) and the sandbox's dialogs (sandbox.py)."""
