"""The node runtime: the sandboxes of one machine."""
