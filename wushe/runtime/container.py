"""The container every Wushe service runs in: nameko's, running each worker without nameko's
debug bookkeeping (config `SERVICE_CONTAINER_CLS`, set by `wushe.runtime.config.nameko_config`).

nameko 2.14.1's `_run_worker` wraps each stage of a worker in a timer for a debug line (four
context managers) and formats the worker's call-id stack for another before asking whether
DEBUG is on — and that stack's first use makes the worker a call id, a fresh uuid4. Together
about half of what the container spends on each delivery and each RPC, in every service. A
worker's lines here are Telemetry's (its outcome, its time, a failure with its traceback;
`nameko.containers` is silenced by `wushe.runtime.logs.configure`), so nothing is lost.

The stages, their order and what propagates are nameko's: dependencies injected, then set up;
the method called, an exception it raises caught as `exc_info`; the entrypoint's
`handle_result`; every dependency's `worker_result`, then `worker_teardown`. A failure in
injection, setup, `handle_result` or teardown ends the worker's thread as it does in nameko
(tests/unit/test_container.py holds the two containers to the same calls and outcomes)."""
import sys

from nameko.containers import ServiceContainer


class WusheContainer(ServiceContainer):

    def _run_worker(self, worker_ctx, handle_result):
        self._inject_dependencies(worker_ctx)
        self._worker_setup(worker_ctx)
        result = exc_info = None
        try:
            result = getattr(worker_ctx.service, worker_ctx.entrypoint.method_name)(
                *worker_ctx.args, **worker_ctx.kwargs)
        except Exception:
            exc_info = sys.exc_info()
        if handle_result is not None:
            result, exc_info = handle_result(worker_ctx, result, exc_info)
        self._worker_result(worker_ctx, result, exc_info)
        # as nameko: the traceback's cycle broken now, not at the next collection
        del exc_info
        self._worker_teardown(worker_ctx)
