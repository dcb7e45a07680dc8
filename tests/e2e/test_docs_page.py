"""The docs pages (README, "The docs pages"): Debian's headless `chromium`, driven by its own
command line, opens /api/v1/docs and /api/v1/event-docs; the page renders every operation of its
document (OpenAPI, AsyncAPI), it loaded nothing from any other host (the browser's own network
log says so), and a screenshot of it is kept in the test's folder. The same again behind a
reverse proxy that serves the gateway under a path prefix."""
import json
import os
import shutil
import subprocess
import threading
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import free_port
from tests.e2e.world import ok

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium")
METHODS = {"get", "post", "put", "patch", "delete"}


def chromium(url, folder, *options):
    """Headless Chromium on a page, with every host but this machine's unreachable (as on a
    station's network); its standard output, and the URLs the page asked for, from the browser's
    own network log (NetLog)."""
    if CHROMIUM is None:
        pytest.fail("Debian's chromium is not installed: `make test` installs it (apt-get install chromium)")
    netlog = folder / "netlog.json"
    command = [CHROMIUM, "--headless", "--disable-gpu", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--disable-extensions", "--hide-scrollbars",
               f"--user-data-dir={folder / 'profile'}", f"--log-net-log={netlog}",
               "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
               # the page's scripts run until the network has been idle (virtual time), at most this
               "--virtual-time-budget=30000", *options, url]
    if os.geteuid() == 0:
        command.insert(1, "--no-sandbox")  # Chromium's sandbox refuses root, and CI runs as root
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, requests_of_page(netlog, url)


def requests_of_page(netlog, url):
    """The URLs requested on behalf of the page: those keyed to its site (the browser's own
    background requests, to its vendor's update and sign-in services, are keyed to none)."""
    site = "{0.scheme}://{0.hostname}".format(urlsplit(url))
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [e["params"]["url"] for e in log["events"]
            if e["type"] == start and "url" in e.get("params", {})
            and e["params"].get("network_isolation_key", "").split(" ")[0] == site]


class Operations(HTMLParser):
    """The operations Swagger UI rendered: each block's method and its path (`data-path`)."""
    document = "openapi.json"
    files = ("docs/swagger-ui-bundle.js",)

    @staticmethod
    def expected(document):
        return sorted((method, path) for path, ops in document["paths"].items() for method in ops)

    def __init__(self):
        super().__init__()
        self.method, self.found = None, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "div" and "opblock" in classes:
            self.method = next(c.removeprefix("opblock-") for c in classes
                               if c.removeprefix("opblock-") in METHODS)
        elif "opblock-summary-path" in classes and self.method:
            self.found.append((self.method, attrs["data-path"]))
            self.method = None


class Events(HTMLParser):
    """The operations the AsyncAPI component rendered: each block's id, `operation-<action>-<id>`."""
    document = "asyncapi.json"
    files = ("event-docs/asyncapi.js",)

    def __init__(self):
        super().__init__()
        self.ids = set()

    @staticmethod
    def expected(document):
        return sorted((op["action"], name) for name, op in document["operations"].items())

    def handle_starttag(self, tag, attrs):
        self.ids.add(dict(attrs).get("id"))

    @property
    def found(self):
        return sorted((action, name) for action, name in
                      (i.removeprefix("operation-").split("-", 1) for i in self.ids
                       if i and i.startswith(("operation-send-", "operation-receive-")))
                      if "-" not in name)


PAGES = {"docs": Operations, "event-docs": Events}


@pytest.fixture
def behind_a_prefix(platform):
    """The gateway as a reverse proxy serves it under /wushe/ (werkzeug's own proxy)."""
    from werkzeug.exceptions import NotFound
    from werkzeug.middleware.http_proxy import ProxyMiddleware
    from werkzeug.serving import make_server
    proxy = ProxyMiddleware(NotFound(), {"/wushe/": {"target": platform.base + "/", "remove_prefix": True}})
    server = make_server("127.0.0.1", free_port(), proxy, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.port}/wushe"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("where", ["gateway", "behind_a_prefix"])
@pytest.mark.parametrize("name", sorted(PAGES))
def test_a_docs_page_renders_every_operation_and_loads_nothing_from_elsewhere(platform, name, where, request,
                                                                              tmp_path):
    base = platform.base if where == "gateway" else request.getfixturevalue(where)
    kind = PAGES[name]
    document = ok(requests.get(f"{base}/api/v1/{kind.document}", timeout=10), 200)  # open without a key
    page = f"{base}/api/v1/{name}"

    dom, asked = chromium(page, tmp_path, "--dump-dom")
    (tmp_path / f"{name}.html").write_text(dom)
    rendered = kind()
    rendered.feed(dom)
    assert sorted(rendered.found) == kind.expected(document), f"rendered DOM: {tmp_path / name}.html"

    prefix = urlsplit(base).path
    elsewhere = [u for u in asked if urlsplit(u).netloc != urlsplit(base).netloc
                 or not urlsplit(u).path.startswith(prefix + "/api/v1/")]
    assert elsewhere == [], elsewhere
    assert {urlsplit(u).path.removeprefix(prefix) for u in asked} >= {
        f"/api/v1/{name}", f"/api/v1/{kind.document}", *(f"/api/v1/{f}" for f in kind.files)}

    shot = tmp_path / f"{name}.png"
    chromium(page, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000")
    assert shot.read_bytes().startswith(b"\x89PNG")
    print(f"{name} page screenshot: {shot}")


@pytest.mark.parametrize("name, files, others", [
    ("docs", [("swagger-ui-bundle.js", "text/javascript"), ("swagger-ui.css", "text/css"),
              ("favicon-32x32.png", "image/png"), ("wushe-docs.js", "text/javascript")],
     ["index.template.html", "..%2Fflask_swagger_ui.py", "LICENSE", "nope.js"]),
    ("event-docs", [("asyncapi.js", "text/javascript"), ("asyncapi.css", "text/css"),
                    ("wushe-event-docs.js", "text/javascript")],
     ["package.json", "index.js", "..%2Fpackage.json", "default.min.css", "wushe-docs.js", "swagger-ui.css"]),
])
def test_docs_files_are_served_with_their_types_and_caching(platform, name, files, others):
    page = requests.get(f"{platform.base}/api/v1/{name}", timeout=10)
    assert page.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "//" not in page.text  # every URL in it is relative: it works behind a proxy's prefix
    again = requests.get(page.url, headers={"If-None-Match": page.headers["ETag"]}, timeout=10)
    assert again.status_code == 304
    for file, media in files:
        answer = requests.get(f"{platform.base}/api/v1/{name}/{file}", timeout=10)
        assert answer.status_code == 200 and answer.headers["Content-Type"].split(";")[0] == media, file
        assert answer.headers["ETag"] and answer.headers["Cache-Control"], file
    for file in others:
        answer = requests.get(f"{platform.base}/api/v1/{name}/{file}", timeout=10)
        assert answer.status_code == 404, file
        assert answer.headers["Content-Type"].startswith("application/problem+json"), file


def test_the_root_leads_to_the_docs_page(platform):
    answer = requests.get(platform.base + "/", allow_redirects=False, timeout=10)
    assert answer.status_code == 302 and answer.headers["Location"] == "api/v1/docs"
    assert requests.get(platform.base + "/", timeout=10).url == platform.base + "/api/v1/docs"
