"""Dev-only: the local Redshift Data API on PostgreSQL and moto for SQS (never deployed)."""
