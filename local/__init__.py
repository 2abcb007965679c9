"""Dev-only tooling: the local Redshift Data API on PostgreSQL, the demo runner (not deployed)."""
