"""The alert rule language: YAML rules of conditions on tagged articles, used by the alert and entities stages."""
