#!/usr/bin/env bash
# Make sure a RabbitMQ broker answers at AMQP_URI; start a local one if it is installed but
# stopped. With --management, also make sure the management API answers (nameko's test
# fixtures create one vhost per test through it).
set -euo pipefail
uri="${AMQP_URI:-pyamqp://guest:guest@127.0.0.1:5672/}"
hostport="${uri#*://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$host" ] && port=5672
want_mgmt=0; [ "${1:-}" = "--management" ] && want_mgmt=1

answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
wait_for() { for _ in $(seq 1 "$3"); do answers "$1" "$2" && return 0; sleep 1; done; return 1; }
local_host() { case "$host" in 127.*|localhost|::1) return 0;; *) return 1;; esac; }

if ! answers "$host" "$port"; then
  if local_host && command -v rabbitmq-server >/dev/null; then
    echo "wushe: no broker at $host:$port — starting the local rabbitmq-server" >&2
    rabbitmq-server -detached >/dev/null 2>&1 || true
    wait_for "$host" "$port" 60 || { echo "wushe: rabbitmq-server did not come up on $port" >&2; exit 1; }
  else
    cat >&2 <<MSG
wushe: no AMQP broker answers at $host:$port.
  Install RabbitMQ (Debian/Ubuntu: sudo apt-get install rabbitmq-server) and run
  'rabbitmq-server -detached', or point AMQP_URI at a broker you have.
MSG
    exit 1
  fi
fi

if [ "$want_mgmt" = 1 ] && ! answers "$host" 15672; then
  if local_host && command -v rabbitmq-plugins >/dev/null; then
    echo "wushe: enabling RabbitMQ's management plugin (the tests create a vhost per test)" >&2
    rabbitmq-plugins enable rabbitmq_management >/dev/null
    wait_for "$host" 15672 30 || { echo "wushe: management API did not answer on 15672" >&2; exit 1; }
  else
    echo "wushe: the tests need RabbitMQ's management API on $host:15672 (rabbitmq-plugins enable rabbitmq_management)" >&2
    exit 1
  fi
fi
# the port answering is not the broker being ready: wait for the AMQP handshake
for _ in $(seq 1 30); do
  if .venv/bin/python - "$uri" <<'PY' 2>/dev/null; then exit 0; fi
import sys, kombu
with kombu.Connection(sys.argv[1], connect_timeout=2) as c:
    c.ensure_connection(max_retries=1)
PY
  sleep 1
done
echo "wushe: the broker at $host:$port accepts connections but not AMQP logins (guest/guest?)" >&2
exit 1
