"""Wushe's shared kernel: the event catalog, configuration, and the nameko dependency
providers every service uses (store, outbox, telemetry). Domain rules live in the services."""
