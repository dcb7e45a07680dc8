"""The docs pages' making (gateway/docs.py); tests/e2e/test_docs_page.py opens them in a browser."""
from pathlib import Path

import pytest

from gateway import docs
from gateway.web import HttpProblem


def test_a_gateway_without_the_events_renderer_answers_503_saying_what_to_install(tmp_path):
    with pytest.raises(HttpProblem) as refused:
        docs.page(None, docs.EVENTS, tmp_path)
    assert refused.value.status == 503 and "WUSHE_EVENTS_PAGE_DIR" in refused.value.detail


def test_the_events_renderer_is_the_configured_folder_or_the_one_make_installs():
    assert docs.events_renderer({"EVENTS_PAGE_DIR": "/app/events-page"}) == Path("/app/events-page")
    assert docs.events_renderer({"EVENTS_PAGE_DIR": ""}) == docs.EVENTS_RENDERER


@pytest.mark.parametrize("page", [docs.API, docs.EVENTS], ids=["docs", "event-docs"])
def test_a_page_names_its_files_relative_to_itself(page):
    html = page.html()
    assert "//" not in html  # so that it works behind a proxy's prefix
    for name in (*page.styles, *page.scripts, page.own):
        assert f'"{page.folder}/{name}"' in html
    assert set(page.styles) | set(page.scripts) <= set(page.files)


def test_only_the_events_page_may_evaluate_code_and_both_load_only_from_the_gateway():
    assert "'unsafe-eval'" in docs.EVENTS.policy and "'unsafe-eval'" not in docs.API.policy
    for page in (docs.API, docs.EVENTS):
        assert page.policy.startswith("default-src 'self';") and "'unsafe-inline'" not in page.policy.split("style-src")[0]


def test_the_documents_server_is_the_gateway_that_serves_it_behind_any_prefix():
    from urllib.parse import urljoin

    from gateway.openapi import document
    from gateway.web import ROUTES
    import gateway.service  # noqa: F401 — declares the routes
    (server,) = document(ROUTES)["servers"]
    # RFC 3986 resolution, as Swagger UI's "Try it out" does it against the document's URL
    for base in ["http://127.0.0.1:8000/", "https://gov.example.cn/wushe/"]:
        assert urljoin(base + "api/v1/openapi.json", server["url"]) == base


def test_operation_ids_are_the_handlers_names_unique_and_fit_for_a_generated_client():
    from gateway.openapi import document
    from gateway.web import ROUTES
    import gateway.service  # noqa: F401
    ids = [op["operationId"] for ops in document(ROUTES)["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids)) and all(i.isidentifier() for i in ids)
    assert {"register_need", "get_need", "claim", "event_docs_page"} <= set(ids)
