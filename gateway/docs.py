"""The pages an integrator opens in a browser: the API (Swagger UI, reading the OpenAPI document)
and the events (the AsyncAPI project's React component, reading the AsyncAPI document). Their
files are served from the installed package that carries them (no CDN: stations' and government
networks have no internet); each page names its files and its document by URLs relative to
itself, so that it works behind a proxy prefix."""
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from werkzeug.exceptions import NotFound
from werkzeug.utils import send_from_directory
from werkzeug.wrappers import Response

from gateway.web import HttpProblem


def _python_package(package, folder):
    # located, not imported: flask_swagger_ui's __init__ imports Flask, which the gateway does not use
    spec = importlib.util.find_spec(package)
    if spec is None:
        raise RuntimeError(f"the docs page needs the {package} package (pyproject.toml)")
    return Path(spec.submodule_search_locations[0]) / folder


# the vendor files change only with the package: cached an hour, then revalidated by their ETag
VENDOR_MAX_AGE = 3600
# each page loads nothing from anywhere else, whatever a browser or a later release would like to
# (both renderers style their elements inline and draw their icons as data: images)
POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
          "object-src 'none'; base-uri 'none'; frame-ancestors 'self'")

HTML = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
  <meta charset="utf-8">
  <title>{title}</title>
{links}
</head>
<body>
  <div id="{root}"></div>
{scripts}
</body>
</html>
"""


@dataclass(frozen=True)
class Page:
    title: str
    root: str             # the element the renderer draws into
    folder: str           # the page's own URL segment: its files are <folder>/<name>
    styles: tuple         # served names, in the order the page links them
    scripts: tuple
    files: dict           # served name -> path inside the package's folder (no other is served)
    initialiser: str      # ours, a file of its own: the policy needs no 'unsafe-inline' for scripts
    policy: str = POLICY
    # the tab's icon; without one a browser asks the host's /favicon.ico, outside any proxy prefix
    icon: str = "data:,"

    @property
    def own(self):
        return f"wushe-{self.folder}.js"

    def html(self):
        links = "\n".join(f'  <link rel="stylesheet" href="{self.folder}/{name}">' for name in self.styles)
        links += f'\n  <link rel="icon" href="{self.icon}">'
        scripts = "\n".join(f'  <script src="{self.folder}/{name}"></script>' for name in (*self.scripts, self.own))
        return HTML.format(title=self.title, root=self.root, links=links, scripts=scripts)


API = Page(
    title="Wushe gateway API (五社联动)", root="swagger-ui", folder="docs",
    styles=("swagger-ui.css",), scripts=("swagger-ui-bundle.js",),
    files={name: name for name in ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png")},
    icon="docs/favicon-32x32.png",
    initialiser="""window.ui = SwaggerUIBundle({
  url: "openapi.json",          // relative to the page: /api/v1/openapi.json, behind any prefix
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null            // its default sends the document to validator.swagger.io
});
""")
SWAGGER_UI = _python_package("flask_swagger_ui", "dist")

EVENTS = Page(
    title="Wushe events (五社联动)", root="asyncapi", folder="event-docs",
    styles=("asyncapi.css",), scripts=("asyncapi.js",),
    files={"asyncapi.css": "styles/default.min.css", "asyncapi.js": "browser/standalone/index.js"},
    initialiser="""AsyncApiStandalone.render({
  schema: {url: "asyncapi.json", options: {method: "GET"}},  // relative: /api/v1/asyncapi.json
  config: {show: {sidebar: true}}
}, document.getElementById("asyncapi"));
""",
    # the component validates the document with the AsyncAPI parser, whose JSON Schema validator
    # (ajv) compiles each schema into a function: without 'unsafe-eval' the page stays blank. It
    # still runs only the gateway's own scripts.
    policy=POLICY.replace("default-src 'self';", "default-src 'self'; script-src 'self' 'unsafe-eval';"))
# npm's @asyncapi/react-component, pinned in deploy/events-page/ and installed there by the Makefile
# (WUSHE_EVENTS_PAGE_DIR elsewhere, e.g. in the image)
EVENTS_RENDERER = Path(__file__).resolve().parents[1] / "deploy/events-page/node_modules/@asyncapi/react-component"


def events_renderer(settings):
    return Path(settings["EVENTS_PAGE_DIR"]) if settings["EVENTS_PAGE_DIR"] else EVENTS_RENDERER

# what a file route answers, for the OpenAPI document
CONTENT = {media: {"schema": {"type": "string", "format": "binary"}}
           for media in ("text/javascript", "text/css", "image/png")}


def page(request, which, where):
    if not all((where / path).is_file() for path in which.files.values()):
        # a gateway installed without the renderer (it is not a Python package): say what to do
        raise HttpProblem(503, "Service unavailable",
                          f"the page's renderer is not installed at {where.name}: `make install`, "
                          "or WUSHE_EVENTS_PAGE_DIR naming its folder (README, \"The docs pages\")")
    return _own(request, "text/html", which.html(), which.policy)


def asset(request, which, where, name):
    """A file of the page: ours, or one of the renderer's that it names (404 for any other name)."""
    if name == which.own:
        return _own(request, "text/javascript", which.initialiser, which.policy)
    if name not in which.files:
        raise HttpProblem(404, "Not found", f"no file {name} of this page")
    path = Path(which.files[name])
    try:
        response = send_from_directory(where / path.parent, path.name, request.environ, max_age=VENDOR_MAX_AGE)
    except NotFound:  # a package that no longer ships it: the pin says which does
        raise HttpProblem(404, "Not found", f"no file {name} of this page") from None
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _own(request, mimetype, text, policy):
    response = Response(text, mimetype=mimetype)  # werkzeug adds charset=utf-8 to text types
    response.headers["Content-Security-Policy"] = policy
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.cache_control.no_cache = True  # revalidated each time: it names the other files
    response.add_etag()
    return response.make_conditional(request)
