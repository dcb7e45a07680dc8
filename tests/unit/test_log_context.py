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
