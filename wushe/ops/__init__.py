"""Operators' tools: the `wushe` command (run, scale, demo, dlq), the process plan and its
supervisor, the local store server, dead letters."""
