"""Metrics: each scores samples and imports no trainer."""
