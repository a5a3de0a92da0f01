"""The alert stage."""
