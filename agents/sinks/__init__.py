"""Sinks that deliver alerts and show the live feed."""
