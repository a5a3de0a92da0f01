"""Wirewatch stages: clean, dedup, tag, alert, plus ingest, sinks and the command line."""
