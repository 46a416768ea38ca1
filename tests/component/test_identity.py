"""`WorkloadIdentity` under the plan's mock engine: on each cloud, an identity only the one namespace/service
account of the one cluster can use, and the service-account annotations the team's tenancy needs."""

from __future__ import annotations

import json

import pulumi
import pytest

from aiinfra.core.errors import InputError
from aiinfra.plan.engine import RecordingMonitor, run_function
from aiinfra.plan.mock_registry import GCP_PROJECT
from aiinfra.plan.mocks import PlanMocks
from components.aws.iam import pod_identity_trust
from components.aws.identity import irsa_trust
from components.cluster import Cluster
from components.contracts import ClusterArgs
from components.gcp.identity import account_id, workload_identity_member
from components.identity import WorkloadIdentity, WorkloadIdentityArgs
from components.kubernetes.meta import kubernetes_subject
from tests.conftest import of_type

TAGS = {"cost-center": "ml-platform", "owner": "platform@example.com", "environment": "test"}
REGIONS = {"aws": ("us-east-1", "us-east-1a"), "gcp": ("us-central1", "us-central1-a"), "azure": ("eastus", "1")}


def cluster_args(cloud: str) -> ClusterArgs:
    """Made inside each program: an on-prem kubeconfig is an Output, bound to the run's event loop."""
    if cloud == "onprem":
        return ClusterArgs(cloud="onprem", kubernetes_version="1.32", kubeconfig=pulumi.Output.secret("kubeconfig"))
    region, zone = REGIONS[cloud]
    return ClusterArgs(cloud=cloud, region=region, zones=(zone,), kubernetes_version="1.33", tags=TAGS)


_RUNS: dict[str, object] = {}


@pytest.fixture
def plan(run_mocked):
    """Cluster "c" on `cloud` with identity "vision" for team-vision/trainer (cached); its annotations and pod
    labels are stack outputs."""

    def planned(cloud: str, **kw):
        key = repr((cloud, sorted(kw.items())))
        if key not in _RUNS:

            def program():
                cluster = Cluster("c", cluster_args(cloud))
                identity = WorkloadIdentity(
                    "vision",
                    WorkloadIdentityArgs(
                        cluster=cluster, namespace="team-vision", service_account="trainer", tags=TAGS, **kw
                    ),
                )
                pulumi.export("annotations", identity.service_account_annotations)
                pulumi.export("labels", identity.pod_labels)
                pulumi.export("subject", identity.subject)

            _RUNS[key] = run_mocked(program)
        return _RUNS[key]

    return planned


def named(run, type_: str, name: str):
    found = [r for r in of_type(run, type_) if r.name == name]
    assert len(found) == 1, f"expected one {type_} named {name}, found {[r.name for r in of_type(run, type_)]}"
    return found[0]


def mine(run) -> list:
    """The resources the identity made (the cluster's are named c-...)."""
    return [r for r in run.resources if r.name.startswith("vision")]


# ------------------------------------------------------------------ AWS


def test_aws_pod_identity_role_trusts_only_that_service_account_of_that_cluster(plan):
    run = plan("aws")
    cluster = named(run, "aws:eks/cluster:Cluster", "c-eks")
    role = named(run, "aws:iam/role:Role", "vision-role")
    assert json.loads(role.inputs["assumeRolePolicy"]) == json.loads(
        pod_identity_trust(cluster_arn=cluster.outputs["arn"], namespace="team-vision", service_account="trainer")
    )
    association = named(run, "aws:eks/podIdentityAssociation:PodIdentityAssociation", "vision-association")
    assert {k: association.inputs[k] for k in ("clusterName", "namespace", "serviceAccount", "roleArn")} == {
        "clusterName": cluster.outputs["name"],
        "namespace": "team-vision",
        "serviceAccount": "trainer",
        "roleArn": role.outputs["arn"],
    }
    assert run.stack_outputs["annotations"] == {}  # Pod Identity needs no annotation
    assert role.inputs["tags"]["cost-center"] == "ml-platform"
    assert role.inputs["tags"]["aiinfra-workload-identity"] == "team-vision.trainer"
    assert "managedPolicyArns" not in role.inputs and "inlinePolicies" not in role.inputs  # no permissions of its own
    assert role.provider.split("::")[-2] == "c-provider"


def test_aws_irsa_role_trusts_the_cluster_oidc_provider_for_that_subject_and_sts_only(plan):
    run = plan("aws", aws_mode="irsa")
    cluster = named(run, "aws:eks/cluster:Cluster", "c-eks")
    provider = named(run, "aws:iam/openIdConnectProvider:OpenIdConnectProvider", "c-oidc")
    issuer = cluster.outputs["identities"][0]["oidcs"][0]["issuer"]
    role = named(run, "aws:iam/role:Role", "vision-role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust == json.loads(
        irsa_trust(
            provider_arn=provider.outputs["arn"], issuer_url=issuer, namespace="team-vision", service_account="trainer"
        )
    )
    (statement,) = trust["Statement"]
    host = issuer.removeprefix("https://")
    assert statement["Principal"] == {"Federated": provider.outputs["arn"]}
    assert statement["Condition"]["StringEquals"] == {
        f"{host}:sub": "system:serviceaccount:team-vision:trainer",
        f"{host}:aud": "sts.amazonaws.com",
    }
    assert of_type(run, "aws:eks/podIdentityAssociation:PodIdentityAssociation") == []
    assert run.stack_outputs["annotations"] == {"eks.amazonaws.com/role-arn": role.outputs["arn"]}


# ------------------------------------------------------------------ GCP


def test_gcp_service_account_may_be_used_by_that_kubernetes_service_account_only(plan):
    run = plan("gcp")
    account = named(run, "gcp:serviceaccount/account:Account", "vision-account")
    assert account.inputs["accountId"] == account_id("vision", "test")
    (binding,) = of_type(run, "gcp:serviceaccount/iAMMember:IAMMember")
    assert binding.inputs == {
        "serviceAccountId": account.outputs["name"],
        "role": "roles/iam.workloadIdentityUser",
        "member": f"serviceAccount:{GCP_PROJECT}.svc.id.goog[team-vision/trainer]",
    }
    assert not [r for r in mine(run) if r.type == "gcp:projects/iAMMember:IAMMember"]  # no project-wide grant
    assert run.stack_outputs["annotations"] == {"iam.gke.io/gcp-service-account": account.outputs["email"]}
    assert account.provider.split("::")[-2] == "c-provider"


def test_gcp_account_ids_fit_the_30_character_limit():
    assert account_id("vision", "prod") == "vision-prod"
    long = account_id("train-gcp-computer-vision-research", "production")
    assert len(long) <= 30 and long[0].isalpha() and long != account_id("train-gcp-computer-vision-researchx", "p")
    assert account_id("1x", "dev") == "wi-1x-dev"
    assert workload_identity_member("p.svc.id.goog", "ns", "sa") == "serviceAccount:p.svc.id.goog[ns/sa]"


# ------------------------------------------------------------------ Azure


def test_azure_identity_is_federated_with_that_service_account_of_that_cluster(plan):
    run = plan("azure")
    cluster = named(run, "azure-native:containerservice:ManagedCluster", "c-aks")
    group = named(run, "azure-native:resources:ResourceGroup", "c-rg")
    identity = named(run, "azure-native:managedidentity:UserAssignedIdentity", "vision-identity")
    assert identity.inputs["resourceGroupName"] == group.outputs["name"]
    assert identity.inputs["location"] == "eastus"
    assert identity.inputs["tags"]["owner"] == "platform@example.com"
    (credential,) = of_type(run, "azure-native:managedidentity:FederatedIdentityCredential")
    assert credential.inputs == {
        "resourceGroupName": group.outputs["name"],
        "resourceName": identity.outputs["name"],
        "issuer": cluster.outputs["oidcIssuerProfile"]["issuerURL"],
        "subject": "system:serviceaccount:team-vision:trainer",
        "audiences": ["api://AzureADTokenExchange"],
    }
    assert run.stack_outputs["annotations"] == {"azure.workload.identity/client-id": identity.outputs["clientId"]}
    assert run.stack_outputs["labels"] == {"azure.workload.identity/use": "true"}
    assert not [r for r in mine(run) if r.type == "azure-native:authorization:RoleAssignment"]


# ------------------------------------------------------------------ on-prem


def test_onprem_identity_is_the_service_account_itself(plan):
    run = plan("onprem")
    assert [r.type for r in mine(run)] == ["aiinfra:index:WorkloadIdentity"]
    assert run.stack_outputs["subject"] == kubernetes_subject("team-vision", "trainer")
    assert run.stack_outputs["annotations"] == {}


# ------------------------------------------------------------------ problems


def test_identity_arguments_are_checked_together_before_anything_is_registered():
    monitors: list[RecordingMonitor] = []

    class Keep(RecordingMonitor):
        def __init__(self, mocks):
            super().__init__(mocks)
            monitors.append(self)

    class GcpCluster:  # what the facade reads of a cluster, without planning one
        cloud = "gcp"
        adapter = object()

    with pytest.raises(InputError) as err:
        run_function(
            lambda: WorkloadIdentity(
                "vision",
                WorkloadIdentityArgs(
                    cluster=GcpCluster(),
                    namespace="Team_Vision",
                    service_account="",
                    aws_mode="irsa",  # type: ignore[arg-type]
                ),
            ),
            PlanMocks(),
            monitor=Keep,
        )
    assert [str(p) for p in err.value.problems] == [
        "vision.namespace: 'Team_Vision' — not a Kubernetes namespace name (lower-case letters, digits, '-'; "
        "at most 63)",
        "vision.service_account: '' — not a Kubernetes service account name",
        "vision.aws_mode: AWS only; the cluster is on gcp",
    ]
    assert [r.type for r in monitors[0].recorded.values() if r.type != "pulumi:pulumi:Stack"] == []


def test_unknown_aws_mode_is_refused():
    class AwsCluster:
        cloud = "aws"
        adapter = object()

    with pytest.raises(InputError) as err:
        run_function(
            lambda: WorkloadIdentity(
                "vision",
                WorkloadIdentityArgs(cluster=AwsCluster(), namespace="team-vision", aws_mode="kiam"),  # type: ignore[arg-type]
            ),
            PlanMocks(),
        )
    assert [str(p) for p in err.value.problems] == [
        "vision.aws_mode: 'kiam' — one of pod-identity, irsa",
    ]
