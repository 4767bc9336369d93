"""Training dynamics: gradient descent (``gd``) and its learning-rate rules (``schedules``)."""
