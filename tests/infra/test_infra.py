"""infra/: the KubeRay manifests against the KubeRay v1 fields they use, and every `mousegpt`
command they (and infra/README.md) run is a real command of the package with valid options.

The field lists are KubeRay's ray.io/v1 API (https://ray-project.github.io/kuberay/reference/api/):
a misspelt or misplaced field is silently dropped by the operator, so it is caught here."""

import re
import shlex

import pytest
import yaml

from tests.conftest import REPO

INFRA = REPO / "infra"
K8S = INFRA / "k8s"

RAY_CLUSTER_SPEC = {
    "authOptions",
    "suspend",
    "managedBy",
    "autoscalerOptions",
    "headServiceAnnotations",
    "enableInTreeAutoscaling",
    "gcsFaultToleranceOptions",
    "headGroupSpec",
    "rayVersion",
    "workerGroupSpecs",
    "upgradeStrategy",
}
HEAD_GROUP_SPEC = {
    "template",
    "headService",
    "enableIngress",
    "resources",
    "labels",
    "rayStartParams",
    "serviceType",
}
WORKER_GROUP_SPEC = {
    "suspend",
    "groupName",
    "replicas",
    "minReplicas",
    "maxReplicas",
    "idleTimeoutSeconds",
    "resources",
    "labels",
    "rayStartParams",
    "template",
    "scaleStrategy",
    "numOfHosts",
}
RAY_JOB_SPEC = {
    "activeDeadlineSeconds",
    "backoffLimit",
    "rayClusterSpec",
    "submitterPodTemplate",
    "metadata",
    "clusterSelector",
    "submitterConfig",
    "managedBy",
    "deletionStrategy",
    "entrypoint",
    "runtimeEnvYAML",
    "jobId",
    "submissionMode",
    "entrypointResources",
    "entrypointNumCpus",
    "entrypointNumGpus",
    "ttlSecondsAfterFinished",
    "shutdownAfterJobFinishes",
    "suspend",
}
RAY_SERVICE_SPEC = {
    "upgradeStrategy",
    "serveService",
    "serveConfigV2",
    "rayClusterConfig",
    "excludeHeadPodFromServeSvc",
    "deploymentUnhealthySecondThreshold",
    "serviceUnhealthySecondThreshold",
}
SUBMISSION_MODES = {"K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode"}


def _documents() -> dict[str, dict]:
    found = {}
    for path in sorted(K8S.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            found[document["kind"]] = document | {"_file": path.name}
    return found


def _unknown(given: dict, allowed: set[str]) -> set[str]:
    return set(given) - allowed


def _check_pod_template(template: dict, claims: set[str], where: str) -> dict:
    spec = template["spec"]
    assert spec["containers"], where
    declared = {v["name"]: v for v in spec.get("volumes", [])}
    for container in spec["containers"]:
        assert container["image"].startswith("mousegpt:"), where
        for mount in container.get("volumeMounts", []):
            assert mount["name"] in declared, f"{where}: mounts undeclared volume {mount['name']}"
        requests, limits = container["resources"]["requests"], container["resources"]["limits"]
        assert requests == limits, f"{where}: Ray sizes itself by limits; requests should match them"
    for volume in declared.values():
        if "persistentVolumeClaim" in volume:
            assert volume["persistentVolumeClaim"]["claimName"] in claims, where
    return spec["containers"][0]


def _check_cluster_spec(spec: dict, claims: set[str], where: str) -> None:
    assert not _unknown(spec, RAY_CLUSTER_SPEC), f"{where}: {_unknown(spec, RAY_CLUSTER_SPEC)}"
    import ray

    assert spec["rayVersion"] == ray.__version__, f"{where}: the image's Ray and the cluster's differ"
    head = spec["headGroupSpec"]
    assert not _unknown(head, HEAD_GROUP_SPEC), f"{where}: {_unknown(head, HEAD_GROUP_SPEC)}"
    assert all(isinstance(v, str) for v in head["rayStartParams"].values()), (
        "rayStartParams is map[string]string"
    )
    assert head["rayStartParams"]["num-cpus"] == "0"  # the head takes no work
    _check_pod_template(head["template"], claims, f"{where} head")
    groups = {g["groupName"]: g for g in spec["workerGroupSpecs"]}
    assert set(groups) == {"cpu", "gpu"}, where
    for name, group in groups.items():
        assert not _unknown(group, WORKER_GROUP_SPEC), f"{where} {name}: {_unknown(group, WORKER_GROUP_SPEC)}"
        assert all(isinstance(group[k], int) for k in ("replicas", "minReplicas", "maxReplicas"))
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"], f"{where} {name}"
        assert all(isinstance(v, str) for v in group["rayStartParams"].values())
        container = _check_pod_template(group["template"], claims, f"{where} {name}")
        gpus = container["resources"]["limits"].get("nvidia.com/gpu")
        if name == "gpu":
            assert gpus == "1" and container["image"].endswith("-cuda"), (
                f"{where}: the GPU group needs a GPU and CUDA"
            )
        else:
            assert gpus is None and container["image"].endswith("-cpu"), where


def _rest(context) -> list[str]:
    """A group's arguments left for its subcommand (click 8.2 keeps the first apart, privately)."""
    return [*getattr(context, "_protected_args", getattr(context, "protected_args", [])), *context.args]


def _run_mousegpt(argv: list[str], where: str) -> None:
    """Parse a `mousegpt ...` command line with the package's own CLI, without running it."""
    from typer.main import get_command

    from mousegpt.cli import _load_plugins, app

    _load_plugins()
    assert argv[0] == "mousegpt", where
    group = get_command(app)
    context = group.make_context("mousegpt", list(argv[1:]), resilient_parsing=False)
    name, *rest = _rest(context)
    command = group.get_command(context, name)
    assert command is not None, f"{where}: `mousegpt {name}` is not a command"
    try:
        sub = command.make_context(name, list(rest), parent=context)
        if hasattr(command, "list_commands"):  # a group: `mousegpt jobs logs ...`
            inner, *more = _rest(sub)
            assert command.get_command(sub, inner) is not None, f"{where}: `mousegpt {name} {inner}`"
            command.get_command(sub, inner).make_context(inner, list(more), parent=sub)
    except Exception as exc:  # click's UsageError (typer may carry its own click)
        if not hasattr(exc, "format_message"):
            raise
        pytest.fail(f"{where}: {' '.join(argv)}: {exc.format_message()}")


@pytest.fixture(scope="module")
def manifests():
    documents = _documents()
    assert set(documents) == {"RayCluster", "RayJob", "RayService", "PersistentVolumeClaim", "Secret"}
    return documents


def test_the_raycluster_has_a_cpu_and_a_gpu_group(manifests):
    claims = {manifests["PersistentVolumeClaim"]["metadata"]["name"]}
    assert manifests["PersistentVolumeClaim"]["spec"]["accessModes"] == [
        "ReadWriteMany"
    ]  # shards from every node
    cluster = manifests["RayCluster"]
    assert cluster["apiVersion"] == "ray.io/v1"
    _check_cluster_spec(cluster["spec"], claims, "raycluster.yaml")


def test_the_rayjob_runs_a_real_analyze(manifests):
    job = manifests["RayJob"]
    claims = {manifests["PersistentVolumeClaim"]["metadata"]["name"]}
    assert job["apiVersion"] == "ray.io/v1" and not _unknown(job["spec"], RAY_JOB_SPEC)
    assert job["spec"]["submissionMode"] in SUBMISSION_MODES
    _check_cluster_spec(job["spec"]["rayClusterSpec"], claims, "rayjob-analyze.yaml")
    argv = shlex.split(job["spec"]["entrypoint"])
    assert argv[:2] == ["mousegpt", "analyze"]
    _run_mousegpt(argv, "rayjob-analyze.yaml")


def test_the_rayservice_builds_the_serve_application(manifests):
    import importlib

    service = manifests["RayService"]
    claims = {manifests["PersistentVolumeClaim"]["metadata"]["name"]}
    assert service["apiVersion"] == "ray.io/v1" and not _unknown(service["spec"], RAY_SERVICE_SPEC)
    _check_cluster_spec(service["spec"]["rayClusterConfig"], claims, "rayservice.yaml")
    config = yaml.safe_load(service["spec"]["serveConfigV2"])
    assert config["http_options"]["host"] == "0.0.0.0"
    secret = manifests["Secret"]["metadata"]["name"]
    groups = [
        service["spec"]["rayClusterConfig"]["headGroupSpec"],
        *service["spec"]["rayClusterConfig"]["workerGroupSpecs"],
    ]
    for group in groups:  # off loopback, the API needs its token, wherever the builder runs
        env = {e["name"]: e for e in group["template"]["spec"]["containers"][0]["env"]}
        assert env["MOUSEGPT_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == secret
    (application,) = config["applications"]
    module, _, function = application["import_path"].partition(":")
    builder = getattr(importlib.import_module(module), function)
    assert callable(builder)
    from serve.app import describer_options

    known = {
        "workspace",
        "model",
        "replicas",
        "min_replicas",
        "max_replicas",
        "target_ongoing_requests",
        "token_sha256",
    }
    assert set(application["args"]) <= known
    assert describer_options(application["args"], gpus_in_cluster=1)["ray_actor_options"]["num_gpus"] == 1


def test_the_dockerfile_has_both_variants_with_torch_pinned():
    text = (INFRA / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+) AS (\w+)$", text, flags=re.M)
    assert [name for _, name in stages] == ["cpu", "cuda"]
    assert len(re.findall(r"pip install --no-cache-dir torch==2\.13\.0", text)) == 2
    root = INFRA.parent
    for source in re.findall(r"^COPY (\S+(?: \S+)*) \S+$", text, flags=re.M):
        for path in source.split():
            assert (root / path).exists(), f"Dockerfile copies {path}, which is not in the repository"


def test_every_command_in_the_infra_readme_is_real():
    text = (INFRA / "README.md").read_text()
    commands = [
        line.split("#")[0].strip()
        for block in re.findall(r"```\n(.*?)```", text, flags=re.S)
        for line in block.splitlines()
        if line.strip().startswith("mousegpt ")
    ]
    assert len(commands) >= 8
    for line in commands:
        _run_mousegpt(shlex.split(line.replace("$TOKEN", "t").replace('"', "")), "infra/README.md")
