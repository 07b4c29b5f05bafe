"""Provider catalog, recommendations (filters, scoring, confidence, canary) and stress tests."""
