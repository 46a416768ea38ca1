"""Mock answers for GCP resources and invokes: ids, self links, e-mails and endpoints as a preview shows them."""

from __future__ import annotations

from typing import Any

from aiinfra.plan.mock_registry import GCP_PROJECT, ResourceContext, invoke, resource

GCP_PROJECT_NUMBER = "123456789012"
"""Project number the offline plan pretends `GCP_PROJECT` has."""
COMPUTE = "https://www.googleapis.com/compute/v1"
_ZONE_SUFFIXES = "abcf"


def project(provider: dict[str, Any]) -> str:
    return provider.get("project") or GCP_PROJECT


def _region(ctx: ResourceContext) -> str:
    return ctx.inputs.get("region") or ctx.inputs.get("location") or ctx.provider_inputs.get("region") or "us-central1"


def physical_name(ctx: ResourceContext, key: str = "name") -> str:
    """The name input, or the autoname the engine would give (logical name + 7 hex)."""
    return ctx.inputs.get(key) or f"{ctx.name}-{ctx.short_hash(7)}"


def _ip(ctx: ResourceContext, prefix: str) -> str:
    return f"{prefix}.{int(ctx.short_hash(4), 16) % 254 + 1}"


# ------------------------------------------------------------------ invokes


@invoke("gcp:organizations/getProject:getProject")
def get_project(args: dict[str, Any], provider: dict[str, Any]) -> dict[str, Any]:
    project_id = args.get("projectId") or project(provider)
    return {
        "id": f"projects/{project_id}",
        "projectId": project_id,
        "name": project_id,
        "number": GCP_PROJECT_NUMBER,
        "labels": {},
        "effectiveLabels": {},
        "pulumiLabels": {},
        "autoCreateNetwork": False,
    }


@invoke("gcp:compute/getZones:getZones")
def get_zones(args: dict[str, Any], provider: dict[str, Any]) -> dict[str, Any]:
    region = args.get("region") or provider.get("region") or "us-central1"
    return {
        "id": f"projects/{project(provider)}/regions/{region}",
        "project": project(provider),
        "region": region,
        "status": args.get("status"),
        "names": [f"{region}-{s}" for s in _ZONE_SUFFIXES],
    }


# ------------------------------------------------------------------ networks


@resource("gcp:compute/network:Network")
def network(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name, proj = physical_name(ctx), project(ctx.provider_inputs)
    id_ = f"projects/{proj}/global/networks/{name}"
    return id_, {"name": name, "selfLink": f"{COMPUTE}/{id_}", "networkId": str(int(ctx.short_hash(12), 16))}


@resource("gcp:compute/subnetwork:Subnetwork")
def subnetwork(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name, proj = physical_name(ctx), project(ctx.provider_inputs)
    id_ = f"projects/{proj}/regions/{_region(ctx)}/subnetworks/{name}"
    cidr = ctx.inputs.get("ipCidrRange", "10.0.0.0/24")
    gateway = cidr.split("/")[0].rsplit(".", 1)[0] + ".1"
    return id_, {"name": name, "selfLink": f"{COMPUTE}/{id_}", "gatewayAddress": gateway}


@resource("gcp:compute/router:Router")
def router(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name, proj = physical_name(ctx), project(ctx.provider_inputs)
    id_ = f"projects/{proj}/regions/{_region(ctx)}/routers/{name}"
    return id_, {"name": name, "selfLink": f"{COMPUTE}/{id_}"}


@resource("gcp:compute/routerNat:RouterNat")
def router_nat(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name = physical_name(ctx)
    return f"{project(ctx.provider_inputs)}/{_region(ctx)}/{ctx.inputs.get('router')}/{name}", {"name": name}


@resource("gcp:compute/firewall:Firewall")
def firewall(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name, proj = physical_name(ctx), project(ctx.provider_inputs)
    id_ = f"projects/{proj}/global/firewalls/{name}"
    return id_, {"name": name, "selfLink": f"{COMPUTE}/{id_}"}


# ------------------------------------------------------------------ KMS, IAM


@resource("gcp:kms/keyRing:KeyRing")
def key_ring(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name = physical_name(ctx)
    return f"projects/{project(ctx.provider_inputs)}/locations/{ctx.inputs.get('location')}/keyRings/{name}", {
        "name": name
    }


@resource("gcp:kms/cryptoKey:CryptoKey")
def crypto_key(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name = physical_name(ctx)
    return f"{ctx.inputs.get('keyRing')}/cryptoKeys/{name}", {"name": name, "primaries": [{"name": "1", "state": ""}]}


@resource("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "gcp:projects/iAMMember:IAMMember")
def iam_member(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    scope = ctx.inputs.get("cryptoKeyId") or ctx.inputs.get("project")
    return f"{scope}/{ctx.inputs.get('role')}/{ctx.inputs.get('member')}", {"etag": f"BwY{ctx.short_hash(8)}="}


@resource("gcp:serviceaccount/account:Account")
def service_account(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    proj = project(ctx.provider_inputs)
    email = f"{ctx.inputs.get('accountId')}@{proj}.iam.gserviceaccount.com"
    id_ = f"projects/{proj}/serviceAccounts/{email}"
    return id_, {
        "email": email,
        "member": f"serviceAccount:{email}",
        "name": id_,
        "uniqueId": str(int(ctx.short_hash(15), 16))[:21],
    }


# ------------------------------------------------------------------ GKE

# Fake but well-formed: base64 of a PEM block, as GKE returns `masterAuth.clusterCaCertificate`.
FAKE_CLUSTER_CA = (
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUVMVENDQXBXZ0F3SUJBZ0lSQU9mZmxpbmUKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="
)


@resource("gcp:container/cluster:Cluster")
def gke_cluster(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name, proj, location = physical_name(ctx), project(ctx.provider_inputs), _region(ctx)
    private = dict(ctx.inputs.get("privateClusterConfig") or {})
    private_ip, public_ip = _ip(ctx, "172.16.0"), _ip(ctx, "203.0.113")
    private |= {"privateEndpoint": private_ip, "publicEndpoint": public_ip}
    id_ = f"projects/{proj}/locations/{location}/clusters/{name}"
    return id_, {
        "name": name,
        "location": location,
        "selfLink": f"https://container.googleapis.com/v1/{id_}",
        "endpoint": private_ip if private.get("enablePrivateEndpoint") else public_ip,
        "masterVersion": f"{ctx.inputs.get('minMasterVersion', '1.33')}.5-gke.1000",
        "masterAuth": {**(ctx.inputs.get("masterAuth") or {}), "clusterCaCertificate": FAKE_CLUSTER_CA},
        "privateClusterConfig": private,
        "servicesIpv4Cidr": "10.0.64.0/18",
        "labelFingerprint": ctx.short_hash(8),
    }


@resource("gcp:container/nodePool:NodePool")
def gke_node_pool(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name = physical_name(ctx)
    cluster = ctx.inputs.get("cluster", "")
    proj = project(ctx.provider_inputs)
    groups = [
        f"{COMPUTE}/projects/{proj}/zones/{zone}/instanceGroupManagers/gke-{name[:20]}-{ctx.short_hash(8)}-grp"
        for zone in ctx.inputs.get("nodeLocations") or []
    ]
    return f"{cluster}/nodePools/{name}", {
        "name": name,
        "instanceGroupUrls": groups,
        "managedInstanceGroupUrls": groups,
        "version": "1.33.5-gke.1000",
    }


# ------------------------------------------------------------------ Cloud Storage (data lakes), workload identity


@invoke("gcp:storage/getProjectServiceAccount:getProjectServiceAccount")
def storage_service_agent(args: dict[str, Any], provider: dict[str, Any]) -> dict[str, Any]:
    project_id = args.get("project") or project(provider)
    email = f"service-{GCP_PROJECT_NUMBER}@gs-project-accounts.iam.gserviceaccount.com"
    return {"id": project_id, "project": project_id, "emailAddress": email, "member": f"serviceAccount:{email}"}


@resource("gcp:storage/bucket:Bucket")
def storage_bucket(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name = physical_name(ctx).lower()
    return name, {
        "name": name,
        "url": f"gs://{name}",
        "selfLink": f"https://www.googleapis.com/storage/v1/b/{name}",
        "project": project(ctx.provider_inputs),
        "projectNumber": GCP_PROJECT_NUMBER,
    }


@resource("gcp:storage/bucketIAMMember:BucketIAMMember")
def bucket_iam_member(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    return f"b/{ctx.inputs.get('bucket')}/{ctx.inputs.get('role')}/{ctx.inputs.get('member')}", {
        "etag": f"CAE{ctx.short_hash(8)}="
    }


@resource("gcp:serviceaccount/iAMMember:IAMMember")
def service_account_iam_member(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    return f"{ctx.inputs.get('serviceAccountId')}/{ctx.inputs.get('role')}/{ctx.inputs.get('member')}", {
        "etag": f"BwY{ctx.short_hash(8)}="
    }


# ------------------------------------------------------------------ Artifact Registry (image registries)


@resource("gcp:artifactregistry/repository:Repository")
def artifact_repository(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name = ctx.inputs.get("repositoryId") or physical_name(ctx)
    location = ctx.inputs.get("location") or _region(ctx)
    gcp_project = project(ctx.provider_inputs)
    return f"projects/{gcp_project}/locations/{location}/repositories/{name}", {
        "name": name,
        "project": gcp_project,
        "registryUri": f"{location}-docker.pkg.dev/{gcp_project}/{name}",
    }


@resource("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
def artifact_repository_member(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    scope = f"projects/{ctx.inputs.get('project')}/locations/{ctx.inputs.get('location')}"
    return f"{scope}/repositories/{ctx.inputs.get('repository')}/{ctx.inputs.get('role')}/{ctx.inputs.get('member')}", {
        "etag": f"BwY{ctx.short_hash(8)}="
    }


@invoke("gcp:organizations/getClientConfig:getClientConfig")
def client_config(_args: dict[str, Any], provider: dict[str, Any]) -> dict[str, Any]:
    return {
        "accessToken": "offline-plan-token",
        "id": project(provider),
        "project": project(provider),
        "region": provider.get("region") or "us-central1",
        "zone": "",
        "defaultLabels": {},
    }
