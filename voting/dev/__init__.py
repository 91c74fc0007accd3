"""Debug-only helpers for the local demo: the mail sink viewer and demo data."""
