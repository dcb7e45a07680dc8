"""The process-mode chaos run's short form, in every `make test`: 50 needs through the platform as
processes on a store server of its own, a process SIGKILLed every ~2 s (every kind, the gateway
too), the store server killed -9 once, the broker stopped for 11 s — and the same checks as
`make chaos`. WUSHE_CHAOS_BROKER_DOWN=0 runs it without the broker outage (a broker others use)."""
import os
import shutil

import pytest

from tests.chaos.process_mode import Options, run
from tests.chaos.run import short_run
from wushe.ops.local import server_program

BROKER_DOWN = float(os.environ.get("WUSHE_CHAOS_BROKER_DOWN", "11"))


def _store_server_installed():
    try:
        return bool(server_program())
    except SystemExit:
        return False


@pytest.mark.skipif(BROKER_DOWN > 0 and not shutil.which("rabbitmqctl"), reason="stops and starts the local broker")
@pytest.mark.skipif(not _store_server_installed(), reason="the local store server is not installed (make store)")
def test_short_process_chaos_run_keeps_every_invariant(capsys):
    figures = short_run(run, Options(needs=50, concurrency=6, kill_every=2.0, broker_down=BROKER_DOWN, broker_after=8,
                                     store_at=0.5, poison=6, quiet_timeout=150, max_load_seconds=150), capsys)
    assert figures["store_kills"] == 1 and figures["kills"] >= 6
    assert figures["broker_restarts"] == (1 if BROKER_DOWN > 0 else 0)
