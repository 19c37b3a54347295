"""The main screen's widgets (nouns, one per pane or line): the footer that keeps help and quit
in view (key_footer.py) and the goal line under the header (goal_line.py) among them."""
