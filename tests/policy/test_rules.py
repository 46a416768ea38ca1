"""Every rule of the pack, violated and satisfied, through the real analyzer protocol; and rules
facing values that are unknown during preview."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi.runtime import rpc

from tests.policy.conftest import analyze, resource, violated
from tests.policy.pods import DEPLOYMENT, container, deployment, pod_spec
from tests.policy.test_pod_security import POD_SECURITY_CASES

UNKNOWN = rpc.UNKNOWN
BUCKET = "aws:s3/bucket:Bucket"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
EKS = "aws:eks/cluster:Cluster"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
GKE = "gcp:container/cluster:Cluster"
GCS = "gcp:storage/bucket:Bucket"
AKS = "azure-native:containerservice:ManagedCluster"
STORAGE = "azure-native:storage:StorageAccount"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
NODE_POOL_GKE = "gcp:container/nodePool:NodePool"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"


def lake(*companions: tuple[str, dict[str, Any]]) -> list:
    """An S3 bucket and companion resources whose `bucket` input was computed from it."""
    bucket = resource(BUCKET, {"bucket": "lake-1"}, name="lake")
    return [bucket] + [
        resource(t, {"bucket": "lake-1", **props}, name=f"lake-{i}", property_dependencies={"bucket": [bucket.urn]})
        for i, (t, props) in enumerate(companions)
    ]


def sse(algorithm: str) -> tuple[str, dict[str, Any]]:
    rule = {"applyServerSideEncryptionByDefault": {"sseAlgorithm": algorithm, "kmsMasterKeyId": "arn:aws:kms:k"}}
    return "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", {"rules": [rule]}


def access_block(**flags: bool) -> tuple[str, dict[str, Any]]:
    all_on = dict.fromkeys(["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"], True)
    return "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", {**all_on, **flags}


def policy_doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


TLS_DENY = {
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::lake-1", "arn:aws:s3:::lake-1/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


def trust(statement: dict[str, Any]) -> dict[str, Any]:
    return {"assumeRolePolicy": policy_doc({"Effect": "Allow", **statement})}


WEB_IDENTITY = {
    "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/oidc.eks.amazonaws.com/id/X"},
    "Action": "sts:AssumeRoleWithWebIdentity",
}


def allow(action: Any, resource_: Any = "arn:aws:s3:::lake-1/*") -> dict[str, Any]:
    return {"policy": policy_doc({"Effect": "Allow", "Action": action, "Resource": resource_})}


def node_group(instance: str, max_size: Any) -> Any:
    return resource(NODE_GROUP, {"instanceTypes": [instance], "scalingConfig": {"maxSize": max_size}})


NAMESPACE = "kubernetes:core/v1:Namespace"
VAP = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
VAP_BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
FABRIC_LABEL = {"aiinfra.dev/pod-security-exceptions": "fabric"}


def namespace(name: str = "team-nlp", provider: str | None = None, **labels: str) -> Any:
    labels = {"pod-security.kubernetes.io/enforce": "privileged", **labels}
    return resource(NAMESPACE, {"metadata": {"name": name, "labels": labels}}, name=name, provider=provider)


def pod_admission(provider: str | None = None, actions: tuple[str, ...] = ("Deny",), **binding: Any) -> list:
    """A pod admission policy and its binding to the namespaces labelled for fabric exceptions."""
    rules = [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}]
    policy = resource(
        VAP,
        {"metadata": {"name": "fabric"}, "spec": {"matchConstraints": {"resourceRules": rules}, "validations": []}},
        name="vap",
        provider=provider,
    )
    spec = {
        "policyName": "fabric",
        "validationActions": list(actions),
        "matchResources": {"namespaceSelector": {"matchLabels": FABRIC_LABEL}},
        **binding,
    }
    return [
        policy,
        resource(VAP_BINDING, {"metadata": {"name": "fabric"}, "spec": spec}, name="vapb", provider=provider),
    ]


def eks_with_vpc_cni(configuration: str | None) -> list:
    """An EKS cluster and its vpc-cni add-on (clusterName computed from the cluster), with `configuration`."""
    cluster = resource(EKS, {"name": "train"}, name="train")
    addon = {"clusterName": "train", "addonName": "vpc-cni", "configurationValues": configuration}
    return [cluster, resource("aws:eks/addon:Addon", addon, property_dependencies={"clusterName": [cluster.urn]})]


GPU_TOLERATION = {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]}

ECR = "aws:ecr/repository:Repository"
ACR = "azure-native:containerregistry:Registry"
ARTIFACT_REPOSITORY = "gcp:artifactregistry/repository:Repository"
CASES: dict[str, tuple[list, list]] = {
    # AWS
    "aws-s3-sse-kms": (lake(sse("AES256")), lake(sse("aws:kms"))),
    "aws-s3-public-access-block": (lake(access_block(blockPublicPolicy=False)), lake(access_block())),
    "aws-s3-tls-only": (
        lake(("aws:s3/bucketPolicy:BucketPolicy", {"policy": policy_doc({**TLS_DENY, "Effect": "Allow"})})),
        lake(("aws:s3/bucketPolicy:BucketPolicy", {"policy": policy_doc(TLS_DENY)})),
    ),
    "aws-s3-no-acls": (
        lake(("aws:s3/bucketAcl:BucketAcl", {"acl": "public-read"})),
        lake(
            (
                "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
                {"rule": {"objectOwnership": "BucketOwnerEnforced"}},
            )
        ),
    ),
    "aws-s3-versioning": (
        lake(("aws:s3/bucketVersioning:BucketVersioning", {"versioningConfiguration": {"status": "Suspended"}})),
        lake(("aws:s3/bucketVersioning:BucketVersioning", {"versioningConfiguration": {"status": "Enabled"}})),
    ),
    "aws-ecr-immutable-tags": (
        [resource(ECR, {"imageTagMutability": "MUTABLE"}), resource(ECR, {}, name="default")],
        [resource(ECR, {"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION"})],
    ),
    "aws-ecr-scan-on-push": (
        [resource(ECR, {"imageScanningConfiguration": {"scanOnPush": False}})],
        [resource(ECR, {"imageScanningConfiguration": {"scanOnPush": True}})],
    ),
    "aws-ecr-kms": (
        [resource(ECR, {"encryptionConfigurations": [{"encryptionType": "AES256"}]})],
        [resource(ECR, {"encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": "arn:aws:kms:k"}]})],
    ),
    "azure-acr-admin-disabled": (
        [resource(ACR, {"adminUserEnabled": True})],
        [resource(ACR, {"adminUserEnabled": False})],
    ),
    "azure-acr-no-anonymous-pull": (
        [resource(ACR, {"anonymousPullEnabled": True})],
        [resource(ACR, {"anonymousPullEnabled": False})],
    ),
    "azure-acr-private": (
        [
            resource(ACR, {"publicNetworkAccess": "Enabled"}),
            resource(ACR, {"networkRuleSet": {"defaultAction": "Allow"}}, name="open"),
        ],
        [
            resource(ACR, {"publicNetworkAccess": "Disabled"}),
            resource(
                ACR,
                {
                    "publicNetworkAccess": "Enabled",
                    "networkRuleSet": {"defaultAction": "Deny", "ipRules": [{"iPAddressOrRange": "203.0.113.7"}]},
                },
                name="pushers",
            ),
        ],
    ),
    "gcp-artifact-registry-cmek": (
        [resource(ARTIFACT_REPOSITORY, {"format": "DOCKER"})],
        [
            resource(
                ARTIFACT_REPOSITORY,
                {"format": "DOCKER", "kmsKeyName": "projects/p/locations/l/keyRings/r/cryptoKeys/k"},
            )
        ],
    ),
    "aws-kms-key-rotation": (
        [resource("aws:kms/key:Key", {"enableKeyRotation": False})],
        [resource("aws:kms/key:Key", {"enableKeyRotation": True})],
    ),
    "aws-kms-no-wildcard-principal": (
        [resource("aws:kms/key:Key", {"policy": policy_doc({"Principal": {"AWS": "*"}, "Action": "kms:*"})})],
        [resource("aws:kms/key:Key", {"policy": policy_doc({"Principal": {"AWS": "arn:aws:iam::1:root"}})})],
    ),
    "aws-iam-no-wildcard-actions": (
        [resource(ROLE_POLICY, allow("s3:*"))],
        [resource(ROLE_POLICY, allow(["s3:GetObject", "s3:ListBucket"]))],
    ),
    "aws-iam-no-wildcard-resources": (
        [resource(ROLE, {"inlinePolicies": [allow("s3:GetObject", "*")]})],
        [
            resource(ROLE_POLICY, allow("s3:GetObject")),
            resource(ROLE_POLICY, allow("ec2:DescribeInstances", "*"), name="d"),
        ],
    ),
    "aws-iam-no-admin-attachments": (
        [
            resource(
                "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
            )
        ],
        [
            resource(
                "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                {"policyArn": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"},
            )
        ],
    ),
    "aws-iam-trust-no-wildcard-principal": (
        [resource(ROLE, trust({"Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}))],
        [resource(ROLE, trust({"Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}))],
    ),
    "aws-iam-web-identity-sub-condition": (
        [resource(ROLE, trust({**WEB_IDENTITY, "Condition": {"StringEquals": {"oidc:aud": "sts.amazonaws.com"}}}))],
        [
            resource(
                ROLE,
                trust(
                    {**WEB_IDENTITY, "Condition": {"StringEquals": {"oidc:sub": "system:serviceaccount:ml:trainer"}}}
                ),
            )
        ],
    ),
    "aws-eks-secrets-encryption": (
        [resource(EKS, {"name": "c"})],
        [resource(EKS, {"encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:k"}}})],
    ),
    "aws-eks-private-endpoint": (
        [resource(EKS, {"vpcConfig": {"endpointPublicAccess": True}})],
        [resource(EKS, {"vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]}})],
    ),
    "aws-eks-control-plane-logs": (
        [resource(EKS, {"enabledClusterLogTypes": ["api"]})],
        [resource(EKS, {"enabledClusterLogTypes": ["api", "audit", "authenticator"]})],
    ),
    "aws-eks-network-policy": (
        eks_with_vpc_cni(None),
        eks_with_vpc_cni(json.dumps({"enableNetworkPolicy": "true"})),
    ),
    "aws-ec2-imdsv2": (
        [resource(LAUNCH_TEMPLATE, {"metadataOptions": {"httpTokens": "optional"}})],
        [resource(LAUNCH_TEMPLATE, {"metadataOptions": {"httpTokens": "required"}})],
    ),
    "aws-ebs-encrypted": (
        [
            resource(
                LAUNCH_TEMPLATE, {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "false"}}]}
            )
        ],
        [
            resource(
                LAUNCH_TEMPLATE, {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}}]}
            )
        ],
    ),
    "aws-no-public-ip": (
        [resource("aws:ec2/subnet:Subnet", {"mapPublicIpOnLaunch": True})],
        [resource(LAUNCH_TEMPLATE, {"networkInterfaces": [{"associatePublicIpAddress": "false"}]})],
    ),
    "aws-sg-no-world-admin-ingress": (
        [
            resource(
                "aws:ec2/securityGroup:SecurityGroup",
                {"ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}]},
            )
        ],
        [
            resource(
                "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                {"ipProtocol": "-1", "cidrIpv4": "10.0.0.0/16"},
            )
        ],
    ),
    # GCP
    "gcp-gke-private-nodes": (
        [resource(GKE, {"privateClusterConfig": {"enablePrivateNodes": False}})],
        [resource(GKE, {"privateClusterConfig": {"enablePrivateNodes": True}})],
    ),
    "gcp-gke-secrets-encryption": (
        [resource(GKE, {"databaseEncryption": {"state": "DECRYPTED"}})],
        [resource(GKE, {"databaseEncryption": {"state": "ENCRYPTED", "keyName": "projects/p/keys/k"}})],
    ),
    "gcp-gke-no-legacy-abac": (
        [resource(GKE, {"enableLegacyAbac": True})],
        [resource(GKE, {"enableLegacyAbac": False})],
    ),
    "gcp-gke-no-client-certificate": (
        [resource(GKE, {"masterAuth": {"clientCertificateConfig": {"issueClientCertificate": True}}})],
        [resource(GKE, {"masterAuth": {"clientCertificateConfig": {"issueClientCertificate": False}}})],
    ),
    "gcp-gke-workload-identity": (
        [
            resource(
                GKE,
                {
                    "workloadIdentityConfig": {"workloadPool": "p.svc.id.goog"},
                    "nodeConfig": {"workloadMetadataConfig": {"mode": "GCE_METADATA"}},
                },
            )
        ],
        [resource(GKE, {"workloadIdentityConfig": {"workloadPool": "p.svc.id.goog"}, "removeDefaultNodePool": True})],
    ),
    "gcp-gke-network-policy": ([resource(GKE, {})], [resource(GKE, {"datapathProvider": "ADVANCED_DATAPATH"})]),
    "gcp-gke-shielded-nodes": (
        [resource(GKE, {"enableShieldedNodes": False})],
        [resource(GKE, {"enableShieldedNodes": True})],
    ),
    "gcp-gke-node-service-account": (
        [resource("gcp:container/nodePool:NodePool", {"nodeConfig": {"machineType": "n2-standard-8"}})],
        [
            resource(
                "gcp:container/nodePool:NodePool", {"nodeConfig": {"serviceAccount": "nodes@p.iam.gserviceaccount.com"}}
            )
        ],
    ),
    "gcp-gke-private-endpoint": (
        [
            resource(GKE, {"privateClusterConfig": {"enablePrivateEndpoint": False}}),
            resource(GKE, {"masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": "0.0.0.0/0"}]}}, name="b"),
        ],
        [
            resource(GKE, {"privateClusterConfig": {"enablePrivateEndpoint": True}}),
            resource(
                GKE, {"masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": "203.0.113.0/24"}]}}, name="b"
            ),
        ],
    ),
    "gcp-gke-node-auto-repair-upgrade": (
        [resource(NODE_POOL_GKE, {"management": {"autoRepair": True, "autoUpgrade": False}})],
        [
            resource(NODE_POOL_GKE, {"management": {"autoRepair": True, "autoUpgrade": True}}),
            resource(NODE_POOL_GKE, {}, name="b"),
        ],
    ),
    "gcp-gke-secure-boot": (
        [resource(NODE_POOL_GKE, {"nodeConfig": {"shieldedInstanceConfig": {"enableIntegrityMonitoring": True}}})],
        [resource(NODE_POOL_GKE, {"nodeConfig": {"shieldedInstanceConfig": {"enableSecureBoot": True}}})],
    ),
    "gcp-gke-cos-nodes": (
        [resource(NODE_POOL_GKE, {"nodeConfig": {"imageType": "UBUNTU_CONTAINERD"}})],
        [
            resource(NODE_POOL_GKE, {"nodeConfig": {"imageType": "COS_CONTAINERD"}}),
            resource(NODE_POOL_GKE, {"nodeConfig": {}}, name="b"),
        ],
    ),
    "gcp-gke-release-channel": (
        [resource(GKE, {"releaseChannel": {"channel": "UNSPECIFIED"}}), resource(GKE, {}, name="b")],
        [resource(GKE, {"releaseChannel": {"channel": "REGULAR"}})],
    ),
    "gcp-gke-vpc-native": (
        [resource(GKE, {"networkingMode": "ROUTES"}), resource(GKE, {}, name="b")],
        [resource(GKE, {"networkingMode": "VPC_NATIVE", "ipAllocationPolicy": {"clusterSecondaryRangeName": "pods"}})],
    ),
    "gcp-gke-no-alpha": (
        [resource(GKE, {"enableKubernetesAlpha": True})],
        [resource(GKE, {"enableKubernetesAlpha": False})],
    ),
    "gcp-gke-legacy-metadata-disabled": (
        [resource(NODE_POOL_GKE, {"nodeConfig": {"metadata": {"disable-legacy-endpoints": "false"}}})],
        [resource(NODE_POOL_GKE, {"nodeConfig": {"metadata": {"disable-legacy-endpoints": "true"}}})],
    ),
    "gcp-gke-logging-monitoring": (
        [
            resource(GKE, {"loggingService": "none"}),
            resource(GKE, {"monitoringConfig": {"enableComponents": ["APISERVER"]}}, name="b"),
        ],
        [resource(GKE, {"loggingConfig": {"enableComponents": ["SYSTEM_COMPONENTS", "WORKLOADS"]}})],
    ),
    "gcp-gcs-uniform-access": ([resource(GCS, {})], [resource(GCS, {"uniformBucketLevelAccess": True})]),
    "gcp-gcs-public-access-prevention": (
        [resource(GCS, {"publicAccessPrevention": "inherited"})],
        [resource(GCS, {"publicAccessPrevention": "enforced"})],
    ),
    "gcp-gcs-cmek": ([resource(GCS, {})], [resource(GCS, {"encryption": {"defaultKmsKeyName": "projects/p/k"}})]),
    "gcp-gcs-no-public-members": (
        [
            resource(
                "gcp:storage/bucketIAMMember:BucketIAMMember",
                {"bucket": "b", "member": "allUsers", "role": "roles/storage.objectViewer"},
            )
        ],
        [
            resource(
                "gcp:storage/bucketIAMBinding:BucketIAMBinding",
                {"bucket": "b", "members": ["serviceAccount:t@p.iam.gserviceaccount.com"]},
            )
        ],
    ),
    "gcp-kms-key-rotation": (
        [resource("gcp:kms/cryptoKey:CryptoKey", {"rotationPeriod": "31536000s"})],
        [resource("gcp:kms/cryptoKey:CryptoKey", {"rotationPeriod": "7776000s"})],
    ),
    # Azure
    "azure-aks-local-accounts-disabled": ([resource(AKS, {})], [resource(AKS, {"disableLocalAccounts": True})]),
    "azure-aks-rbac": ([resource(AKS, {"enableRBAC": False})], [resource(AKS, {"enableRBAC": True})]),
    "azure-aks-private-or-authorized-ips": (
        [resource(AKS, {"apiServerAccessProfile": {"authorizedIPRanges": ["0.0.0.0/0"]}})],
        [resource(AKS, {"apiServerAccessProfile": {"enablePrivateCluster": True}})],
    ),
    "azure-aks-secrets-encryption": (
        [resource(AKS, {"securityProfile": {"azureKeyVaultKms": {"enabled": False}}}), resource(AKS, {}, name="b")],
        [
            resource(
                AKS,
                {
                    "securityProfile": {
                        "azureKeyVaultKms": {"enabled": True, "keyId": "https://kv.vault.azure.net/keys/etcd/1"}
                    }
                },
            )
        ],
    ),
    "azure-aks-network-policy": (
        [resource(AKS, {"networkProfile": {"networkPlugin": "azure"}})],
        [resource(AKS, {"networkProfile": {"networkPlugin": "azure", "networkPolicy": "cilium"}})],
    ),
    "azure-aks-azure-rbac": (
        [resource(AKS, {"aadProfile": {"managed": True, "enableAzureRBAC": False}}), resource(AKS, {}, name="b")],
        [resource(AKS, {"aadProfile": {"managed": True, "enableAzureRBAC": True}})],
    ),
    "azure-aks-no-node-public-ip": (
        [
            resource(AKS, {"agentPoolProfiles": [{"name": "system", "enableNodePublicIP": True}]}),
            resource("azure-native:containerservice:AgentPool", {"enableNodePublicIP": True}, name="b"),
        ],
        [resource(AKS, {"agentPoolProfiles": [{"name": "system", "enableNodePublicIP": False}]})],
    ),
    "azure-aks-encryption-at-host": (
        [resource(AKS, {"agentPoolProfiles": [{"name": "system", "enableEncryptionAtHost": False}]})],
        [resource("azure-native:containerservice:AgentPool", {"enableEncryptionAtHost": True})],
    ),
    "azure-storage-https-only": (
        [resource(STORAGE, {"enableHttpsTrafficOnly": False})],
        [resource(STORAGE, {"enableHttpsTrafficOnly": True})],
    ),
    "azure-storage-min-tls12": (
        [resource(STORAGE, {"minimumTlsVersion": "TLS1_0"})],
        [resource(STORAGE, {"minimumTlsVersion": "TLS1_2"})],
    ),
    "azure-storage-no-public-blob": ([resource(STORAGE, {})], [resource(STORAGE, {"allowBlobPublicAccess": False})]),
    "azure-storage-no-shared-key": (
        [resource(STORAGE, {"allowSharedKeyAccess": True})],
        [resource(STORAGE, {"allowSharedKeyAccess": False})],
    ),
    "azure-storage-default-deny": (
        [resource(STORAGE, {"networkRuleSet": {"defaultAction": "Allow"}})],
        [resource(STORAGE, {"networkRuleSet": {"defaultAction": "Deny"}})],
    ),
    "azure-keyvault-purge-protection": (
        [resource("azure-native:keyvault:Vault", {"properties": {"enablePurgeProtection": False}})],
        [resource("azure-native:keyvault:Vault", {"properties": {"enablePurgeProtection": True}})],
    ),
    # Kubernetes
    "k8s-no-privileged": (
        [deployment(pod_spec(container(securityContext={"privileged": True, "allowPrivilegeEscalation": False})))],
        [
            deployment(pod_spec()),
            deployment(pod_spec(container(securityContext={"privileged": True})), "device-plugin", "kube-system"),
        ],
    ),
    "k8s-no-host-namespaces": ([deployment(pod_spec(hostNetwork=True))], [deployment(pod_spec(hostNetwork=False))]),
    "k8s-no-privilege-escalation": ([deployment(pod_spec(container(securityContext={})))], [deployment(pod_spec())]),
    "k8s-no-added-capabilities": (
        [
            deployment(
                pod_spec(
                    container(
                        securityContext={"allowPrivilegeEscalation": False, "capabilities": {"add": ["SYS_ADMIN"]}}
                    )
                )
            )
        ],
        [
            deployment(
                pod_spec(
                    container(
                        securityContext={
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"add": ["NET_BIND_SERVICE"]},
                        }
                    )
                )
            )
        ],
    ),
    "k8s-run-as-non-root": (
        [deployment({**pod_spec(), "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}})],
        [deployment(pod_spec())],
    ),
    "k8s-seccomp-runtime-default": (
        [deployment({**pod_spec(), "securityContext": {"runAsNonRoot": True}})],
        [deployment(pod_spec())],
    ),
    "k8s-resource-limits": ([deployment(pod_spec(container(resources={})))], [deployment(pod_spec())]),
    "k8s-gpu-pods-request-gpus": (
        [deployment(pod_spec(**GPU_TOLERATION))],
        [
            deployment(
                pod_spec(
                    container(resources={"limits": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": 8}}),
                    **GPU_TOLERATION,
                )
            )
        ],
    ),
    "k8s-image-pinned": (
        [deployment(pod_spec(container(image="pytorch/pytorch:latest")))],
        [deployment(pod_spec(container(image="registry.local:5000/train@sha256:" + "a" * 64)))],
    ),
    "k8s-no-public-loadbalancer": (
        [resource("kubernetes:core/v1:Service", {"metadata": {"name": "chat"}, "spec": {"type": "LoadBalancer"}})],
        [
            resource(
                "kubernetes:core/v1:Service",
                {
                    "metadata": {"name": "chat", "annotations": {"networking.gke.io/load-balancer-type": "Internal"}},
                    "spec": {"type": "LoadBalancer"},
                },
            )
        ],
    ),
    "k8s-no-cluster-admin-binding": (
        [
            resource(
                "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
                {"metadata": {"name": "ci"}, "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}},
            )
        ],
        [
            resource(
                "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
                {"metadata": {"name": "ci"}, "roleRef": {"kind": "ClusterRole", "name": "view"}},
            )
        ],
    ),
    "k8s-secrets-as-files": (
        [
            deployment(
                pod_spec(container(env=[{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "t", "key": "k"}}}]))
            ),
            deployment(pod_spec(container(envFrom=[{"secretRef": {"name": "lake-keys"}}])), "b"),
        ],
        [
            deployment(
                pod_spec(
                    container(
                        env=[{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                        envFrom=[{"configMapRef": {"name": "settings"}}],
                        volumeMounts=[{"name": "keys", "mountPath": "/var/run/keys", "readOnly": True}],
                    ),
                    volumes=[{"name": "keys", "secret": {"secretName": "lake-keys"}}],
                )
            )
        ],
    ),
    "k8s-no-default-namespace": (
        [
            deployment(pod_spec(), namespace="default"),
            resource("kubernetes:core/v1:ConfigMap", {"metadata": {"name": "settings"}}, name="cm"),
        ],
        [
            deployment(pod_spec(), namespace="team-nlp"),
            resource(
                "kubernetes:core/v1:ConfigMap", {"metadata": {"name": "s", "namespace": "aiinfra-system"}}, name="cm"
            ),
        ],
    ),
    "k8s-rbac-no-wildcards": (
        [
            resource(
                CLUSTER_ROLE,
                {"metadata": {"name": "ops"}, "rules": [{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}]},
            )
        ],
        [
            resource(
                CLUSTER_ROLE,
                {
                    "metadata": {"name": "nodes"},
                    "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}],
                },
            )
        ],
    ),
    "k8s-privileged-namespace-admission": (
        [namespace(**FABRIC_LABEL), namespace("team-cv"), *pod_admission()[:1]],
        [namespace(**FABRIC_LABEL), *pod_admission(), namespace("aiinfra-system"), namespace("gpu-operator")],
    ),
    **POD_SECURITY_CASES,
    # Stack-wide
    "required-tags": (
        [resource("aws:ec2/vpc:Vpc", {"tags": {"owner": "ml"}})],
        [
            resource("aws:ec2/vpc:Vpc", {"tags": {"owner": "ml", "cost-center": "42"}}),
            resource("aws:iam/rolePolicyAttachment:RolePolicyAttachment", {}),
        ],
    ),
    "gpu-count-ceiling": (
        [node_group("p5.48xlarge", 4)],
        [node_group("p5.48xlarge", 2), node_group("m7i.2xlarge", 10)],
    ),
    "gpu-cost-ceiling": ([node_group("p5.48xlarge", 4)], [node_group("p5.48xlarge", 3)]),
    "protect-stateful-resources": (
        [resource("gcp:kms/cryptoKey:CryptoKey", {"rotationPeriod": "7776000s"})],
        [resource("gcp:kms/cryptoKey:CryptoKey", {"rotationPeriod": "7776000s"}, protect=True)],
    ),
}


def test_every_policy_of_the_pack_has_cases(started_pack):
    assert {p.name for p in started_pack.info.policies} == set(CASES)
    assert len(CASES) >= 35


@pytest.mark.parametrize("policy", sorted(CASES))
def test_violating_resources_are_reported(pack, policy):
    diagnostics = [d for d in analyze(pack, *CASES[policy][0]) if d.policy_name == policy]
    assert diagnostics, f"{policy} did not fire"
    assert all(d.enforcement_level == "mandatory" and "Remediation:" in d.message for d in diagnostics)


@pytest.mark.parametrize("policy", sorted(CASES))
def test_compliant_resources_pass(pack, policy):
    assert policy not in violated(pack, *CASES[policy][1])


def test_required_tags_count_the_providers_default_tags(pack):
    provider = resource(
        "pulumi:providers:aws", {"defaultTags": json.dumps({"tags": {"owner": "ml", "cost-center": "7"}})}, name="aws"
    )
    vpc = resource("aws:ec2/vpc:Vpc", {"tags": {"Name": "vpc"}}, provider=f"{provider.urn}::{provider.id}")
    assert "required-tags" not in violated(pack, provider, vpc)


UNKNOWN_CASES: dict[str, list] = {
    "aws-kms-key-rotation": [resource("aws:kms/key:Key", {"enableKeyRotation": UNKNOWN})],
    "aws-kms-no-wildcard-principal": [resource("aws:kms/key:Key", {"policy": UNKNOWN})],
    "aws-iam-no-wildcard-actions": [resource(ROLE_POLICY, {"policy": UNKNOWN})],
    "aws-eks-secrets-encryption": [resource(EKS, {"encryptionConfig": UNKNOWN})],
    "aws-eks-private-endpoint": [resource(EKS, {"vpcConfig": {"endpointPublicAccess": UNKNOWN}})],
    "aws-eks-control-plane-logs": [resource(EKS, {"enabledClusterLogTypes": UNKNOWN})],
    "aws-eks-network-policy": eks_with_vpc_cni(UNKNOWN),
    "aws-ec2-imdsv2": [resource(LAUNCH_TEMPLATE, {"metadataOptions": UNKNOWN})],
    "aws-s3-sse-kms": lake(
        ("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", {"rules": UNKNOWN})
    ),
    "aws-s3-versioning": lake(("aws:s3/bucketVersioning:BucketVersioning", {"versioningConfiguration": UNKNOWN})),
    "gcp-gke-secrets-encryption": [resource(GKE, {"databaseEncryption": {"state": UNKNOWN}})],
    "gcp-gke-node-service-account": [
        resource("gcp:container/nodePool:NodePool", {"nodeConfig": {"serviceAccount": UNKNOWN}})
    ],
    "gcp-kms-key-rotation": [resource("gcp:kms/cryptoKey:CryptoKey", {"rotationPeriod": UNKNOWN})],
    "azure-storage-min-tls12": [resource(STORAGE, {"minimumTlsVersion": UNKNOWN})],
    "azure-aks-private-or-authorized-ips": [resource(AKS, {"apiServerAccessProfile": UNKNOWN})],
    "k8s-image-pinned": [deployment(pod_spec(container(image=UNKNOWN)))],
    "k8s-resource-limits": [deployment(pod_spec(container(resources={"limits": UNKNOWN})))],
    "k8s-no-added-capabilities": [
        deployment(
            pod_spec(
                container(
                    securityContext={"allowPrivilegeEscalation": False, "capabilities": {"add": ["IPC_LOCK"]}},
                    resources={"limits": UNKNOWN},
                )
            )
        )
    ],
    "k8s-no-public-loadbalancer": [
        resource("kubernetes:core/v1:Service", {"metadata": {"annotations": UNKNOWN}, "spec": {"type": "LoadBalancer"}})
    ],
    "gcp-gke-private-endpoint": [resource(GKE, {"privateClusterConfig": UNKNOWN})],
    "gcp-gke-secure-boot": [resource(NODE_POOL_GKE, {"nodeConfig": UNKNOWN})],
    "gcp-gke-release-channel": [resource(GKE, {"releaseChannel": UNKNOWN})],
    "azure-aks-secrets-encryption": [resource(AKS, {"securityProfile": UNKNOWN})],
    "azure-aks-azure-rbac": [resource(AKS, {"aadProfile": UNKNOWN})],
    "k8s-no-default-namespace": [deployment(pod_spec(), namespace=UNKNOWN)],
    "k8s-image-digest": [deployment(pod_spec(container(image=UNKNOWN)))],
    "k8s-run-as-non-root": [deployment(pod_spec(securityContext={"runAsNonRoot": UNKNOWN}))],
    "k8s-drop-all-capabilities": [deployment(pod_spec(container(securityContext={"capabilities": {"drop": UNKNOWN}})))],
    "k8s-no-host-path": [deployment(pod_spec(volumes=[{"name": "h", "hostPath": {"path": UNKNOWN}}]))],
    "required-tags": [resource("aws:ec2/vpc:Vpc", {"tags": UNKNOWN})],
    "gpu-count-ceiling": [node_group("p5.48xlarge", UNKNOWN)],
}


@pytest.mark.parametrize("policy", sorted(UNKNOWN_CASES))
def test_values_unknown_during_preview_are_never_violations(pack, policy):
    diagnostics = analyze(pack, *UNKNOWN_CASES[policy])
    assert policy not in {d.policy_name for d in diagnostics}
    assert not [d for d in diagnostics if "during preview" in d.message], "a rule tripped over an unknown value"


def test_a_whole_unknown_resource_spec_is_never_a_violation(pack):
    spec = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "w", "namespace": "ml"},
        "spec": UNKNOWN,
    }
    assert not [d for d in analyze(pack, resource(DEPLOYMENT, spec)) if d.policy_name.startswith("k8s-")]


FABRIC_NAMESPACES = {"namespaceSelector": {"matchLabels": FABRIC_LABEL}}


@pytest.mark.parametrize(
    "binding",
    [
        {"actions": ("Audit", "Warn")},
        {"matchResources": {**FABRIC_NAMESPACES, "objectSelector": {"matchLabels": {"app": "nothing"}}}},
        {"matchResources": {"namespaceSelector": {"matchLabels": {"aiinfra.dev/pod-security-exceptions": "other"}}}},
        {"matchResources": {"namespaceSelector": {"matchExpressions": [{"key": "x", "operator": "Exists"}]}}},
        {"policyName": "missing"},
    ],
)
def test_a_privileged_namespace_needs_a_binding_that_denies_its_pods(pack, binding):
    name = "k8s-privileged-namespace-admission"
    assert name not in violated(pack, namespace(**FABRIC_LABEL), *pod_admission())
    assert name in violated(pack, namespace(**FABRIC_LABEL), *pod_admission(**binding))


def test_a_binding_holds_only_on_its_own_cluster(pack):
    a, b = (resource("pulumi:providers:kubernetes", {}, name=n) for n in ("cluster-a", "cluster-b"))
    on_a, on_b = f"{a.urn}::{a.id}", f"{b.urn}::{b.id}"
    name = "k8s-privileged-namespace-admission"
    assert name not in violated(pack, a, b, namespace(provider=on_a, **FABRIC_LABEL), *pod_admission(provider=on_a))
    assert name in violated(pack, a, b, namespace(provider=on_b, **FABRIC_LABEL), *pod_admission(provider=on_a))


def test_eks_network_policy_needs_the_clusters_own_vpc_cni_add_on(pack):
    name = "aws-eks-network-policy"
    enforcing = eks_with_vpc_cni(json.dumps({"enableNetworkPolicy": "true"}))
    other = resource(EKS, {"name": "serve"}, name="serve")
    assert name in violated(pack, resource(EKS, {"name": "train"}, name="train"))
    assert name in violated(pack, *enforcing, other)
    assert name not in violated(pack, *enforcing)
