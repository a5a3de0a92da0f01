"""The stories stage: per-story state from tagged articles, in a Faust table, with a JSON web view."""
