"""Loaded by every Python process the bench starts with this folder on PYTHONPATH (`make bench
BENCH_ARGS="--profile features"`, tests/bench/features.py): in our services' processes it times
what each of ours' features costs on the thread's own CPU clock.

Each feature (`FEATURES`) is a set of functions, wrapped where their modules are first imported;
a call's time is its own, less that of the features it calls (the read model's projection less
its store calls). SIGUSR1 writes the totals so far to `$WUSHE_BENCH_FEATURES/<pid>.json`. The
bench sets that only for ours on the embedded store: a call to a store server waits on its
socket and lets other green threads run, whose CPU the thread's clock would count as the call's."""
import importlib.util
import json
import os
import signal
import sys
import time

OUT = os.environ.get("WUSHE_BENCH_FEATURES", "")
FEATURES = {
    "events checked on arrival": {"wushe.contract.events": ["load"]},
    "events checked when stamped": {"wushe.contract.events": ["stamped"]},
    "log lines": {"structlog.stdlib": ["BoundLogger._proxy_to_logger"]},
    "the read model's projection": {"gateway.readmodel": ["GatewayStore.apply"]},
}
STORE = "the store"  # every call on the embedded store's collections
STORE_CALLS = ("find_one", "find_one_and_update", "update_one", "update_many", "insert_one", "find",
               "count_documents", "aggregate", "delete_one", "replace_one")

totals = {}   # feature -> seconds of its own
stack = []    # [feature, started, seconds in the features it called]


def timed(fn, feature):
    def call(*args, **kwargs):
        if stack and stack[-1][0] == feature:  # within itself (stamped calls new_event…): counted once
            return fn(*args, **kwargs)
        frame = [feature, time.thread_time(), 0.0]
        stack.append(frame)
        try:
            return fn(*args, **kwargs)
        finally:
            stack.pop()
            spent = time.thread_time() - frame[1]
            totals[feature] = totals.get(feature, 0.0) + spent - frame[2]
            if stack:
                stack[-1][2] += spent
    call.__wrapped__ = fn
    return call


def wrap(module, name):
    for feature, modules in FEATURES.items():
        for path in modules.get(name, ()):
            *parents, attribute = path.split(".")
            owner = module
            for parent in parents:
                owner = getattr(owner, parent)
            setattr(owner, attribute, timed(getattr(owner, attribute), feature))
    if name == "wushe.runtime.mongomock_speedups":  # the store's calls, once its speedups are in
        install = module.install

        def installed():
            install()
            from mongomock.collection import Collection
            for call in STORE_CALLS:
                setattr(Collection, call, timed(getattr(Collection, call), STORE))
        module.install = installed


class Finder:
    """Wraps each module of `FEATURES` as it is imported."""
    names = {name for modules in FEATURES.values() for name in modules} | {"wushe.runtime.mongomock_speedups"}

    def find_spec(self, name, path=None, target=None):
        if name not in self.names:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            wrap(module, name)
        spec.loader.exec_module = exec_module
        return spec


def write(*_):
    with open(os.path.join(OUT, f"{os.getpid()}.json"), "w") as out:
        json.dump({"cpu_seconds": time.process_time(), "features": totals}, out)


def ours():
    try:
        with open("/proc/self/cmdline", "rb") as cmdline:
            return b"wushe.ops.cli" in cmdline.read()
    except OSError:
        return False


if OUT and ours():
    sys.meta_path.insert(0, Finder())
    signal.signal(signal.SIGUSR1, write)
