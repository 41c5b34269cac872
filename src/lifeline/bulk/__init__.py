"""Bulk data in and out of the store: NDJSON and Bundle import, NDJSON export (HTTP-free)."""
