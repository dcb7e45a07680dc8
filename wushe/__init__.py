"""Wushe's shared kernel, read by its folders: `contract/` (the events, vocabulary and pure
kernel everything shares, station software included), `runtime/` (what runs a service in
nameko), `ops/` (the `wushe` command and operators' tools) and `demo/` (the Taida world and its
day). Domain rules live in the services."""
