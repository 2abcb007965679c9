"""Checks on template.yaml, samconfig.toml, events/ and the SAM toolchain."""
