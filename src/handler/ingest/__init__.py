"""SQS batch -> validated rows -> multi-row INSERTs through the Redshift Data API."""
