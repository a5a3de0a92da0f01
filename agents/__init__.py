"""Wirewatch stages: clean, dedup, tag, alert, stories and entities, plus ingest and sinks."""
