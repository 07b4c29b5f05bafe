"""The `cerver` command."""
