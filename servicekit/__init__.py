"""What every Cerver service is built from: configuration, storage, telemetry,
authentication and the gRPC server bootstrap. Nothing service-specific."""
