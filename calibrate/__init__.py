"""Measure a Redshift target's latency and commit rate; recommend the template's settings."""
