"""Dev-only tooling: the local Redshift Data API on PostgreSQL and the demo runner (never deployed)."""
