"""The docs page an integrator opens in a browser: Swagger UI, its files served from the installed
package that carries them (no CDN: stations' and government networks have no internet), reading
the OpenAPI document by its URL relative to the page, so that it works behind a proxy prefix."""
import importlib.util
from pathlib import Path

from werkzeug.exceptions import NotFound
from werkzeug.utils import send_from_directory
from werkzeug.wrappers import Response

from gateway.web import HttpProblem


def _dist(package, folder):
    # located, not imported: flask_swagger_ui's __init__ imports Flask, which the gateway does not use
    spec = importlib.util.find_spec(package)
    if spec is None:
        raise RuntimeError(f"the docs page needs the {package} package (pyproject.toml)")
    return Path(spec.submodule_search_locations[0]) / folder


SWAGGER_UI = _dist("flask_swagger_ui", "dist")
# the vendor files change only with the package: cached an hour, then revalidated by their ETag
VENDOR_MAX_AGE = 3600
# the page loads nothing from anywhere else, whatever a browser or a later Swagger UI would like to
# (Swagger UI styles its elements inline and draws its icons as data: images)
POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
          "object-src 'none'; base-uri 'none'; frame-ancestors 'self'")

PAGE = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
  <meta charset="utf-8">
  <title>Wushe gateway API (五社联动)</title>
  <link rel="stylesheet" href="docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="docs/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/swagger-ui-bundle.js"></script>
  <script src="docs/wushe-docs.js"></script>
</body>
</html>
"""

# in a file of its own, not inline, so that the policy needs no 'unsafe-inline' for scripts
INITIALISER = """window.ui = SwaggerUIBundle({
  url: "openapi.json",          // relative to the page: /api/v1/openapi.json, behind any prefix
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null            // its default sends the document to validator.swagger.io
});
"""

OWN = {"wushe-docs.js": ("text/javascript", INITIALISER)}
# Swagger UI's files the page names; the package's others (its Flask template, LICENSE…) are not served
VENDOR = ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png")
# what the asset route answers, for the OpenAPI document
CONTENT = {media: {"schema": {"type": "string", "format": "binary"}}
           for media in ("text/javascript", "text/css", "image/png")}


def page(request):
    return _own(request, "text/html", PAGE)


def asset(request, name):
    """A file of the page: ours, or one of Swagger UI's that it names (404 for any other name)."""
    if name in OWN:
        return _own(request, *OWN[name])
    if name not in VENDOR:
        raise HttpProblem(404, "Not found", f"no docs file {name}")
    try:
        response = send_from_directory(SWAGGER_UI, name, request.environ, max_age=VENDOR_MAX_AGE)
    except NotFound:  # a package that no longer ships it: the pin in pyproject.toml says which does
        raise HttpProblem(404, "Not found", f"no docs file {name}") from None
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _own(request, mimetype, text):
    response = Response(text, mimetype=mimetype)  # werkzeug adds charset=utf-8 to text types
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.cache_control.no_cache = True  # revalidated each time: it names the other files
    response.add_etag()
    return response.make_conditional(request)
