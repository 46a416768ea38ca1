"""Deploy a plan's AWS resources to moto the way `pulumi up` would: each resource created with its planned
inputs, autonamed resources named `<logical>-<7 hex>` (other hex than the plan's mocks), and every planned
reference to another resource (ids, ARNs, names) replaced by what that resource really got.

Written independently of aiinfra.audit (plain text replacement over the inputs' JSON), so a translation bug in the
audit cannot hide behind the same bug here. Only what the audit reads is deployed, plus what it references (the
flow logs' log group); subnets and security groups stay the plan's ids (moto does not check them).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import boto3
import botocore.exceptions
import botocore.parsers

from aiinfra.plan.engine import ProgramRun, Recorded

REGION = "us-east-1"


class Deployment:
    def __init__(self, run: ProgramRun, endpoint: str):
        self.run = run
        self.endpoint = endpoint
        self.replace: dict[str, str] = {}
        """Planned identifier → deployed one."""
        self.physical: dict[str, str] = {}
        """URN → deployed physical name or id."""
        self.skipped: list[str] = []

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint)  # pyright: ignore

    # ------------------------------------------------------------------ helpers

    def of_type(self, type_: str) -> list[Recorded]:
        return [r for r in self.run.resources if r.type == type_]

    def inputs(self, resource: Recorded) -> dict[str, Any]:
        text = json.dumps(resource.inputs)
        for planned in sorted(self.replace, key=len, reverse=True):
            text = text.replace(planned, self.replace[planned])
        return json.loads(text)

    def autoname(self, resource: Recorded, given: Any = None, lower: bool = False) -> str:
        if isinstance(given, str):
            return given
        suffix = hashlib.sha256(f"deployed/{resource.urn}".encode()).hexdigest()[:7]
        return f"{resource.name.lower() if lower else resource.name}-{suffix}"

    def created(self, resource: Recorded, **ids: str) -> None:
        """Record what the resource got for each output the plan mocked (id and the named outputs)."""
        for key, live in ids.items():
            planned = resource.id if key == "id" else resource.outputs.get(key)
            if isinstance(planned, str) and planned != live:
                self.replace[planned] = live
        self.physical[resource.urn] = ids.get("name") or ids.get("bucket") or ids.get("id") or ""

    # ------------------------------------------------------------------ the stack

    def deploy(self) -> Deployment:
        self.roles()
        self.keys()
        self.role_policies()
        self.buckets()
        self.network()
        self.placement_groups()
        self.launch_templates()
        self.clusters()
        return self

    def roles(self) -> None:
        iam = self.client("iam")
        for role in self.of_type("aws:iam/role:Role"):
            i = self.inputs(role)
            name = self.autoname(role, i.get("name"))
            arn = iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=i["assumeRolePolicy"],
                Description=i.get("description", ""),
                MaxSessionDuration=int(i.get("maxSessionDuration", 3600)),
                Tags=[{"Key": k, "Value": v} for k, v in i.get("tags", {}).items()],
            )["Role"]["Arn"]
            self.created(role, id=name, name=name, arn=arn)

    def keys(self) -> None:
        kms = self.client("kms")
        for key in self.of_type("aws:kms/key:Key"):
            i = self.inputs(key)
            meta = kms.create_key(
                Description=i.get("description", ""),
                Policy=i["policy"],
                Tags=[{"TagKey": k, "TagValue": v} for k, v in i.get("tags", {}).items()],
            )["KeyMetadata"]
            if i.get("enableKeyRotation"):
                kms.enable_key_rotation(KeyId=meta["KeyId"])
            self.created(key, id=meta["KeyId"], keyId=meta["KeyId"], arn=meta["Arn"])
        for alias in self.of_type("aws:kms/alias:Alias"):
            i = self.inputs(alias)
            kms.create_alias(AliasName=i["name"], TargetKeyId=i["targetKeyId"])

    def role_policies(self) -> None:
        iam = self.client("iam")
        for policy in self.of_type("aws:iam/rolePolicy:RolePolicy"):
            i = self.inputs(policy)
            name = self.autoname(policy, i.get("name"))
            iam.put_role_policy(RoleName=i["role"], PolicyName=name, PolicyDocument=i["policy"])
            self.created(policy, id=f"{i['role']}:{name}", name=name)
        for attachment in self.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
            i = self.inputs(attachment)
            iam.attach_role_policy(RoleName=i["role"], PolicyArn=i["policyArn"])

    def buckets(self) -> None:
        s3 = self.client("s3")
        for bucket in self.of_type("aws:s3/bucket:Bucket"):
            i = self.inputs(bucket)
            name = self.autoname(bucket, i.get("bucket"), lower=True)
            s3.create_bucket(Bucket=name)
            s3.put_bucket_tagging(
                Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in i["tags"].items()]}
            )
            self.created(bucket, id=name, bucket=name, arn=f"arn:aws:s3:::{name}")
        for config in self.of_type(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        ):
            i = self.inputs(config)
            rules = [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": r["applyServerSideEncryptionByDefault"]["sseAlgorithm"],
                        "KMSMasterKeyID": r["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"],
                    },
                    "BucketKeyEnabled": r["bucketKeyEnabled"],
                }
                for r in i["rules"]
            ]
            s3.put_bucket_encryption(Bucket=i["bucket"], ServerSideEncryptionConfiguration={"Rules": rules})
        for block in self.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"):
            i = self.inputs(block)
            flags = ("blockPublicAcls", "ignorePublicAcls", "blockPublicPolicy", "restrictPublicBuckets")
            s3.put_public_access_block(
                Bucket=i["bucket"],
                PublicAccessBlockConfiguration={f[0].upper() + f[1:]: bool(i[f]) for f in flags},
            )
        for versioning in self.of_type("aws:s3/bucketVersioning:BucketVersioning"):
            i = self.inputs(versioning)
            status = i["versioningConfiguration"]["status"]
            s3.put_bucket_versioning(Bucket=i["bucket"], VersioningConfiguration={"Status": status})
        for ownership in self.of_type("aws:s3/bucketOwnershipControls:BucketOwnershipControls"):
            i = self.inputs(ownership)
            rule = {"ObjectOwnership": i["rule"]["objectOwnership"]}
            s3.put_bucket_ownership_controls(Bucket=i["bucket"], OwnershipControls={"Rules": [rule]})
        for policy in self.of_type("aws:s3/bucketPolicy:BucketPolicy"):
            i = self.inputs(policy)
            s3.put_bucket_policy(Bucket=i["bucket"], Policy=i["policy"])

    def network(self) -> None:
        ec2, logs = self.client("ec2"), self.client("logs")
        for vpc in self.of_type("aws:ec2/vpc:Vpc"):
            i = self.inputs(vpc)
            tags = [{"Key": k, "Value": v} for k, v in i["tags"].items()]
            vpc_id = ec2.create_vpc(
                CidrBlock=i["cidrBlock"], TagSpecifications=[{"ResourceType": "vpc", "Tags": tags}]
            )["Vpc"]["VpcId"]
            ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": bool(i["enableDnsSupport"])})
            ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": bool(i["enableDnsHostnames"])})
            self.created(vpc, id=vpc_id)
        account = self.client("sts").get_caller_identity()["Account"]
        for group in self.of_type("aws:cloudwatch/logGroup:LogGroup"):
            i = self.inputs(group)
            name = self.autoname(group, i.get("name"))
            logs.create_log_group(logGroupName=name, tags=i.get("tags", {}))
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(i["retentionInDays"]))
            self.created(group, id=name, name=name, arn=f"arn:aws:logs:{REGION}:{account}:log-group:{name}")
        for log in self.of_type("aws:ec2/flowLog:FlowLog"):
            i = self.inputs(log)
            tags = [{"Key": k, "Value": v} for k, v in i["tags"].items()]
            ec2.create_flow_logs(
                ResourceIds=[i["vpcId"]],
                ResourceType="VPC",
                TrafficType=i["trafficType"],
                LogDestinationType=i["logDestinationType"],
                LogDestination=i["logDestination"],
                DeliverLogsPermissionArn=i["iamRoleArn"],
                TagSpecifications=[{"ResourceType": "vpc-flow-log", "Tags": tags}],
            )

    def placement_groups(self) -> None:
        ec2 = self.client("ec2")
        for group in self.of_type("aws:ec2/placementGroup:PlacementGroup"):
            i = self.inputs(group)
            name = self.autoname(group, i.get("name"))
            try:
                ec2.create_placement_group(GroupName=name, Strategy=i["strategy"])
            except botocore.parsers.ResponseParserError:  # moto 5 lacks placement groups
                self.skipped.append(group.urn)
            self.created(group, id=name, name=name)

    def launch_templates(self) -> None:
        ec2 = self.client("ec2")
        for template in self.of_type("aws:ec2/launchTemplate:LaunchTemplate"):
            i = self.inputs(template)
            name = self.autoname(template, i.get("name"))
            data: dict[str, Any] = {
                "MetadataOptions": {
                    "HttpEndpoint": i["metadataOptions"]["httpEndpoint"],
                    "HttpTokens": i["metadataOptions"]["httpTokens"],
                    "HttpPutResponseHopLimit": int(i["metadataOptions"]["httpPutResponseHopLimit"]),
                },
                "BlockDeviceMappings": [
                    {
                        "DeviceName": m["deviceName"],
                        "Ebs": {
                            "VolumeType": m["ebs"]["volumeType"],
                            "VolumeSize": int(m["ebs"]["volumeSize"]),
                            "Encrypted": m["ebs"]["encrypted"] == "true",
                            **(
                                {"DeleteOnTermination": m["ebs"]["deleteOnTermination"] == "true"}
                                if "deleteOnTermination" in m["ebs"]
                                else {}
                            ),
                        },
                    }
                    for m in i.get("blockDeviceMappings", [])
                ],
                "TagSpecifications": [
                    {"ResourceType": s["resourceType"], "Tags": [{"Key": k, "Value": v} for k, v in s["tags"].items()]}
                    for s in i.get("tagSpecifications", [])
                ],
            }
            if i.get("networkInterfaces"):
                data["NetworkInterfaces"] = [
                    {
                        "InterfaceType": n["interfaceType"],
                        "NetworkCardIndex": int(n["networkCardIndex"]),
                        "DeviceIndex": int(n["deviceIndex"]),
                        "Groups": n["securityGroups"],
                        "AssociatePublicIpAddress": n["associatePublicIpAddress"] == "true",
                        "DeleteOnTermination": n["deleteOnTermination"] == "true",
                    }
                    for n in i["networkInterfaces"]
                ]
            if i.get("placement"):
                data["Placement"] = {"GroupName": i["placement"]["groupName"]}
            if i.get("userData"):
                data["UserData"] = i["userData"]
            created = ec2.create_launch_template(
                LaunchTemplateName=name,
                VersionDescription=i.get("description", ""),
                LaunchTemplateData=data,
                TagSpecifications=[
                    {"ResourceType": "launch-template", "Tags": [{"Key": k, "Value": v} for k, v in i["tags"].items()]}
                ],
            )["LaunchTemplate"]
            self.created(template, id=created["LaunchTemplateId"], name=name)

    def clusters(self) -> None:
        eks = self.client("eks")
        for cluster in self.of_type("aws:eks/cluster:Cluster"):
            i = self.inputs(cluster)
            name = self.autoname(cluster, i.get("name"))
            vpc = i["vpcConfig"]
            created = eks.create_cluster(
                name=name,
                version=i["version"],
                roleArn=i["roleArn"],
                resourcesVpcConfig={
                    "subnetIds": vpc["subnetIds"],
                    "securityGroupIds": vpc["securityGroupIds"],
                    "endpointPublicAccess": vpc["endpointPublicAccess"],
                    "endpointPrivateAccess": vpc["endpointPrivateAccess"],
                },
                logging={"clusterLogging": [{"types": i["enabledClusterLogTypes"], "enabled": True}]},
                encryptionConfig=[i["encryptionConfig"]],
                accessConfig={"authenticationMode": i["accessConfig"]["authenticationMode"]},
                tags=i["tags"],
            )["cluster"]
            self.created(cluster, id=name, name=name, arn=created["arn"])
        for group in self.of_type("aws:eks/nodeGroup:NodeGroup"):
            i = self.inputs(group)
            name = self.autoname(group, i.get("nodeGroupName"))
            scaling = {k: int(v) for k, v in i["scalingConfig"].items()}
            created = eks.create_nodegroup(
                clusterName=i["clusterName"],
                nodegroupName=name,
                nodeRole=i["nodeRoleArn"],
                subnets=i["subnetIds"],
                instanceTypes=i["instanceTypes"],
                amiType=i["amiType"],
                capacityType=i["capacityType"],
                scalingConfig=scaling,
                labels=i["labels"],
                taints=i["taints"],
                launchTemplate={"id": i["launchTemplate"]["id"], "version": i["launchTemplate"]["version"]},
                updateConfig={k: int(v) for k, v in i["updateConfig"].items()},
                tags=i["tags"],
            )["nodegroup"]
            self.created(group, id=f"{i['clusterName']}:{name}", nodeGroupName=name, arn=created["nodegroupArn"])
        for addon in self.of_type("aws:eks/addon:Addon"):
            i = self.inputs(addon)
            try:
                eks.create_addon(clusterName=i["clusterName"], addonName=i["addonName"], tags=i["tags"])
            except botocore.exceptions.ClientError:  # moto 5 has no EKS add-on API (404)
                self.skipped.append(addon.urn)
