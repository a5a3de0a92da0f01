"""The Kubernetes manifests (deploy/kubernetes/), offline: every resource valid against the Kubernetes schemas
(kubernetes-validate bundles them) or, for KEDA's ScaledObjects, against the openAPIV3Schema of KEDA's own CRD
(committed next to the manifests); and what ties them to wirewatch: a Deployment per stage with its probes, the
consumer group and input topics each ScaledObject watches, at most a replica per partition."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from streams.settings import DEFAULTS, Settings
from streams.topics import TOPIC_SPECS, topic_name
from tests.conftest import REPO
from wirewatch.stages import STAGE_MODULES

MANIFESTS = REPO / "deploy" / "kubernetes"
KEDA_CRD = MANIFESTS / "schemas" / "keda.sh_scaledobjects.yaml"
KUBERNETES_VERSION = "1.37"
# The roles whose lag scales each stage (docs/deploy.md says why some inputs are left out); feed never scales.
SCALED_BY = {"clean": ["raw"], "dedup": ["dedup_probes"], "tag": ["deduped"],
             "alert": ["tagged", "alert_signals", "alert_digest"], "stories": ["tagged"],
             "entities": ["tagged", "entity_sightings"]}
UNSCALED = {"feed", "web"}  # one replica each: the live view and the wire page see every partition
# The kafka scaler's trigger metadata (a string map the CRD does not check): the names of KEDA's kafkaMetadata
# fields (pkg/scalers/kafka_scaler.go, same commit as the CRD) this deployment may use, authentication left out.
KAFKA_TRIGGER_KEYS = {"bootstrapServers", "consumerGroup", "topic", "lagThreshold", "activationLagThreshold",
                      "offsetResetPolicy", "allowIdleConsumers", "excludePersistentLag", "limitToPartitionsWithLag",
                      "ensureEvenDistributionOfPartitions", "partitionLimitation", "scaleToZeroOnInvalidOffset",
                      "version"}


def resources() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, resource) for path in sorted(MANIFESTS.glob("*.yaml"))
            for resource in yaml.safe_load_all(path.read_text()) if resource]


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {resource["metadata"]["name"]: resource for _, resource in resources() if resource["kind"] == kind}


def strict(schema: Any) -> Any:
    """An openAPIV3Schema as a JSON schema that rejects unknown fields, as `kubectl apply` does (field validation
    Strict) where the API server would otherwise drop them."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: strict(value) for key, value in schema.items()}
    if "properties" in schema and "additionalProperties" not in schema \
            and not schema.get("x-kubernetes-preserve-unknown-fields"):
        schema["additionalProperties"] = False
    return schema


def scaled_object_schema() -> dict[str, Any]:
    crd = next(doc for doc in yaml.safe_load_all(KEDA_CRD.read_text()) if doc)
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    schema: dict[str, Any] = strict(version["schema"]["openAPIV3Schema"])
    schema["properties"]["metadata"] = {"type": "object"}  # checked by the API server, not the CRD
    return schema


def settings() -> Settings:
    """The settings the ConfigMap gives every worker."""
    return Settings.from_env(of_kind("ConfigMap")["wirewatch-env"]["data"])


def test_every_kubernetes_resource_is_valid_against_its_schema() -> None:
    checked = 0
    for path, resource in resources():
        if resource["kind"] == "ScaledObject":
            continue
        try:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{path.name} {resource['kind']} {resource['metadata']['name']}: {error.message} "
                        f"at {'.'.join(map(str, error.path))}")
        checked += 1
    assert checked >= len(STAGE_MODULES) + 3  # Deployments, the stories Service, two ConfigMaps, the topics Job


def test_every_scaled_object_is_valid_against_the_keda_crd() -> None:
    schema = scaled_object_schema()
    scaled = of_kind("ScaledObject")
    assert scaled
    for name, resource in scaled.items():
        errors = [f"{'.'.join(map(str, e.path))}: {e.message}"
                  for e in jsonschema.Draft7Validator(schema).iter_errors(resource)]
        assert not errors, f"{name}: {errors}"
        spec = resource["spec"]  # the CRD's one CEL rule, which a JSON schema cannot say
        assert spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 100), name


def test_the_keda_schema_rejects_what_keda_would() -> None:
    schema = scaled_object_schema()
    scaled = next(iter(of_kind("ScaledObject").values()))
    for broken in [{**scaled, "spec": {**scaled["spec"], "maxReplicas": 4}},
                   {**scaled, "spec": {**scaled["spec"], "triggers": []}},
                   {**scaled, "spec": {k: v for k, v in scaled["spec"].items() if k != "scaleTargetRef"}}]:
        assert list(jsonschema.Draft7Validator(schema).iter_errors(broken)), broken["spec"]


def test_a_deployment_per_stage_with_probes_resources_and_the_shared_configuration() -> None:
    deployments = of_kind("Deployment")
    assert set(deployments) == {f"wirewatch-{stage}" for stage in STAGE_MODULES}
    for stage in STAGE_MODULES:
        pod = deployments[f"wirewatch-{stage}"]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"] == ["worker", stage]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]) & set(container["resources"]["limits"])
        assert container["envFrom"][0] == {"configMapRef": {"name": "wirewatch-env"}}
        assert {"name": "rules", "configMap": {"name": "wirewatch-rules"}} in pod["volumes"]
    # the sinks' secrets reach the alert stage from a Secret, never from the ConfigMap
    alert = deployments["wirewatch-alert"]["spec"]["template"]["spec"]["containers"][0]
    assert {"secretRef": {"name": "wirewatch-sinks", "optional": True}} in alert["envFrom"]


def test_the_configmaps_hold_settings_wirewatch_reads_and_the_shipped_rules_and_aliases() -> None:
    names = {f"WIREWATCH_{field.name.upper()}" for field in dataclasses.fields(Settings)}
    env = of_kind("ConfigMap")["wirewatch-env"]["data"]
    assert set(env) <= names, set(env) - names
    assert all(isinstance(value, str) for value in env.values())  # a ConfigMap holds strings only
    assert not [name for name in env if any(secret in name for secret in ("SECRET", "PASSWORD", "TOKEN", "URL"))]
    rules = of_kind("ConfigMap")["wirewatch-rules"]["data"]
    assert Path(env["WIREWATCH_RULES_FILE"]).name in rules and Path(env["WIREWATCH_ALIASES_FILE"]).name in rules
    # the examples shipped in the package, copied: update config.yaml when they change
    assert rules["rules.yaml"] == (DEFAULTS / "rules.example.yaml").read_text()
    assert rules["aliases.yaml"] == (DEFAULTS / "aliases.yaml").read_text()


def test_each_stage_scales_on_its_own_group_and_inputs_up_to_the_partitions() -> None:
    config = settings()
    scaled = of_kind("ScaledObject")
    assert set(scaled) == {f"wirewatch-{stage}" for stage in STAGE_MODULES if stage not in UNSCALED}
    assert set(SCALED_BY) | UNSCALED == set(STAGE_MODULES)
    for stage, roles in SCALED_BY.items():
        spec = scaled[f"wirewatch-{stage}"]["spec"]
        assert spec["scaleTargetRef"]["name"] == f"wirewatch-{stage}"
        triggers = [trigger["metadata"] for trigger in spec["triggers"]]
        assert all(trigger["type"] == "kafka" for trigger in spec["triggers"])
        for trigger in triggers:
            assert {"bootstrapServers", "consumerGroup", "topic", "lagThreshold"} <= set(trigger), trigger
            assert set(trigger) <= KAFKA_TRIGGER_KEYS, set(trigger) - KAFKA_TRIGGER_KEYS
            assert int(trigger["lagThreshold"]) > 0
        assert {t["consumerGroup"] for t in triggers} == {f"{config.topic_prefix}-{stage}"}
        assert [t["topic"] for t in triggers] == [topic_name(config, role) for role in roles]
        assert {t["bootstrapServers"] for t in triggers} == {",".join(config.bootstrap_servers)}
        partitions = {TOPIC_SPECS[role].partitions or config.partitions for role in roles}
        assert spec["maxReplicaCount"] == max(partitions)  # a replica more would own no partition
    for stage in UNSCALED:
        assert of_kind("Deployment")[f"wirewatch-{stage}"]["spec"]["replicas"] == 1
