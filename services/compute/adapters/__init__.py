"""Provider adapters behind the sandbox contract."""
