"""deploy/: compose, Kubernetes, Prometheus and Grafana files cannot run here (no docker, no
cluster), so they are checked as files: they parse, they hang together, and every metric a
dashboard panel or an alert reads is one the code exports."""
import json
import re
from pathlib import Path

import kubernetes_validate
import prometheus_client
import promql_parser
import pytest
import yaml

import wushe.metrics  # noqa: F401 — registers the catalog

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SERVICES = ("community", "orgs", "workers", "volunteers", "charity", "gateway")
FROM_RABBITMQ = {"up"}  # Prometheus's own and the RabbitMQ plugin's series the rules may read


def load(path):
    return yaml.safe_load((DEPLOY / path).read_text(encoding="utf-8"))


def exported():
    names = set()
    for family in prometheus_client.REGISTRY.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
    return names


def metric_names(expr):
    """The series names a PromQL expression reads (identifiers followed by a selector, a range or
    an operator, never a function or a keyword)."""
    words = set(re.findall(r"\b([a-z_][a-z0-9_]*)\b(?=\s*[{\[)=<>!/*+-]|\s*$|\s+(?:or|and|unless)\b|\s*\)|\s*>)", expr))
    return {w for w in words if w.startswith(("wushe_", "rabbitmq_")) or w in FROM_RABBITMQ}


def test_compose_runs_every_service_from_one_image_with_health_and_ordered_start():
    compose = load("docker-compose.yml")["services"]
    assert set(SERVICES) <= set(compose)
    for name in SERVICES:
        service = compose[name]
        assert service["image"] == "wushe:latest" and service["command"][:3] == ["run", "--services", name]
        assert service["healthcheck"]["test"]
        assert service["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
        assert service["depends_on"]["mongo"]["condition"] == "service_healthy"
        env = service["environment"]
        assert "replicaSet=rs0" in env["MONGO_URI"] and env["AMQP_URI"].startswith("amqp://")
    for name, service in compose.items():
        assert "healthcheck" in service, name
    assert "--replSet" in compose["mongo"]["command"]
    assert "/readyz" in " ".join(compose["gateway"]["healthcheck"]["test"])


def test_kubernetes_manifests_are_whole():
    docs = [d for d in yaml.safe_load_all((DEPLOY / "k8s/wushe.yaml").read_text(encoding="utf-8")) if d]
    assert load("k8s/kustomization.yaml")["resources"] == ["wushe.yaml"]
    for doc in docs:
        assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == set(SERVICES)
    for name, deployment in deployments.items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["run", "--services", name]
        assert container["livenessProbe"] and container["readinessProbe"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector == {"app": name} and selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        assert {"configMapRef": {"name": "wushe-config"}} in container["envFrom"]
    assert deployments["gateway"]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] \
        == "/readyz"
    targets = {d["spec"]["scaleTargetRef"]["name"] for d in docs if d["kind"] == "HorizontalPodAutoscaler"}
    assert targets == {"gateway", "community", "volunteers"} and targets <= set(deployments)
    kinds = {d["kind"] for d in docs}
    assert {"Namespace", "ConfigMap", "Secret", "Service", "Ingress"} <= kinds


def test_kubernetes_manifests_validate_against_the_api_schemas():
    docs = [d for d in yaml.safe_load_all((DEPLOY / "k8s/wushe.yaml").read_text(encoding="utf-8")) if d]
    for doc in docs:
        kubernetes_validate.validate(doc, "1.30", strict=True)
    broken = {**docs[-1], "spec": {**docs[-1]["spec"], "minReplicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.30", strict=True)


def test_every_alert_and_panel_query_is_valid_promql():
    for expr in [r["expr"] for r in alert_rules()] + dashboard_queries():
        promql_parser.parse(expr)
    with pytest.raises(Exception):
        promql_parser.parse("sum(rate(wushe_needs_total[5m])")


def test_prometheus_scrapes_every_process_and_loads_the_rules():
    config = load("prometheus/prometheus.yml")
    assert config["rule_files"] == ["alerts.yml"]
    targets = {t for job in config["scrape_configs"] for group in job["static_configs"] for t in group["targets"]}
    assert {f"{s}:9100" for s in SERVICES if s != "gateway"} | {"gateway:8000", "rabbitmq:15692"} <= targets


def alert_rules():
    return [rule for group in load("prometheus/alerts.yml")["groups"] for rule in group["rules"]]


def test_every_alert_has_a_severity_a_summary_and_a_runbook():
    rules = alert_rules()
    assert {r["alert"] for r in rules} >= {"WusheBrokerDown", "WusheDeadLettersGrowing", "WusheOutboxBacklog",
                                          "WusheLinkageSlow", "WusheNeedsEscalating", "WusheStationNonCompliant"}
    for rule in rules:
        assert rule["labels"]["severity"] in ("page", "ticket"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["runbook"], rule["alert"]
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]


def dashboard_queries():
    dashboard = json.loads((DEPLOY / "grafana/dashboards/wushe.json").read_text(encoding="utf-8"))
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_every_metric_read_is_one_the_code_exports(source):
    exprs = [r["expr"] for r in alert_rules()] if source == "alerts" else dashboard_queries()
    read = set().union(*(metric_names(e) for e in exprs))
    assert len(read) >= 5  # the check reads real names, not nothing
    assert read - exported() - FROM_RABBITMQ == set()


def test_the_name_check_would_catch_a_metric_that_is_not_exported():
    assert metric_names('sum(rate(wushe_needs_teleported_total[5m]))') - exported() == {"wushe_needs_teleported_total"}


def test_grafana_is_provisioned_with_the_datasource_and_the_dashboards_folder():
    datasource = load("grafana/provisioning/datasources/prometheus.yml")["datasources"][0]
    assert datasource["uid"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    provider = load("grafana/provisioning/dashboards/wushe.yml")["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
