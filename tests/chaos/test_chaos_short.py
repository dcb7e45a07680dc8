"""The chaos run's short form, in every `make test`: fewer needs, a shorter broker outage,
the same faults and the same checks as `make chaos`."""
import shutil

import pytest

from tests.chaos.run import Options, run, short_run


@pytest.mark.skipif(not shutil.which("rabbitmqctl"), reason="stops and starts the local broker")
def test_short_chaos_run_keeps_every_invariant(capsys):
    figures = short_run(run, Options(needs=60, concurrency=6, kill_every=1.5, broker_down=4, broker_after=3,
                                     poison=6, quiet_timeout=180), capsys)
    assert figures["broker_restarts"] == 1 and figures["kills"] >= 1
