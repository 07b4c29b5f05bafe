"""WebSocket endpoint for private machines; forwards sandbox calls to them."""
