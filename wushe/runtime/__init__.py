"""What runs a service in nameko: configuration, the store dependency and compare-and-set, the
outbox, the event entrypoint with its retries and dead letters, RPC, telemetry (logs, metrics)
and the errors that cross RPC."""
