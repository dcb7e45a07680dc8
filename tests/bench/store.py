"""The local store for a bench run: a store server of the run's own (`wushe.ops.local.StoreServer`:
SecantusDB, MongoDB's wire protocol on WiredTiger, in a process of its own), on a free port,
its data in a temporary folder removed after; and what it does for a need, from its own
counters (`serverStatus` → `opcounters`, read through pymongo as from any MongoDB) and from
the CPU its process burns (psutil on its pid)."""
import shutil
import tempfile
from pathlib import Path

import pymongo

from tests.netports import free_port
from wushe.ops.local import StoreServer

KINDS = ("insert", "query", "update", "delete", "getmore", "command")
SERVER = "SecantusDB (Python, WiredTiger), a process of its own"


class LocalStore:
    """`with LocalStore(log_path) as store:` — started, answering; stopped and its folder gone after."""

    def __init__(self, log_path):
        self.log_path = Path(log_path)
        self.server = self.client = self.folder = None

    def __enter__(self):
        self.folder = tempfile.mkdtemp(prefix="wushe-bench-store-")
        self.server = StoreServer(Path(self.folder) / "data", port=free_port(), log_path=self.log_path)
        try:
            self.server.start()
            self.client = pymongo.MongoClient(self.server.uri, serverSelectionTimeoutMS=5000)
            self.version = self.client.admin.command("serverStatus").get("version")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        if self.client is not None:
            self.client.close()
        self.server.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def uri(self):
        return self.server.uri

    @property
    def pid(self):
        return self.server.process.pid

    def describe(self):
        return {"server": SERVER, "version": self.version, "uri_options": self.uri.partition("?")[2]}

    def counters(self):
        """The server's operations so far, by kind (its own count, as a mongod keeps it)."""
        counts = self.client.admin.command("serverStatus")["opcounters"]
        return {kind: int(counts.get(kind, 0)) for kind in KINDS}


def delta(before, after):
    """Operations between two readings; the second reading's own serverStatus taken out."""
    out = {kind: after[kind] - before[kind] for kind in KINDS}
    out["command"] = max(0, out["command"] - 1)
    return out


def ops_figures(ops, per, idle_per_s=None, elapsed=0.0):
    """Operations per need (or per read): all, and less what the processes do idle in as long
    (the outbox relays' polls, the drivers' heartbeats)."""
    if not per:
        return {}
    out = {"per_need": {kind: round(n / per, 2) for kind, n in ops.items()}}
    out["per_need"]["total"] = round(sum(ops.values()) / per, 2)
    if idle_per_s is not None:
        less = {kind: max(0.0, n - idle_per_s.get(kind, 0.0) * elapsed) / per for kind, n in ops.items()}
        out["per_need_marginal"] = {kind: round(v, 2) for kind, v in less.items()}
        out["per_need_marginal"]["total"] = round(sum(less.values()), 2)
    return out


def step_figures(ops, linked, cpu, elapsed, cores, idle_per_s):
    """What the store did in one step: operations per linked need by kind, its CPU per need,
    the cores it kept busy and its share of the box and of all the CPU the run used."""
    used = cpu.get("store", 0.0)
    return {"ops": ops, "ops_per_s": round(sum(ops.values()) / elapsed, 1) if elapsed else None,
            **ops_figures(ops, linked, idle_per_s, elapsed),
            "cpu_ms_per_need": round(1000 * used / linked, 2) if linked else None,
            "cores": round(used / elapsed, 3) if elapsed else None,
            "share_of_box": round(used / elapsed / cores, 3) if elapsed else None,
            "share_of_cpu_used": round(used / sum(cpu.values()), 3) if sum(cpu.values()) else None}


def busiest(cpu_ms_per_need, services):
    """The service (all its instances together) with the most CPU per linked need."""
    totals = {}
    for label, ms in cpu_ms_per_need.items():
        service = label.split("#")[0]
        if service in services:
            totals[service] = totals.get(service, 0.0) + ms
    return max(totals, key=totals.get) if totals else None
