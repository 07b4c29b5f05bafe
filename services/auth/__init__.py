"""Accounts, API keys, device login and account providers; authenticates keys for the other services."""
