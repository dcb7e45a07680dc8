"""Input an integrator should not send: oversized, chunked or lying bodies, bodies that are not
objects, unknown fields and parameters, odd ids in paths, and failures that must not leak."""
import json
import socket

import pytest
import requests

from gateway.web import MAX_BODY_BYTES
from tests.conftest import ADMIN_KEY
from tests.e2e.world import STREET, XINGHUA, need, ok, seed

pytestmark = pytest.mark.e2e
PROBLEM = "application/problem+json"


def problem(response, status):
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith(PROBLEM)
    return response.json()


def raw_request(base, head, body=b"", read_timeout=10):
    """Send bytes as they are (requests would fix a lying Content-Length); the status and body."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=read_timeout) as sock:
        sock.sendall(head.encode() + body)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _length(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1]


def _length(answer):
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def head(method, path, **headers):
    lines = [f"{method} /api/v1{path} HTTP/1.1", "Host: localhost", f"Authorization: Bearer {ADMIN_KEY}",
             "Content-Type: application/json", "Connection: close", *(f"{k.replace('_', '-')}: {v}" for k, v in
                                                                       headers.items())]
    return "\r\n".join(lines) + "\r\n\r\n"


def chunked(body, size=65536):
    return b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size])
                    for i in range(0, len(body), size)) + b"0\r\n\r\n"


def test_bodies_over_the_limit_are_refused_with_413_however_they_come(platform):
    big = json.dumps({"path": "tianjin", "name": "x" * (MAX_BODY_BYTES + 10), "level": "city"}).encode()
    problem(platform.session.post(platform.base + "/api/v1/regions", data=big,
                                  headers={"Content-Type": "application/json"}), 413)
    # chunked: no Content-Length to check first; reading stops at the limit
    status, body = raw_request(platform.base, head("POST", "/regions", Transfer_Encoding="chunked"), chunked(big))
    assert status == 413 and json.loads(body)["status"] == 413
    # a Content-Length over the limit with a short body: refused at once, nothing waited for
    status, _ = raw_request(platform.base, head("POST", "/regions", Content_Length=MAX_BODY_BYTES * 50), b"{}",
                            read_timeout=5)
    assert status == 413
    assert ok(platform.get("/regions"), 200)["items"] == []


def test_a_chunked_body_is_read_not_taken_for_empty(platform):
    body = json.dumps({"path": "tianjin", "name": "天津市", "level": "city"}, ensure_ascii=False).encode()
    status, answer = raw_request(platform.base, head("POST", "/regions", Transfer_Encoding="chunked"),
                                 chunked(body, size=7))
    assert status == 201, answer
    assert json.loads(answer)["name"] == "天津市"


def test_a_content_length_shorter_than_the_body_reads_only_what_it_declares(platform):
    body = json.dumps({"path": "tianjin", "name": "天津市", "level": "city"}).encode()
    status, answer = raw_request(platform.base, head("POST", "/regions", Content_Length=10), body)
    assert status == 400 and json.loads(answer)["title"] == "Malformed JSON"


@pytest.mark.parametrize("body", [b"[]", b'[{"path": "tianjin"}]', b'"tianjin"', b"null", b"42", b"true",
                                  b'{"path": "tianjin"', b"\xff\xfe", b'{"a": NaN',
                                  b'{"path": "tianjin", "name": "\\ud800", "level": "city"}',
                                  b'{"path": "tianjin", "name": "x", "level": "city", "n": NaN}', b'{"n": -Infinity}'])
def test_a_body_that_is_not_a_json_object_is_a_400_problem(platform, body):
    response = platform.session.post(platform.base + "/api/v1/regions", data=body,
                                     headers={"Content-Type": "application/json"})
    assert problem(response, 400)["title"] == "Malformed JSON"


def test_unknown_fields_are_refused_at_every_level_naming_them(platform):
    seed(platform)
    body = need()
    body["requirements"]["volunteers"]["skils"] = ["errands"]
    body["requirements"]["resources"][0]["colour"] = "white"
    errors = problem(platform.post("/needs", body), 422)["errors"]
    assert errors == {"requirements": {"volunteers": {"skils": ["Unknown field."]},
                                       "resources": {"0": {"colour": ["Unknown field."]}}}}
    assert ok(platform.get("/needs"), 200)["items"] == []
    errors = problem(platform.post("/donations", {"donor_id": "donor-grain", "region": STREET, "lines": [
        {"item": "rice", "quantity": 1, "unit": "kg", "expiry": "2027-01-01"}]}), 422)["errors"]
    assert errors == {"lines": {"0": {"expiry": ["Unknown field."]}}}


def test_unknown_query_parameters_and_body_fields_are_refused_naming_them(platform):
    seed(platform)
    assert problem(platform.get("/needs", params={"colour": "red"}), 422)["errors"] == {
        "colour": ["Unknown field."]}
    # a route that takes no parameters, or no body, refuses them too
    assert problem(platform.get("/dead-letters", params={"all": 1}), 422)["errors"] == {
        "all": ["Unknown parameter."]}
    assert problem(platform.get("/volunteers/vol-0", params={"expand": "teams"}), 422)["errors"] == {
        "expand": ["Unknown parameter."]}
    assert problem(platform.post("/organisations/org-x/projects/p-1/close", {"reason": "x"}), 422)["errors"] == {
        "reason": ["Unknown field."]}


@pytest.mark.parametrize("path", ["/needs", "/calls", "/lots", "/organisations", "/appeals",
                                  "/volunteers/vol-0/ledger", "/funds/fund-x/ledger", "/donors/donor-grain/receipts"])
def test_pages_are_capped_at_200(platform, path):
    seed(platform)
    assert "limit" in problem(platform.get(path, params={"limit": 201}), 422)["errors"]
    assert "limit" in problem(platform.get(path, params={"limit": 0}), 422)["errors"]
    assert platform.get(path, params={"limit": 200}).status_code in (200, 404)  # the fund does not exist


@pytest.mark.parametrize("record_id", ["x" * 4000, "中文编号", "..%2F..%2Fregions", "..", "$where", "$gt",
                                       "need-1%00", "%F0%9F%98%80", "a%20b", "{\"$ne\":null}", "%C0%AF"])
def test_odd_ids_in_paths_are_404_problems_never_500(platform, record_id):
    for method, path in [("GET", "/needs/{}"), ("GET", "/calls/{}"), ("GET", "/volunteers/{}"),
                         ("GET", "/organisations/{}"), ("GET", "/cases/{}"), ("POST", "/pledges/{}/delivery"),
                         ("DELETE", "/calls/{}/claims/vol-0"), ("GET", "/dead-letters/{}"),
                         ("POST", "/needs/{}/cancel")]:
        response = platform.session.request(method, platform.base + "/api/v1" + path.format(record_id),
                                            json={"reason": "x"} if path.endswith("cancel") else None, timeout=20)
        assert response.status_code in (404, 422), (method, path, response.status_code, response.text)
        assert response.headers["Content-Type"].startswith(PROBLEM)


def test_a_request_line_over_the_servers_limit_is_refused_before_the_gateway(platform):
    # eventlet's limit (8 KiB request line): 414, from the server itself
    assert platform.get("/needs/" + "x" * 10_000).status_code == 414


def test_chinese_text_round_trips_byte_identical(platform):
    seed(platform)
    names = {"volunteer": "王秀英·社区志愿者𠀀", "team": "针情裁缝（星华）", "organisation": "邻里串门互助会",
             "station": "泰达街道社会工作服务站（二站）"}
    ok(platform.post("/regions", {"path": "tianjin/binhai/xinbei", "name": "新北街道", "level": "street"}), 201)
    created = {
        "volunteer": ok(platform.post("/volunteers", {"id": "vol-zh", "name": names["volunteer"],
                                                      "community": XINGHUA, "skills": ["陪诊"]}), 201),
        "team": ok(platform.post("/teams", {"id": "team-zh", "name": names["team"], "community": XINGHUA}), 201),
        "organisation": ok(platform.post("/organisations", {"id": "org-zh", "name": names["organisation"],
                                                            "community": XINGHUA, "categories": ["errands"]}), 201),
        "station": ok(platform.post("/stations", {"id": "station-zh", "name": names["station"],
                                                  "street": "tianjin/binhai/xinbei"}), 201),
    }
    paths = {"volunteer": "/volunteers/vol-zh", "team": "/teams/team-zh", "organisation": "/organisations/org-zh",
             "station": "/stations/station-zh"}
    for kind, name in names.items():
        assert created[kind]["name"] == name
        read = platform.get(paths[kind])
        assert read.json()["name"] == name
        assert name.encode("utf-8") in read.content  # raw UTF-8, not \\u escapes
    assert ok(platform.get("/volunteers/vol-zh"), 200)["skills"] == ["陪诊"]
    need_id = ok(platform.post("/needs", {**need(volunteers=0, rice=0), "description": "独居老人需要代购米面，电梯停运"}),
                 202)["id"]
    platform.wait_need(need_id, lambda n: n["status"] == "linked")


@pytest.mark.in_process("it replaces a service's method in this process")
def test_a_failure_inside_a_service_is_a_generic_500_without_its_type_or_message(platform, monkeypatch):
    from services.volunteers.service import VolunteersService

    def broken(self, volunteer_id):
        raise KeyError("王秀英 13812345678 in volunteers.by_phone")
    monkeypatch.setattr(VolunteersService, "get_volunteer", broken)
    response = platform.get("/volunteers/vol-0")
    body = problem(response, 500)
    assert body == {"type": "https://wushe.dev/problems/500", "title": "Internal error", "status": 500,
                    "detail": "the request failed; it has been logged with its correlation id"}
    for leaked in ("KeyError", "王秀英", "13812345678", "by_phone", "Traceback", "RemoteError"):
        assert leaked not in response.text
    assert response.headers["X-Correlation-Id"]


@pytest.mark.in_process("it replaces the gateway's code in this process")
def test_a_failure_in_the_gateway_is_a_generic_500_without_its_type_or_message(platform, monkeypatch):
    import gateway.service
    seed(platform)
    need_id = ok(platform.post("/needs", need(volunteers=0, rice=0)), 202)["id"]

    def broken(page, resident=None):
        raise ZeroDivisionError("view of 王秀英")
    monkeypatch.setattr(gateway.service, "page_with", broken)  # what makes the answer of a read
    response = platform.get(f"/needs/{need_id}")
    assert problem(response, 500)["detail"] == "the request failed; it has been logged with its correlation id"
    assert "ZeroDivisionError" not in response.text and "王秀英" not in response.text


@pytest.mark.parametrize("method, path, allow", [
    ("PUT", "/openapi.json", "GET, HEAD"),
    ("DELETE", "/needs", "GET, HEAD, POST"),
    ("PATCH", "/needs/need-nope", "GET, HEAD"),
    ("BREW", "/needs", "GET, HEAD, POST"),
    ("OPTIONS", "/needs", "GET, HEAD, POST"),  # no CORS configured: OPTIONS is a method like any other
    ("POST", "/keys/key-nope", "DELETE"),
])
def test_a_method_a_path_does_not_take_is_a_405_problem_with_that_paths_allow(platform, method, path, allow):
    response = platform.session.request(method, platform.base + "/api/v1" + path, timeout=10)
    assert problem(response, 405)["status"] == 405
    assert response.headers["Allow"] == allow
    assert "Access-Control-Allow-Origin" not in response.headers and "Vary" not in response.headers
    assert response.headers["X-Correlation-Id"]  # as every other answer
    quoted = platform.session.request(method, platform.base + "/api/v1" + path, timeout=10,
                                      headers={"X-Correlation-Id": "hotline-236-0001"})
    assert quoted.headers["X-Correlation-Id"] == "hotline-236-0001"


@pytest.mark.parametrize("method", ["GET", "PUT", "OPTIONS", "BREW"])
def test_a_path_no_route_has_is_a_404_problem_whatever_the_method(platform, method):
    response = platform.session.request(method, platform.base + "/api/v2/needs", timeout=10)
    assert problem(response, 404)["detail"] == f"no route {method} /api/v2/needs"
    assert "<html" not in response.text.lower()


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "text/json"])
def test_a_body_not_sent_as_json_is_a_415_problem(platform, content_type):
    seed(platform)
    headers = {"Content-Type": content_type} if content_type else {}
    session = requests.Session()  # requests adds no Content-Type for bytes of its own
    response = session.post(platform.base + "/api/v1/needs", data=json.dumps(need()).encode(),
                            headers={"Authorization": f"Bearer {ADMIN_KEY}", **headers}, timeout=10)
    assert "Content-Type" in response.request.headers or content_type is None
    assert problem(response, 415)["title"] == "Unsupported media type"


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/JSON",
                                          "application/vnd.wushe+json"])
def test_json_and_plus_json_bodies_are_taken_with_any_charset(platform, content_type):
    seed(platform)
    response = platform.session.post(platform.base + "/api/v1/needs", data=json.dumps(need()).encode(),
                                     headers={"Content-Type": content_type}, timeout=10)
    assert response.status_code == 202, response.text


def test_an_empty_body_needs_no_content_type(platform):
    # a route whose body may be left out (all of ReplayIn is optional): nothing sent, no type needed
    response = requests.post(platform.base + "/api/v1/dead-letters/community/replay",
                             headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10)
    assert "Content-Type" not in response.request.headers
    assert ok(response, 200) == {"replayed": 0}


@pytest.mark.parametrize("body", [b"[" * 1000 + b"]" * 1000,  # 2 KB: was a RecursionError, a 500
                                  b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                                  b'{"a": ' + b"[" * 32 + b"{}" + b"]" * 32 + b"}"])  # 34 deep, 46 bytes
def test_json_nested_deeper_than_32_is_a_400_problem_never_a_500(platform, body):
    response = platform.session.post(platform.base + "/api/v1/needs", data=body,
                                     headers={"Content-Type": "application/json"}, timeout=10)
    assert "nests arrays and objects more than 32 deep" in problem(response, 400)["detail"]


def test_a_204_has_no_content_type(platform):
    seed(platform)
    key_id = ok(platform.post("/keys", {"role": "integrator", "region": XINGHUA}), 201)["id"]
    response = platform.session.delete(f"{platform.base}/api/v1/keys/{key_id}", timeout=10)
    assert response.status_code == 204 and response.content == b""
    assert "Content-Type" not in response.headers


def test_a_path_id_no_id_can_be_is_404_before_anything_is_looked_up(platform):
    assert problem(platform.get("/needs/need-1%0A"), 404)["detail"] == "no need need-1\n"
    assert problem(platform.get("/calls/" + "c" * 65), 404)["status"] == 404
