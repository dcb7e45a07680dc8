#!/usr/bin/env bash
# Runs each argument (a shell command: one lane of the suite) side by side, then prints each
# lane's output whole, in order, and fails if any lane failed. A pytest process is held to one
# core by the GIL and spends much of a test waiting on the broker: side by side, the lanes use
# the box's cores where one pytest left them half idle (README, "Tests").
set -uo pipefail
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
pids=()
n=0
for command in "$@"; do
  n=$((n + 1))
  bash -c "$command" >"$dir/$n.log" 2>&1 &
  pids+=("$!")
  echo "lane $n: $command"
done
failed=0
n=0
for pid in "${pids[@]}"; do
  n=$((n + 1))
  if wait "$pid"; then status=0; else status=$?; failed=1; fi
  echo
  echo "=== lane $n (exit $status) ==="
  cat "$dir/$n.log"
done
exit $failed
