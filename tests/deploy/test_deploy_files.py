"""deploy/: compose, Kubernetes, Prometheus and Grafana files cannot run here (no docker daemon,
no cluster), so they are checked as files: they parse, they validate against the Kubernetes
schemas (kubernetes-validate, offline), every PromQL expression parses (promql-parser), and every
metric a dashboard panel or a loaded alert reads is one the code exports. No broker needed."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import prometheus_client
import promql_parser
import pytest
import yaml

import services.charity.metrics  # noqa: F401 — each registers its part of the catalog
import services.community.metrics  # noqa: F401
import services.orgs.metrics  # noqa: F401
import services.volunteers.metrics  # noqa: F401
import services.workers.metrics  # noqa: F401
import wushe.runtime.metrics  # noqa: F401

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SERVICES = ("community", "orgs", "workers", "volunteers", "charity")
PROCESSES = SERVICES + ("gateway",)
# series the rules and panels may read that the code does not export: Prometheus's own `up` and
# RabbitMQ's rabbitmq_prometheus plugin's alarms (served on :15692)
NOT_OURS = {"up", "rabbitmq_alarms_memory_used_watermark", "rabbitmq_alarms_free_disk_space_watermark",
            # HAProxy's own exporter (the edge): tests/e2e/test_overload.py reads it off a running one
            "haproxy_frontend_http_responses_total"}
K8S_VERSION = "1.30.0"  # the oldest minor the manifests target (autoscaling/v2, policy/v1)


def load(path):
    return yaml.safe_load((DEPLOY / path).read_text(encoding="utf-8"))


def load_all(path):
    return [d for d in yaml.safe_load_all((DEPLOY / path).read_text(encoding="utf-8")) if d]


def exported():
    """Every series name the process's registry exposes (counters as _total, histograms as
    _bucket/_sum/_count), read from prometheus_client, not from a list kept by hand."""
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
    """The series a PromQL expression reads, from promql-parser's syntax tree."""
    names = set()

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            name = node.name or next(m.value for m in node.matchers.matchers if m.name == "__name__")
            names.add(name)

    promql_parser.walk(promql_parser.parse(grafana_free(expr)), visit)
    return names


def grafana_free(expr):
    """A dashboard query with Grafana's variables replaced by what they expand to."""
    return re.sub(r"\$(__\w+|\w+)", ".*", expr).replace("[.*]", "[5m]")


# --- every file parses ---------------------------------------------------------------------------

YAML_FILES = sorted(p.relative_to(DEPLOY) for p in DEPLOY.rglob("*.y*ml"))


def test_the_yaml_files_are_found():
    assert {"docker-compose.yml", "prometheus/prometheus.yml", "prometheus/alerts.yml",
            "k8s/kustomization.yaml"} <= {str(p) for p in YAML_FILES}


@pytest.mark.parametrize("path", YAML_FILES, ids=str)
def test_every_yaml_file_parses(path):
    assert load_all(path)


# --- docker compose ------------------------------------------------------------------------------

def compose():
    return load("docker-compose.yml")["services"]


def test_compose_runs_every_process_from_one_image_with_its_services_chosen():
    services = compose()
    assert set(PROCESSES) <= set(services)
    builds = {json.dumps(services[name].get("build"), sort_keys=True) for name in PROCESSES}
    assert {services[name]["image"] for name in PROCESSES} == {"wushe:latest"} and len(builds) == 1
    assert services["gateway"]["build"]["dockerfile"] == "deploy/Dockerfile"
    for name in PROCESSES:
        assert services[name]["command"] == ["--services", name]
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert 'ENTRYPOINT ["wushe", "run"]' in dockerfile and "FROM python:3.11-slim" in dockerfile
    assert re.search(r"^USER (?!root|0\b)\S+", dockerfile, re.M), "the image runs as a non-root user"


def test_every_compose_service_has_a_healthcheck_or_waits_on_a_condition():
    for name, service in compose().items():
        conditions = [d.get("condition") for d in service.get("depends_on", {}).values()]
        assert "healthcheck" in service or conditions, name
        assert all(c in ("service_healthy", "service_completed_successfully") for c in conditions), name
    for name in PROCESSES:
        depends = compose()[name]["depends_on"]
        assert depends["rabbitmq"]["condition"] == depends["mongo"]["condition"] == "service_healthy"
    assert {s for s, d in compose()["gateway"]["depends_on"].items()} >= set(SERVICES)
    assert "prometheus" not in compose() or "depends_on" not in compose()["prometheus"], \
        "monitoring must come up when the application does not"


def test_compose_health_checks_ask_the_right_things():
    services = compose()
    assert services["rabbitmq"]["healthcheck"]["test"] == ["CMD", "rabbitmq-diagnostics", "-q", "ping"]
    mongo = " ".join(services["mongo"]["healthcheck"]["test"])
    assert "rs.initiate" in mongo and "isWritablePrimary" in mongo and "--replSet" in services["mongo"]["command"]
    assert "/readyz" in " ".join(services["gateway"]["healthcheck"]["test"])
    for name in SERVICES:
        assert "9100/metrics" in " ".join(services[name]["healthcheck"]["test"])


def test_compose_environment_is_complete_and_holds_no_secret():
    services = compose()
    for name in PROCESSES:
        env = services[name]["environment"]
        assert env["MONGO_URI"] == "mongodb://mongo:27017/?replicaSet=rs0"
        assert env["AMQP_URI"].startswith("pyamqp://") and "@rabbitmq:5672/" in env["AMQP_URI"]
        assert env["WUSHE_METRICS_PORT"] == ("0" if name == "gateway" else "9100")
        # secrets are interpolated from deploy/.env and required (`:?`), never written here
        for key in ("WUSHE_ADMIN_KEY", "WUSHE_PII_KEY"):
            assert re.fullmatch(rf"\$\{{{key}:\?[^}}]+\}}", env[key]), (name, key)
        assert re.search(r"\$\{RABBITMQ_PASSWORD:\?", env["AMQP_URI"])
    documented = set(re.findall(r"^([A-Z_]+)=", (DEPLOY / ".env.example").read_text(encoding="utf-8"), re.M))
    used = set(re.findall(r"\$\{([A-Z_]+)", (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8")))
    assert used <= documented, used - documented
    assert not any(v for v in re.findall(r"^[A-Z_]+=(.*)$", (DEPLOY / ".env.example").read_text(), re.M)
                   if v not in ("", "wushe")), "the example holds no real value"


def test_compose_mounts_what_prometheus_and_grafana_read():
    services = compose()
    for volume in services["prometheus"]["volumes"] + services["grafana"]["volumes"]:
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert (DEPLOY / source).exists(), source
    assert (DEPLOY / "rabbitmq/enabled_plugins").read_text().strip() == "[rabbitmq_management,rabbitmq_prometheus]."


# --- Kubernetes ----------------------------------------------------------------------------------

def manifests():
    return {path: load_all(f"k8s/{path}") for path in load("k8s/kustomization.yaml")["resources"]}


def k8s_docs():
    return [doc for docs in manifests().values() for doc in docs]


@pytest.mark.parametrize("path", sorted(p.name for p in (DEPLOY / "k8s").glob("*.yaml")
                                        if p.name != "kustomization.yaml"))
def test_every_manifest_validates_against_the_kubernetes_schema(path):
    for doc in load_all(f"k8s/{path}"):
        # strict: an unknown field (a misspelt livenessProbe) is an error, not silently ignored
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_schema_check_would_catch_a_misspelt_field():
    deployment = next(d for d in k8s_docs() if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_every_process_has_a_deployment_with_probes_resources_and_config():
    deployments = {d["metadata"]["name"]: d for d in k8s_docs() if d["kind"] == "Deployment"}
    assert set(deployments) == set(PROCESSES)
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]
        container = pod["spec"]["containers"][0]
        assert container["args"] == ["--services", name]
        assert container["livenessProbe"] and container["readinessProbe"] and container["startupProbe"]
        assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        assert {"configMapRef": {"name": "wushe-config"}} in container["envFrom"]
        assert {"secretRef": {"name": "wushe-secrets"}} in container["envFrom"]
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    gateway = deployments["gateway"]["spec"]["template"]["spec"]["containers"][0]
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_secrets_are_only_in_the_secret_and_the_secret_is_not_applied():
    kinds = {d["kind"] for d in k8s_docs()}
    assert {"Namespace", "ConfigMap", "Service", "Ingress", "HorizontalPodAutoscaler"} <= kinds
    assert "Secret" not in kinds, "applying a template would overwrite the real keys"
    config = next(d for d in k8s_docs() if d["kind"] == "ConfigMap")["data"]
    assert not {"AMQP_URI", "MONGO_URI", "WUSHE_ADMIN_KEY", "WUSHE_PII_KEY"} & set(config)
    [secret] = load_all("k8s/secret.example.yaml")
    assert set(secret["stringData"]) == {"AMQP_URI", "MONGO_URI", "WUSHE_ADMIN_KEY", "WUSHE_PII_KEY"}
    assert all("REPLACE" in value for value in secret["stringData"].values())


def test_the_gateway_is_exposed_and_the_busiest_processes_autoscale():
    docs = k8s_docs()
    deployments = {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"}
    service = next(d for d in docs if d["kind"] == "Service")
    assert service["spec"]["selector"] == {"app": "gateway"}
    backends = [p["backend"]["service"]["name"] for d in docs if d["kind"] == "Ingress"
                for rule in d["spec"]["rules"] for p in rule["http"]["paths"]]
    assert backends == [service["metadata"]["name"]]
    targets = {d["spec"]["scaleTargetRef"]["name"] for d in docs if d["kind"] == "HorizontalPodAutoscaler"}
    assert targets == {"gateway", "community", "volunteers"} and targets <= deployments


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl is not installed")
def test_kustomize_builds_the_manifests():
    out = subprocess.run(["kubectl", "kustomize", str(DEPLOY / "k8s")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    built = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert len(built) == len(k8s_docs())
    images = {c["image"] for d in built if d["kind"] == "Deployment" for c in d["spec"]["template"]["spec"]["containers"]}
    assert len(images) == 1 and not images.pop().endswith(":latest")


# --- Prometheus ----------------------------------------------------------------------------------

def test_prometheus_scrapes_every_process_and_loads_the_rules():
    config = load("prometheus/prometheus.yml")
    assert config["rule_files"] == ["alerts.yml"]
    targets = {t for job in config["scrape_configs"] for group in job.get("static_configs", []) for t in group["targets"]}
    # the app's processes by DNS, so that every replica of a scaled service is scraped
    targets |= {f"{name}:{group['port']}" for job in config["scrape_configs"]
                for group in job.get("dns_sd_configs", []) if group["type"] == "A" for name in group["names"]}
    assert {f"{s}:9100" for s in SERVICES} | {"gateway:8000", "rabbitmq:15692"} <= targets
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert {"gateway", "services", "rabbitmq"} <= jobs


def test_every_process_is_scraped_at_one_endpoint():
    """One registry per process, served once: the gateway's processes on their HTTP port (and
    WUSHE_METRICS_PORT off), every other process on its metrics port; no process in both jobs."""
    config = load("prometheus/prometheus.yml")
    by_job = {job["job_name"]: {name for group in job.get("dns_sd_configs", []) for name in group["names"]}
              for job in config["scrape_configs"]}
    assert by_job["gateway"] == {"gateway"} and "gateway" not in by_job["services"]
    for name, service in compose().items():
        if "--services" in service.get("command", []) and "gateway" in service["command"][-1].split(","):
            assert service["environment"]["WUSHE_METRICS_PORT"] == "0", name
            assert name not in by_job["services"], name


PROMTOOL = shutil.which("promtool")
# `make test` installs it (deploy/ensure-prometheus.sh); run alone, these two skip without it and say so
NO_PROMTOOL = "promtool is not installed: ./deploy/ensure-prometheus.sh installs Debian's prometheus package"


@pytest.mark.skipif(not PROMTOOL, reason=NO_PROMTOOL)
def test_promtool_accepts_the_alert_rules():
    out = subprocess.run([PROMTOOL, "check", "rules", str(DEPLOY / "prometheus/alerts.yml")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in out.stdout


@pytest.mark.skipif(not PROMTOOL, reason=NO_PROMTOOL)
def test_promtool_accepts_the_scrape_config_and_the_rules_it_loads():
    out = subprocess.run([PROMTOOL, "check", "config", str(DEPLOY / "prometheus/prometheus.yml")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "is valid prometheus config file syntax" in out.stdout


def alert_rules(path="prometheus/alerts.yml"):
    return [rule for group in load(path)["groups"] for rule in group["rules"]]


def test_the_alerts_the_issue_asks_for_are_there():
    assert {r["alert"] for r in alert_rules()} >= {
        "WusheBrokerDown", "WusheServiceBrokerDisconnected", "WusheDeadLettersGrowing", "WusheLinkageSlow", "WusheNeedsEscalating",
        "WusheOutboxBacklog", "WusheStationNonCompliant"}


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_every_alert_parses_and_has_for_severity_summary_and_runbook(rule):
    assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}
    promql_parser.parse(rule["expr"])
    assert re.fullmatch(r"\d+[smh]", rule["for"])
    assert rule["labels"]["severity"] in ("page", "ticket")
    assert rule["annotations"]["summary"] and len(rule["annotations"]["runbook"]) > 40


def test_every_alert_name_is_unique():
    names = [r["alert"] for r in alert_rules()]
    assert len(names) == len(set(names))


def test_rules_point_at_the_first_things_to_look_at():
    runbooks = " ".join(r["annotations"]["runbook"] for r in alert_rules())
    assert "make dlq" in runbooks and "/readyz" in runbooks and "jq" in runbooks


# --- Grafana -------------------------------------------------------------------------------------

def dashboard():
    return json.loads((DEPLOY / "grafana/dashboards/wushe.json").read_text(encoding="utf-8"))


def dashboard_queries():
    return [t["expr"] for panel in dashboard()["panels"] for t in panel["targets"]]


def test_every_dashboard_query_parses_and_panels_are_whole():
    board = dashboard()
    assert board["uid"] and board["title"]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["targets"] and panel["gridPos"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "prometheus"
            promql_parser.parse(grafana_free(target["expr"]))


def test_the_dashboard_shows_what_the_issue_asks_for():
    text = " ".join(dashboard_queries())
    for needed in ("wushe_needs_total", "escalated", "category", "wushe_http_request_seconds_bucket",
                   "histogram_quantile(0.5,", "histogram_quantile(0.99,", "wushe_events_handled_total",
                   "wushe_events_retried_total", "wushe_events_dead_lettered_total",
                   "wushe_outbox_publish_failures_total", "wushe_rpc_seconds_bucket"):
        assert needed in text, needed


def test_grafana_is_provisioned_with_the_datasource_and_the_dashboards_folder():
    datasource = load("grafana/provisioning/datasources/prometheus.yml")["datasources"][0]
    assert datasource["uid"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    provider = load("grafana/provisioning/dashboards/wushe.yml")["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert "./grafana/dashboards:/var/lib/grafana/dashboards:ro" in compose()["grafana"]["volumes"]


# --- the key check: every metric read is one the code exports ------------------------------------

@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_every_metric_read_is_one_the_code_exports(source):
    exprs = [r["expr"] for r in alert_rules()] if source == "alerts" else dashboard_queries()
    read = set().union(*(metric_names(e) for e in exprs))
    assert len(read) >= 8  # the check reads real names, not nothing
    assert read - exported() - NOT_OURS == set()


def test_the_name_check_would_catch_a_metric_that_is_not_exported():
    assert metric_names('sum(rate(wushe_needs_teleported_total{district=~"$district"}[5m])) > 0') \
        - exported() == {"wushe_needs_teleported_total"}
    assert metric_names('{__name__="wushe_ghost"} or up') == {"wushe_ghost", "up"}


def test_exported_names_come_from_the_registry():
    names = exported()
    assert {"wushe_needs_total", "wushe_http_request_seconds_bucket", "wushe_outbox_backlog",
            "wushe_need_linkage_seconds_bucket", "wushe_broker_connected", "wushe_stations_noncompliant"} <= names


# --- the edge (HAProxy) --------------------------------------------------------------------------

HAPROXY = shutil.which("haproxy")
NO_HAPROXY = "haproxy is not installed: ./deploy/ensure-edge.sh installs Debian's haproxy package"


@pytest.mark.skipif(not HAPROXY, reason=NO_HAPROXY)
@pytest.mark.parametrize("gateways", ["compose", "run"])
def test_haproxy_accepts_the_edge_with_the_gateways_of_compose_and_of_wushe_run(gateways, tmp_path):
    from wushe.ops.edge import CONFIG, gateways_config
    second = DEPLOY / "edge/gateways-compose.cfg"
    if gateways == "run":
        second = tmp_path / "gateways.cfg"
        second.write_text(gateways_config([8000, 8001]))
    out = subprocess.run([HAPROXY, "-c", "-f", str(CONFIG), "-f", str(second)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Configuration file is valid" in out.stdout


def test_in_compose_integrators_reach_the_gateways_through_the_edge_and_it_is_scraped():
    services = compose()
    assert "ports" not in services["gateway"]  # replicas of it, behind the edge, publish nothing
    edge = services["edge"]
    assert edge["ports"] == ["8000:8080"] and edge["environment"]["WUSHE_EDGE_BIND"] == ":8080"
    assert edge["depends_on"] == {"gateway": {"condition": "service_healthy"}}
    assert "gateways-compose.cfg" in " ".join(edge["command"])
    targets = {t for job in load("prometheus/prometheus.yml")["scrape_configs"]
               for group in job.get("static_configs", []) for t in group["targets"]}
    assert f"edge:{edge['environment']['WUSHE_EDGE_METRICS_BIND'].rsplit(':', 1)[1]}" in targets
