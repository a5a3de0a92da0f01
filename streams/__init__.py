"""Wirewatch contracts: settings, records, topics, serialisation and metrics shared by every stage."""
