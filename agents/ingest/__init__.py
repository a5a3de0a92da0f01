"""Ingest: files, folders and feeds into the raw topic."""
