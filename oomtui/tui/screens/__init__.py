"""Screens: the main screen, help, OOM report, kernel panic, gauge explanations; the start:
the welcome and its tour (welcome.py, tour.py), the picker of levels, scenarios and saves
(picker.py, ctrl+o) and the sandbox's dialogs (sandbox.py); a level's briefing (briefing.py) and
its end (level_end.py)."""
