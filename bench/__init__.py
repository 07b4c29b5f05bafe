"""`make bench`: Cerver's latency and throughput against the real stack."""
