"""Data sets: the papers' synthetic generators (``synthetic``)."""
