"""Every service has the same layers, and each layer keeps to its part (README, "Layout"):

- the rules (`domain.py` and the pure modules beside it) import nothing that does I/O or knows a
  transport — followed through every project module they import, not only their own lines;
- `service.py` is nameko's wiring: no Mongo call and no document literal in it;
- every service has `service.py`, `handlers.py`, `domain.py`, `store.py` and `schemas.py`.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("community", "orgs", "workers", "volunteers", "charity")
LAYERS = ("service.py", "handlers.py", "domain.py", "store.py", "schemas.py")
# the rules: each service's domain.py and the pure modules it keeps beside it
RULES = [f"services.{s}.domain" for s in SERVICES] + ["services.volunteers.attendance", "services.volunteers.timebank"]
# what a rule may not reach, however indirectly: I/O, transports, the framework, and the
# kernel's modules that wrap them (errors that know RPC, the store, the outbox, retries, metrics)
FORBIDDEN = {"nameko", "pymongo", "bson", "mongomock", "eventlet", "kombu", "amqp", "werkzeug", "requests",
             "prometheus_client", "structlog", "cryptography"}
FORBIDDEN_OURS = {"wushe.runtime.errors", "wushe.runtime.store", "wushe.runtime.outbox", "wushe.runtime.cas", "wushe.runtime.subscribe", "wushe.runtime.rpc",
                  "wushe.runtime.telemetry", "wushe.runtime.metrics", "wushe.runtime.config", "wushe.runtime.mongomock_speedups"}
MONGO_CALLS = {"find", "find_one", "find_one_and_update", "find_one_and_replace", "update_one", "update_many",
               "insert_one", "insert_many", "replace_one", "delete_one", "delete_many", "count_documents",
               "aggregate", "distinct", "create_index", "bulk_write"}


def module_path(name):
    path = ROOT / Path(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def imports_of(name):
    """The modules `name` imports (absolute names), from its source."""
    tree = ast.parse(module_path(name).read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names
                      if module_path(f"{node.module}.{alias.name}").exists()}
    return found


def ours(name):
    return name.split(".")[0] in ("wushe", "services", "gateway") and module_path(name).exists()


def reached(start):
    """Every module `start` reaches through the project's own modules: {module: via whom}."""
    seen, todo = {start: None}, [start]
    while todo:
        current = todo.pop()
        for imported in imports_of(current):
            if imported not in seen:
                seen[imported] = current
                if ours(imported):
                    todo.append(imported)
    return seen


def chain(seen, name):
    path = [name]
    while seen[path[-1]] is not None:
        path.append(seen[path[-1]])
    return " ← ".join(path)


@pytest.mark.parametrize("rules", RULES)
def test_the_rules_reach_no_io_no_transport_and_no_framework(rules):
    seen = reached(rules)
    bad = sorted(name for name in seen if name.split(".")[0] in FORBIDDEN
                 or any(name == m or name.startswith(m + ".") for m in FORBIDDEN_OURS))
    assert not bad, "\n".join(chain(seen, name) for name in bad)


@pytest.mark.parametrize("service", SERVICES)
def test_service_py_is_wiring_only(service):
    tree = ast.parse(module_path(f"services.{service}.service").read_text(encoding="utf-8"))
    calls = sorted({f"line {node.lineno}: .{node.func.attr}()" for node in ast.walk(tree)
                    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in MONGO_CALLS})
    documents = sorted({f"line {node.lineno}" for node in ast.walk(tree) if isinstance(node, ast.Dict)
                        and any(isinstance(k, ast.Constant) and k.value == "_id" for k in node.keys)})
    assert not calls, f"Mongo calls in services/{service}/service.py (they belong in store.py): {calls}"
    assert not documents, f"document literals in services/{service}/service.py (rules build them): {documents}"


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_the_same_layers(service):
    assert [layer for layer in LAYERS if not (ROOT / "services" / service / layer).exists()] == []


def test_the_walk_finds_what_it_looks_for():
    """The walk itself: the gateway's web module reaches nameko and wushe.runtime.errors, so the check
    above could fail."""
    seen = reached("gateway.web")
    assert "nameko.exceptions" in seen and "wushe.runtime.errors" in seen
