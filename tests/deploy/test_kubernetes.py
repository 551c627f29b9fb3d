"""deploy/kubernetes/: every manifest validates offline against a recent Kubernetes API, and says
what the issue asks (gRPC probes, grace over the core's, CPU per measured capacity, headless Service,
bridges on dns:///, PDB, HPA on CPU)."""
from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from asr_stack.launcher import BRIDGE_STOP_SECONDS, core_stop_seconds
from bridges import dialects
from tests.conftest import ROOT

KUBERNETES_VERSION = "1.36.0"
MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
CORE_TARGET = "dns:///asr-core.asr.svc.cluster.local:50051"


def documents() -> list[dict]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(kind: str) -> list[dict]:
    return [doc for doc in documents() if doc["kind"] == kind]


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


@pytest.mark.parametrize("doc", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_manifest_validates_strictly(doc):
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_core_has_grpc_probes_and_a_grace_longer_than_its_whole_stop():
    [core] = [d for d in by_kind("Deployment") if d["metadata"]["name"] == "asr-core"]
    pod = core["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["readinessProbe"]["grpc"] == {"port": 50051, "service": "asr.v1.RecognizerService"}
    assert container["livenessProbe"]["grpc"]["service"] == "liveness"
    assert not [a for a in container["args"] if a.startswith("--shutdown")], "core_stop_seconds assumes the defaults"
    assert pod["terminationGracePeriodSeconds"] > core_stop_seconds()
    probe = container["livenessProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] > core_stop_seconds(), "liveness outlasts the drain"
    assert container["resources"]["requests"]["cpu"] == "2"  # one core per 2 CPUs (~16 streams)
    assert flag(container["args"], "--max-sessions") == "16"


def test_core_service_is_headless_and_bridges_balance_over_it():
    [service] = [s for s in by_kind("Service") if s["metadata"]["name"] == "asr-core"]
    assert service["spec"]["clusterIP"] == "None"
    bridges = [d for d in by_kind("Deployment") if d["metadata"]["name"].startswith("bridge-")]
    assert {d["metadata"]["name"] for d in bridges} == {f"bridge-{s.name.replace('_', '-')}"
                                                       for s in dialects.installed()}
    for deployment in bridges:
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert flag(container["args"], "--core") == CORE_TARGET
        assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > BRIDGE_STOP_SECONDS
        name = deployment["metadata"]["name"]
        assert any(s["metadata"]["name"] == name for s in by_kind("Service")), f"{name} has no Service"


def test_core_has_a_disruption_budget_and_a_cpu_autoscaler():
    [pdb] = by_kind("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "asr-core"}
    [hpa] = by_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "asr-core"
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
