"""docker-compose.yml is checked by structure: no Docker engine runs here."""

from pathlib import Path

import yaml

from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_component_is_there_with_a_healthcheck() -> None:
    services = COMPOSE["services"]
    for name in ("kafka", "postgres", "intake", "scheduler", "notifier", "prometheus", "grafana"):
        assert name in services, name
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
        assert "image" in services[name] or "build" in services[name], f"{name} has no image or build"


def test_kafka_runs_kraft_single_node() -> None:
    env = COMPOSE["services"]["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "zookeeper" not in COMPOSE["services"]


def test_services_get_the_environment_their_settings_read() -> None:
    fields = {f"THUISBEST_{name.upper()}" for name in ServiceSettings.model_fields}
    for name, port in (("intake", 8081), ("scheduler", 8082), ("notifier", 8083)):
        svc = COMPOSE["services"][name]
        env = svc["environment"]
        assert set(env) <= fields, set(env) - fields
        for required in ("THUISBEST_KAFKA_BOOTSTRAP", "THUISBEST_DATABASE_URL", "THUISBEST_HTTP_PORT"):
            assert required in env, (name, required)
        assert env["THUISBEST_DATABASE_URL"].endswith("/" + name), "each service owns its database"
        assert env["THUISBEST_HTTP_PORT"] == str(port)
        assert svc["command"] == ["python", "-m", f"services.{name}"], "the command picks the service"
        assert (ROOT / "services" / name / "__main__.py").is_file()
        assert (ROOT / svc["build"]["dockerfile"]).is_file()
        deps = svc["depends_on"]
        assert deps["kafka"]["condition"] == deps["postgres"]["condition"] == "service_healthy"


def test_the_three_services_share_one_image() -> None:
    """One build of deploy/Dockerfile, no per-service build arguments: only the command differs."""
    services = [COMPOSE["services"][name] for name in ("intake", "scheduler", "notifier", "board")]
    assert len({svc["image"] for svc in services}) == 1
    for svc in services:
        assert svc["build"] == {"context": ".", "dockerfile": "deploy/Dockerfile"}
        network = svc["environment"].get("THUISBEST_NETWORK_FILE")
        assert network is None, "the image has no source tree: the packaged demo network is the default"


def test_prometheus_scrapes_all_four_and_grafana_is_provisioned() -> None:
    prom = yaml.safe_load((ROOT / "deploy/prometheus.yml").read_text())
    targets = prom["scrape_configs"][0]["static_configs"][0]["targets"]
    assert sorted(targets) == ["board:8080", "intake:8081", "notifier:8083", "scheduler:8082"]
    assert (ROOT / "deploy/grafana/dashboards/thuisbest.json").is_file()
    assert (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").is_file()
    databases = (ROOT / "deploy/postgres/init.sql").read_text()
    for name in ("intake", "scheduler", "notifier", "board"):
        assert f"CREATE DATABASE {name};" in databases
