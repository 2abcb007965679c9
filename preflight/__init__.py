"""`make preflight`: prove the function's contract against a real Redshift target before go-live."""
