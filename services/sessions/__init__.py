"""Session records, transcripts, run/stream orchestration, lifecycle and metrics."""
