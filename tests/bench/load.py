"""The load: paced arrivals (open loop), simulated volunteers, and the linked-time observer.

Open loop: need i is due at t0 + i/rate whatever the platform is doing, and its latency runs
from that due time — a slow platform cannot slow the arrivals down and hide its own delay
(coordinated omission). Half the needs come through `POST /needs`, half as `need_reported` from
a station's hotline; a call's slots are claimed over HTTP by volunteers of the need's community
as soon as `call_opened` is seen, as the volunteers' app would.
"""
import http.client
import itertools
import json
import math
import random
import socket
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import kombu
import pycurl

from tests.bench import world
from wushe.contract.clock import now_iso

RESIDENT = {"name": "王大爷", "phone": "13800005678", "address": "天津市滨海新区泰达街道星华社区3号楼"}


def _discard(chunk):
    return None  # the body read and dropped (libcurl: None is all of it taken)


def due_times(rate, total):
    """The open loop's clock: yields each arrival's due time when it comes (t0 + i/rate)."""
    t0 = time.monotonic() + 0.05
    for i in range(total):
        due = t0 + i / rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        yield due


@dataclass
class Flow:
    """Where one flow's gateways and exchanges are."""
    name: str
    ports: list             # one per gateway instance; each client thread keeps to one
    prefix: str = ""        # "floor_" for the floor
    token: str = ""         # the bench's API key (ours)

    def exchange(self, party):
        return f"{self.prefix}{party}.events"


class Http:
    """One keep-alive connection per thread (http.client: the lightest client in the stdlib);
    with several gateways, threads are spread over them in turn, as a load balancer would."""

    def __init__(self, ports, token):
        self.ports, self.token = list(ports), token
        self.local = threading.local()
        self.turn = itertools.count()

    @property
    def port(self):
        if not hasattr(self.local, "port"):
            self.local.port = self.ports[next(self.turn) % len(self.ports)]
        return self.local.port

    def request(self, method, path, body=None):
        """(status, body, headers) of one request."""
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        for attempt in (1, 2):  # a kept-alive connection the server closed: open another once
            conn = getattr(self.local, "conn", None) or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.local.conn = conn
            try:
                conn.request(method, path, body=data, headers=headers)
                answer = conn.getresponse()
                payload = answer.read()
                return answer.status, payload, answer.headers
            except (http.client.HTTPException, OSError):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise


    def request_retrying_shed(self, method, path, body=None, shed=None, *, for_seconds):
        """`request`, as an integrator sends what the contract says to retry: a 503 with
        `Retry-After` (a gateway at capacity sheds at once) is sent again after that delay, for
        as long as `for_seconds` allows; each shed answer is counted in `shed` (a list, appended
        to). A request shed in a burst is then answered late, and its need linked late — which
        the step's p99 says — rather than given up on after a few tries and counted as never
        linked, which made a burst of sheds look like the flow's ceiling."""
        give_up = time.monotonic() + for_seconds
        while True:
            status, payload, headers = self.request(method, path, body)
            retry_after = headers.get("Retry-After") if status == 503 else None
            if retry_after is None or time.monotonic() + float(retry_after) > give_up:
                return status, payload
            if shed is not None:
                shed.append(path)
            time.sleep(float(retry_after))


@dataclass
class Step:
    rate: float
    seconds: float
    sent: dict = field(default_factory=dict)      # need id → due time
    errors: list = field(default_factory=list)
    shed: list = field(default_factory=list)      # requests answered 503 and sent again after Retry-After


class Load:
    """One flow's load generator and observer; `step(rate, seconds)` runs one offered load."""

    def __init__(self, flow, amqp_uri, station_share=0.5, senders=64, seed=8, *, retry_seconds):
        self.flow = flow
        self.retry_seconds = retry_seconds  # how long a shed request is sent again for (the caller's drain)
        self.amqp_uri = amqp_uri
        self.http = Http(flow.ports, flow.token)
        self.station_share = station_share
        self.needs = world.Needs(seed=seed, prefix=f"need-{flow.name}")
        self.random = random.Random(seed)
        self.pool = ThreadPoolExecutor(max_workers=senders, thread_name_prefix="sender")
        self.linked = {}           # need id → monotonic time need_linked was seen
        self.escalated = set()
        self.with_resident = set()  # needs reported with a resident's details (hotline reports)
        self.claim_errors = []
        self.current = None        # the Step under way: its shed claims are counted there
        self.community_index = {c: i for i, c in enumerate(world.communities())}
        self.turn = {}             # community → next volunteer to claim, so claims spread
        self.publishers = threading.local()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.observer = threading.Thread(target=self._observe, name="observer", daemon=True)

    # setup --------------------------------------------------------------------------------------
    def start(self):
        self.observer.start()
        if not self._ready.wait(30):
            raise RuntimeError("bench: the observer could not bind its queue")

    def close(self):
        self._stop.set()
        self.observer.join(5)
        self.pool.shutdown(wait=False, cancel_futures=True)

    # arrivals -------------------------------------------------------------------------------------
    def step(self, rate, seconds, progress=None):
        """Offer `rate` needs/s for `seconds`; returns the Step (due times of what was sent)."""
        step = self.current = Step(rate, seconds)
        total = max(1, int(round(rate * seconds)))
        for i, due in enumerate(due_times(rate, total)):
            need = self.needs.next()
            step.sent[need["id"]] = due
            by_station = self.random.random() < self.station_share
            self.pool.submit(self._send, step, need, by_station)
            if progress and i % max(1, int(rate)) == 0:
                progress(i, total)
        return step

    def _send(self, step, need, by_station):
        try:
            if by_station:
                self.with_resident.add(need["id"])
                self._report(dict(need, resident=RESIDENT))
            else:
                status, body = self.http.request_retrying_shed("POST", "/api/v1/needs", need, shed=step.shed,
                                                                  for_seconds=self.retry_seconds)
                if status not in (200, 201, 202):
                    step.errors.append(f"POST /needs {status} {body[:200]!r}")
        except Exception as exc:  # recorded, and the need counts as not linked
            step.errors.append(f"{type(exc).__name__}: {exc}")

    def _report(self, need):
        """`need_reported`, as the station client publishes it (persistent, confirmed)."""
        local = self.publishers
        if getattr(local, "producer", None) is None:
            local.connection = kombu.Connection(self.amqp_uri, transport_options={"confirm_publish": True})
            local.exchange = kombu.Exchange(self.flow.exchange("station"), "topic", durable=True)
            local.producer = local.connection.Producer(serializer="json")
        envelope = {"id": f"report-{need['id']}", "type": "need_reported", "version": 1, "source": "station",
                    "time": now_iso(), "subject": need["id"], "correlation_id": need["id"], "data": need}
        local.producer.publish(envelope, exchange=local.exchange, routing_key="need_reported",
                               declare=[local.exchange], delivery_mode=2, message_id=envelope["id"])

    # volunteers -----------------------------------------------------------------------------------
    def _claim(self, data):
        community = data.get("community")
        c = self.community_index.get(community, 0)
        for _ in range(data["slots"]):
            n = self.turn.get(community, 0)
            self.turn[community] = n + 1
            volunteer = f"vol-bench-{c}-{n % world.VOLUNTEERS_PER_COMMUNITY}"
            self.pool.submit(self._claim_one, data["call_id"], volunteer)

    def _claim_one(self, call_id, volunteer_id):
        try:
            status, body = self.http.request_retrying_shed("POST", f"/api/v1/calls/{call_id}/claims",
                                                           {"volunteer_id": volunteer_id}, shed=self.current.shed,
                                                           for_seconds=self.retry_seconds)
            if status not in (200, 201):
                self.claim_errors.append(f"{status} {body[:200]!r}")
        except Exception as exc:
            self.claim_errors.append(f"{type(exc).__name__}: {exc}")

    # the observer ---------------------------------------------------------------------------------
    def _observe(self):
        community, volunteers = (kombu.Exchange(self.flow.exchange(p), "topic", durable=True)
                                 for p in ("community", "volunteers"))
        bindings = [kombu.binding(community, routing_key="need_linked"),
                    kombu.binding(community, routing_key="need_escalated"),
                    kombu.binding(volunteers, routing_key="call_opened")]
        bench_queue = kombu.Queue(f"bench-observer-{self.flow.name}", bindings=bindings, exclusive=True,
                                  auto_delete=True)
        with kombu.Connection(self.amqp_uri) as connection:
            with connection.Consumer([bench_queue], callbacks=[self._seen], accept=["json"], no_ack=True) as consumer:
                consumer.qos(prefetch_count=500)
                self._ready.set()
                while not self._stop.is_set():
                    try:
                        connection.drain_events(timeout=0.5)
                    except socket.timeout:
                        pass

    def _seen(self, body, message):
        at = time.monotonic()
        kind = body.get("type")
        data = body.get("data", {})
        if kind == "need_linked":
            self.linked.setdefault(data["need_id"], at)
        elif kind == "need_escalated":
            self.escalated.add(data["need_id"])
        elif kind == "call_opened":
            self._claim(data)


class Reads:
    """`GET /needs/{id}` at a paced rate (open loop) or as fast as C clients go (closed loop)."""

    def __init__(self, flow, need_ids, seed=8):
        self.http = Http(flow.ports, flow.token)
        self.need_ids = list(need_ids)
        self.random = random.Random(seed)

    def _get(self):
        need_id = self.random.choice(self.need_ids)
        start = time.monotonic()
        status, _, _ = self.http.request("GET", f"/api/v1/needs/{need_id}")
        return start, time.monotonic(), status

    def closed(self, clients, seconds):
        """Each client sends its next request when the last is answered: the most it serves."""
        results, deadline = [], time.monotonic() + seconds
        lock = threading.Lock()

        def client():
            mine = []
            while time.monotonic() < deadline:
                start, end, status = self._get()
                mine.append((end - start, status))
            with lock:
                results.extend(mine)
        threads = [threading.Thread(target=client) for _ in range(clients)]
        begun = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results, time.monotonic() - begun

    def paced(self, rate, seconds, senders=64, give_up=5.0):
        """Requests due at a fixed rate; latency from the due time (open loop), over at most
        `senders` keep-alive connections at once. A request still unsent `give_up` seconds after
        it was due counts as failed, unsent, so that an overloaded gateway ends the phase in
        bounded time instead of working off its backlog.

        Sent through libcurl's multi interface (pycurl), one thread: at three times a gateway's
        closed loop, 256 Python threads on http.client took a whole core of the box's two, and
        with it the cores the gateway and the edge were being measured on."""
        total = int(rate * seconds)
        multi, idle, results = pycurl.CurlMulti(), [], []
        headers = [f"Authorization: Bearer {self.http.token}"] if self.http.token else []
        ports = self.http.ports
        for i in range(senders):
            handle = pycurl.Curl()
            handle.setopt(pycurl.WRITEFUNCTION, _discard)
            handle.setopt(pycurl.HTTPHEADER, headers)
            handle.setopt(pycurl.TIMEOUT, 30)
            handle.setopt(pycurl.NOSIGNAL, 1)  # the bench has other threads: no SIGALRM for timeouts
            handle.base = f"http://127.0.0.1:{ports[i % len(ports)]}/api/v1/needs/"
            idle.append(handle)
        waiting, busy, sent = deque(), 0, 0
        t0 = time.monotonic() + 0.05
        while sent < total or waiting or busy:
            now = time.monotonic()
            while sent < total and t0 + sent / rate <= now:
                waiting.append(t0 + sent / rate)
                sent += 1
            while waiting and idle:
                due = waiting.popleft()
                if now - due > give_up:
                    results.append((math.inf, 0))
                    continue
                handle = idle.pop()
                handle.due = due
                handle.setopt(pycurl.URL, handle.base + self.random.choice(self.need_ids))
                multi.add_handle(handle)
                busy += 1
            while multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
                pass
            while True:
                _, done, failed = multi.info_read()
                finished = [(h, h.getinfo(pycurl.RESPONSE_CODE)) for h in done] + [(h, 0) for h, _, _ in failed]
                if not finished:
                    break
                end = time.monotonic()
                for handle, status in finished:
                    results.append((end - handle.due, status))
                    multi.remove_handle(handle)
                    idle.append(handle)
                busy -= len(finished)
            upcoming = t0 + sent / rate - time.monotonic() if sent < total and not waiting else 0.01
            if busy:
                multi.select(max(0.0, min(upcoming, 0.01)))
            elif upcoming > 0:  # nothing in flight: libcurl has no socket to wait on
                time.sleep(upcoming)
        for handle in idle:
            handle.close()
        multi.close()
        return results, time.monotonic() - t0
