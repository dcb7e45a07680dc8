"""What a worker binds (wushe.runtime.logs.bind) is on every line it writes, ours and the
libraries', and on no other green thread's; a value JSON has no type for is written as
structlog writes it."""
import io
import json
import logging

import eventlet
import structlog

from wushe.runtime import logs


def lines_of(run):
    logs.configure()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.json_lines())
    logging.root.addHandler(handler)
    try:
        run()
    finally:
        logging.root.removeHandler(handler)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_green_thread_writes_its_own_context_and_only_its_own():
    ours, theirs = structlog.get_logger("wushe.test"), logging.getLogger("kombu.test")

    def worker(need_id, pause):
        logs.clear()
        logs.bind(need_id=need_id, correlation_id=f"c-{need_id}")
        eventlet.sleep(pause)  # the other worker runs, binds and writes meanwhile
        ours.info("step.done", step=1)
        theirs.warning("library line")
        logs.clear()
        ours.info("after.clear")

    def run():
        pool = eventlet.GreenPool()
        pool.spawn(worker, "need-1", 0.02)
        pool.spawn(worker, "need-2", 0.0)
        pool.waitall()

    written = lines_of(run)
    for need_id in ("need-1", "need-2"):
        mine = [line for line in written if line.get("need_id") == need_id]
        assert {line["event"] for line in mine} == {"step.done", "library line"}
        assert all(line["correlation_id"] == f"c-{need_id}" for line in mine)
    cleared = [line for line in written if line["event"] == "after.clear"]
    assert len(cleared) == 2 and not any("need_id" in line for line in cleared)
    assert logs.bound() == {}  # nothing leaked to the thread that ran the pool


def test_a_value_json_cannot_hold_is_written_as_structlog_writes_it():
    class Shown:
        def __structlog__(self):
            return "shown"

    class Plain:
        def __repr__(self):
            return "<plain>"

    written = lines_of(lambda: structlog.get_logger("wushe.test").info("odd.values", a=Shown(), b=Plain(),
                                                                      c="住户"))
    assert written[-1]["a"] == "shown" and written[-1]["b"] == "<plain>" and written[-1]["c"] == "住户"


WRITE_BOTH_WAYS = """
import io, json, logging, sys
import structlog
from wushe.runtime import logs
logs.configure(stream=sys.stdout)
log = structlog.get_logger("wushe.test")
logs.bind(need_id="need-1", correlation_id="c-1")
log.info("step.done", step=1)                   # the service's one handler: written at once
try:
    1 / 0
except ZeroDivisionError:
    log.exception("step.failed")
capture = io.StringIO()
handler = logging.StreamHandler(capture)
handler.setFormatter(logs.json_lines())
logging.root.addHandler(handler)               # a second handler: through the standard library
log.warning("step.slow", after_ms=5)
logging.getLogger("kombu.test").warning("library line")
logging.root.removeHandler(handler)
logging.getLogger("wushe").addHandler(handler)  # one on the way up: through the standard library too
log.info("step.retried")
logging.root.setLevel(logging.ERROR)
log.info("not.written")
print(json.dumps(capture.getvalue().splitlines()))
"""


def test_a_line_written_at_once_is_the_line_the_standard_library_writes():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", WRITE_BOTH_WAYS], capture_output=True, text=True, check=True,
                         timeout=60).stdout.splitlines()
    written, captured = [json.loads(line) for line in out[:-1]], json.loads(out[-1])
    assert [line["event"] for line in written] == ["step.done", "step.failed", "step.slow", "library line",
                                                    "step.retried"]
    assert [json.loads(line)["event"] for line in captured] == ["step.slow", "library line", "step.retried"]
    assert written[2] == json.loads(captured[0])  # the same line either way
    done, failed = written[0], written[1]
    assert {k: v for k, v in done.items() if k != "timestamp"} == {
        "event": "step.done", "step": 1, "need_id": "need-1", "correlation_id": "c-1", "level": "info",
        "logger": "wushe.test"}
    assert failed["level"] == "error" and "ZeroDivisionError" in failed["exception"]
    assert set(done) - {"step"} == set(written[2]) - {"after_ms"} and written[3]["logger"] == "kombu.test"
