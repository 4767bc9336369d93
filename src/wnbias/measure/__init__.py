"""Measures: pure functions of weights, data and trajectories."""
