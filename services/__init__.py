"""Cerver's gRPC services, one folder each."""
