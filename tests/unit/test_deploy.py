"""deploy/: the generated files are current, the overlays render and validate offline, compose is well formed.

Core kinds are checked with kubernetes-validate (strict: an unknown field fails), the operators' kinds
against the schemas in deploy/k8s/schemas/, deploy/compose.yaml against the compose-spec schema. The
overlays are rendered by `kubectl kustomize` (kustomize built into kubectl).
"""
from __future__ import annotations

import copy
import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from services.common.settings import DEFAULT_WEB

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.32.0"
CRD_SCHEMAS = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): "rabbitmqcluster_v1beta1.json",
    ("rabbitmq.com/v1beta1", "User"): "user_v1beta1.json",
    ("rabbitmq.com/v1beta1", "Permission"): "permission_v1beta1.json",
    ("postgresql.cnpg.io/v1", "Cluster"): "cluster_v1.json",
    ("postgresql.cnpg.io/v1", "Database"): "database_v1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor_v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule_v1.json",
}
# Set on the pods only to build AMQP_URI and the database URL from the operators' Secrets.
HELPER_VARIABLES = {"AMQP_USER", "AMQP_PASSWORD", "DB_USER", "DB_PASSWORD"}


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_deploy", ROOT / "scripts" / "gen_deploy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_deploy = load_generator()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, list[dict]]:
    """Each overlay rendered, from a copy of deploy/k8s with the production secrets file filled in."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    tree = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, tree)
    secrets = tree / "overlays" / "production" / "secrets"
    example = (secrets / "amqp.env.example").read_text()
    (secrets / "amqp.env").write_text(example.replace("password=", "password=Test0nly"))
    out = {}
    for overlay in ("dev", "production"):
        result = subprocess.run(["kubectl", "kustomize", str(tree / "overlays" / overlay)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        out[overlay] = [d for d in yaml.safe_load_all(result.stdout) if d]
    return out


def problems(document: dict) -> list[str]:
    """What the schemas say is wrong with one object (nothing when it is valid)."""
    key = (document.get("apiVersion"), document.get("kind"))
    where = f"{key[1]}/{document.get('metadata', {}).get('name')}"
    if key in CRD_SCHEMAS:
        schema = json.loads((K8S / "schemas" / CRD_SCHEMAS[key]).read_text())
        validator = jsonschema.Draft7Validator(schema)
        return [f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]
    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{where}: no schema for {key}"]
    except kubernetes_validate.ValidationError as error:
        return [f"{where}: {'/'.join(map(str, error.path))}: {error.message}"]
    return []


def of_kind(documents, kind):
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == kind}


# ---------------------------------------------------------------- generated files

def test_generated_files_are_current():
    assert gen_deploy.stale() == [], "stale: run python scripts/gen_deploy.py"


def test_the_rules_are_every_rule_file_and_only_those():
    files = gen_deploy.rule_files()
    assert files and all(yaml.safe_load(p.read_text())["groups"] for p in files)
    assert ROOT / "deploy" / "prometheus" / "prometheus.yml" not in files
    rules = gen_deploy.prometheus_rules()
    assert [r["spec"]["groups"] for r in rules] == [yaml.safe_load(p.read_text())["groups"] for p in files]
    assert gen_deploy.compose_rules()["groups"] == [g for r in rules for g in r["spec"]["groups"]]


def test_the_reference_configmap_holds_every_reference_file_as_it_is():
    data = gen_deploy.reference_configmap()["data"]
    files = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "deploy" / "reference").iterdir() if p.is_file()}
    assert data == files and "district.yaml" in data


# ---------------------------------------------------------------- the rendered overlays

@pytest.mark.parametrize("overlay", ["dev", "production"])
def test_every_object_is_valid_against_its_schema(rendered, overlay):
    found = [p for d in rendered[overlay] for p in problems(d)]
    assert found == []
    assert {d["kind"] for d in rendered[overlay]} >= {
        "Deployment", "Service", "PodDisruptionBudget", "ConfigMap", "Secret", "Namespace",
        "RabbitmqCluster", "Cluster", "Database", "ServiceMonitor", "PrometheusRule"}


def test_the_schemas_catch_a_misspelt_field_and_a_wrong_type(rendered):
    documents = rendered["production"]
    broker = copy.deepcopy(of_kind(documents, "RabbitmqCluster")["chuishao-rabbitmq"])
    broker["spec"]["replica"] = broker["spec"].pop("replicas")
    assert any("'replica' was unexpected" in p for p in problems(broker))
    deployment = copy.deepcopy(of_kind(documents, "Deployment")["whistle"])
    deployment["spec"]["replicas"] = "three"
    assert problems(deployment)
    rule = copy.deepcopy(of_kind(documents, "PrometheusRule"))
    first = next(iter(rule.values()))
    first["spec"]["groups"][0]["rules"][0]["for"] = "five minutes"
    assert problems(first)


@pytest.mark.parametrize("overlay", ["dev", "production"])
def test_each_service_is_probed_on_health_at_its_port_and_kept_available(rendered, overlay):
    documents = rendered[overlay]
    deployments, services = of_kind(documents, "Deployment"), of_kind(documents, "Service")
    budgets, monitors = of_kind(documents, "PodDisruptionBudget"), of_kind(documents, "ServiceMonitor")
    assert set(deployments) == set(DEFAULT_WEB)
    for name, deployment in deployments.items():
        port = int(DEFAULT_WEB[name].rsplit(":", 1)[1])
        pod = deployment["spec"]["template"]
        container = next(c for c in pod["spec"]["containers"] if c["name"] == name)
        assert container["ports"] == [{"name": "http", "containerPort": port}]
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, (name, probe)
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env[f"{name.upper()}_WEB_ADDRESS"] == f"0.0.0.0:{port}"
        assert env[f"{name.upper()}_DATABASE_URL"].endswith(f"/{name}")
        assert pod["spec"]["initContainers"][0]["command"][-2:] == ["upgrade", name]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod["metadata"]["labels"].items()
        assert services[name]["spec"]["selector"] == selector
        assert services[name]["spec"]["ports"][0]["port"] == port
        assert budgets[name]["spec"]["selector"]["matchLabels"] == selector
        assert monitors[name]["spec"]["selector"]["matchLabels"].items() <= services[name]["metadata"]["labels"].items()
        assert monitors[name]["spec"]["endpoints"][0]["port"] == "http"


def test_production_runs_three_broker_nodes_three_postgres_instances_and_replicated_services(rendered):
    documents = rendered["production"]
    assert of_kind(documents, "RabbitmqCluster")["chuishao-rabbitmq"]["spec"]["replicas"] == 3
    assert of_kind(documents, "Cluster")["chuishao-pg"]["spec"]["instances"] == 3
    replicas = {n: d["spec"]["replicas"] for n, d in of_kind(documents, "Deployment").items()}
    assert replicas == {"whistle": 3, "dispatch": 3, "roster": 2, "metrics": 1}
    budgets = of_kind(documents, "PodDisruptionBudget")
    assert all(budgets[n]["spec"] == {"minAvailable": 1, "selector": budgets[n]["spec"]["selector"]}
               for n in ("whistle", "dispatch", "roster"))
    databases = {d["spec"]["name"] for d in of_kind(documents, "Database").values()}
    initdb = of_kind(documents, "Cluster")["chuishao-pg"]["spec"]["bootstrap"]["initdb"]["database"]
    assert databases | {initdb} == set(DEFAULT_WEB)


def test_the_pods_set_only_variables_the_services_read(rendered):
    read = variables_settings_reads()
    documented = variables_readme_documents()
    settings = of_kind(rendered["production"], "ConfigMap")["chuishao-settings"]["data"]
    assert set(settings) <= read & documented
    for deployment in of_kind(rendered["production"], "Deployment").values():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert {e["name"] for e in container["env"]} - HELPER_VARIABLES <= read


def test_no_secret_is_committed():
    dev = yaml.safe_load((K8S / "overlays" / "dev" / "kustomization.yaml").read_text())
    assert "password=dev-only-not-a-secret" in dev["secretGenerator"][0]["literals"]
    example = (K8S / "overlays" / "production" / "secrets" / "amqp.env.example").read_text()
    assert re.search(r"^password=$", example, re.M)
    ignored = subprocess.run(["git", "check-ignore", "-q", "deploy/k8s/overlays/production/secrets/amqp.env"],
                             cwd=ROOT).returncode
    assert ignored == 0
    compose = (ROOT / "deploy" / "compose.yaml").read_text()
    assert "${RABBITMQ_PASSWORD:?" in compose and "${POSTGRES_PASSWORD:?" in compose


def variables_settings_reads() -> set[str]:
    sources = [ROOT / "services" / "common" / "settings.py", ROOT / "services" / "common" / "reference.py",
               ROOT / "services" / "dispatch" / "service.py"]
    names = set()
    for source in sources:
        text = source.read_text()
        names |= set(re.findall(r"""env(?:iron)?\.get\(["']([A-Z_]+)["']""", text))
        for suffix in re.findall(r"""env\.get\(f["']\{service\.upper\(\)\}(_[A-Z_]+)["']""", text):
            names |= {f"{s.upper()}{suffix}" for s in DEFAULT_WEB}
    return names


def variables_readme_documents() -> set[str]:
    table = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z_]+)`", table, re.M))


# ---------------------------------------------------------------- compose

def test_compose_file_is_valid_against_the_compose_spec():
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    schema = json.loads((ROOT / "deploy" / "schemas" / "compose-spec.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    assert [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)] == []
    services = compose["services"]
    assert set(services) == {"rabbitmq", "postgres", "migrate", "prometheus", *DEFAULT_WEB}
    for name in DEFAULT_WEB:
        port = DEFAULT_WEB[name].rsplit(":", 1)[1]
        assert services[name]["command"] == [name]
        assert services[name]["environment"][f"{name.upper()}_WEB_ADDRESS"] == f"0.0.0.0:{port}"
        assert services[name]["healthcheck"]["test"][-1] == f"http://127.0.0.1:{port}/health"
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_the_compose_schema_rejects_what_compose_would():
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    schema = json.loads((ROOT / "deploy" / "schemas" / "compose-spec.json").read_text())
    compose["services"]["whistle"]["restart_policy"] = "always"
    assert list(jsonschema.validators.validator_for(schema)(schema).iter_errors(compose))


def test_compose_prometheus_scrapes_the_services_and_loads_the_generated_rules():
    config = yaml.safe_load((ROOT / "deploy" / "compose" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["prometheus-rules.yml"]
    targets = config["scrape_configs"][0]["static_configs"][0]["targets"]
    assert sorted(targets) == sorted(f"{n}:{a.rsplit(':', 1)[1]}" for n, a in DEFAULT_WEB.items())
    assert config["scrape_configs"][0]["job_name"] == "chuishao"      # the job the ServiceDown alert names
