"""The Textual app (DESIGN.md §5). `make_app` builds it; the engine is imported only once the
first screen is painted, in a worker (sim.py) that answers in the messages of messages.py. A game
level is played in that worker too (level_play.py), its briefing and end in screens/."""
