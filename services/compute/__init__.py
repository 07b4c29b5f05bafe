"""The compute registry and the sandbox contract; one adapter per provider."""
