"""The container every service runs in (wushe.runtime.container) runs a worker as nameko's does:
the same calls to every dependency, in the same order, with the same result and error, and
the same end for a worker whose dependency fails — only without nameko's debug timings."""
import eventlet
import pytest
from nameko.containers import ServiceContainer, get_container_cls
from nameko.extensions import DependencyProvider, Entrypoint

from wushe.runtime.config import nameko_config
from wushe.runtime.container import WusheContainer


class Recorder(DependencyProvider):
    """Records every hook nameko calls on a dependency; the first to reach the stage the worker
    is told to fail in fails there."""

    def __init__(self, tag):
        self.tag = tag

    def _note(self, worker_ctx, stage, *more):
        worker_ctx.data["calls"].append(("dependency", stage, *more))
        if worker_ctx.data.get("fail_in") == stage and not worker_ctx.data.get("failed"):
            worker_ctx.data["failed"] = True
            raise RuntimeError(f"a dependency failed in {stage}")

    def get_dependency(self, worker_ctx):
        self._note(worker_ctx, "get_dependency")
        return self.tag

    def worker_setup(self, worker_ctx):
        self._note(worker_ctx, "worker_setup")

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        self._note(worker_ctx, "worker_result", result, exc_info and type(exc_info[1]).__name__)

    def worker_teardown(self, worker_ctx):
        self._note(worker_ctx, "worker_teardown")


class Expected(Exception):
    pass


class Call(Entrypoint):
    pass


class Service:
    name = "recorded"
    first = Recorder("first")
    second = Recorder("second")

    @Call.decorator(expected_exceptions=Expected)
    def handle(self, what):
        if what == "unexpected":
            raise ValueError("unexpected")
        if what == "expected":
            raise Expected("expected")
        return f"{what} with {self.first} and {self.second}"


def run(container_cls, what, fail_in=None, replace_result=False):
    """One worker through `container_cls`: the calls made, what handle_result and the container
    saw, and the error that ended the worker's thread, if one did."""
    container = container_cls(Service, {"AMQP_URI": "memory://"})
    entrypoint = next(iter(container.entrypoints))
    calls, seen = [], []

    def handle_result(worker_ctx, result, exc_info):
        calls.append(("entrypoint", "handle_result", result, exc_info and type(exc_info[1]).__name__))
        if worker_ctx.data.get("fail_in") == "handle_result":
            raise RuntimeError("handle_result failed")
        return ("replaced", None) if replace_result else (result, exc_info)

    worker_ctx = container.spawn_worker(entrypoint, (what,), {}, context_data={"calls": calls, "fail_in": fail_in},
                                        handle_result=handle_result)
    thread = container._worker_threads.get(worker_ctx)
    ended = None
    try:
        if thread is not None:
            thread.wait()
    except Exception as exc:  # noqa: BLE001 — the error that ended the worker, compared below
        ended = f"{type(exc).__name__}: {exc}"
    eventlet.sleep(0)  # the container hears of the thread's end
    seen.append(container._died.ready())
    return normalised(calls), ended, seen


def normalised(calls):
    """The calls, those of one stage sorted: nameko goes through a container's dependencies in
    its set's order, which differs from one container to the next."""
    stages = []
    for call in calls:
        if stages and stages[-1][0][1] == call[1]:
            stages[-1].append(call)
        else:
            stages.append([call])
    return [call for stage in stages for call in sorted(stage, key=repr)]


CASES = [
    ("done", None, False),
    ("done", None, True),
    ("unexpected", None, False),
    ("expected", None, False),
    *[("done", stage, False) for stage in ("get_dependency", "worker_setup", "worker_result", "worker_teardown")],
    ("done", "handle_result", False),
    ("unexpected", "worker_result", False),
]


@pytest.mark.parametrize("what,fail_in,replace_result", CASES)
def test_a_worker_runs_as_in_nameko(what, fail_in, replace_result):
    ours = run(WusheContainer, what, fail_in, replace_result)
    theirs = run(ServiceContainer, what, fail_in, replace_result)
    assert ours == theirs
    calls, ended, _ = ours
    assert calls, "the worker ran nothing"
    assert (ended is None) == (fail_in is None)


def test_every_service_runs_in_it():
    assert get_container_cls(nameko_config(env={})) is WusheContainer
