"""The provider-neutral `ImageRegistry` facade: a private registry in one cloud, the workload images built from
this repository's Dockerfiles and pushed there by `pulumi up`, and pull rights for that cloud's clusters.

- AWS: one ECR repository per image, immutable tags, scan on push, encrypted with a KMS key of its own.
- GCP: one Artifact Registry Docker repository (CMEK, immutable tags, cleanup policies) for the images and a
  second, mutable one for BuildKit's cache.
- Azure: a Premium ACR without admin user or anonymous pull, reached by the clusters through a private endpoint;
  public network access is off unless `push_cidrs` lets the deploying machine in.
- On-prem: an existing registry (`url`) that aiinfra cannot configure; it only pushes there.

Each image is built with BuildKit (`pulumi_docker_build.Image`) for linux/amd64, from the repository root as
context, with its layer cache kept in the registry, and tagged with a hash of exactly the files its Dockerfile
copies: a change to the code an image carries gives a new tag, anything else gives none. Workloads reference the
image as `repository@sha256:<digest>` from the build's output, so a pod runs exactly the bytes that were pushed
by the deployment that planned it.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

import pulumi
import pulumi_docker_build as docker_build

from aiinfra.core.vocab import CLOUDS, Cloud
from components.common import ArgProblems, merge_tags
from components.contracts import ADAPTERS, RegistryAdapter, RegistryArgs, adapter_class

PLATFORM = docker_build.Platform.LINUX_AMD64
"""Every GPU and TPU node pool the catalog knows is x86-64."""


def dockerfile_sources(dockerfile: Path) -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY of build-context files (not `--from` another stage), with
    continuation lines joined: what the image takes from the repository."""
    text = dockerfile.read_text().replace("\\\n", " ")
    copies = []
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if not words or words[0].upper() != "COPY" or any(w.startswith("--from") for w in words):
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        copies.append((args[:-1], args[-1]))
    return copies


def _context_files(context: Path, dockerfile: Path) -> Iterator[Path]:
    yield dockerfile
    for sources, _ in dockerfile_sources(dockerfile):
        for source in sources:
            path = context / source
            if path.is_dir():
                yield from sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
            else:
                yield path


def content_tag(context: Path, dockerfile: str) -> str:
    """A tag naming exactly what the image is built from: the Dockerfile and the files its COPY lines take."""
    digest = hashlib.sha256()
    for path in _context_files(context, context / dockerfile):
        digest.update(path.relative_to(context).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return f"src-{digest.hexdigest()[:20]}"


def registry_problems(name: str, args: RegistryArgs) -> ArgProblems:
    problems = ArgProblems(name)
    cloud = args.cloud
    problems.check(cloud in CLOUDS, "cloud", f"{cloud!r} — choose one of {', '.join(CLOUDS)}")
    onprem = cloud == "onprem"
    if cloud in CLOUDS and not onprem:
        problems.check(bool(args.region), "region", f"required on {cloud}: the registry and its key live in one region")
    if onprem:
        url = urlparse(f"//{args.url}" if args.url else "")
        problems.check(
            bool(args.url) and bool(url.hostname) and "://" not in (args.url or ""),
            "url",
            f"{args.url!r} — give the registry as host[:port][/path], without a scheme (registry.example.com/ml)",
        )
        problems.check(not args.region, "region", "on-prem registries have no cloud region; remove it")
    else:
        problems.check(args.url is None, "url", "on-prem only; cloud registries are created here")
    if cloud == "azure":
        problems.check(
            bool(args.pullers),
            "pullers",
            "required on azure: clusters pull through private endpoints in their networks",
        )
    else:
        problems.check(not args.push_cidrs, "push_cidrs", "azure only: other registries authorize pushes by identity")
    for i, cidr in enumerate(args.push_cidrs):
        problems.check_narrow_cidr(("push_cidrs", i), cidr, "would open the registry to the internet")
    names = [image.repository for image in args.images]
    problems.check(len(set(names)) == len(names), "images", f"{names} — repositories repeat")
    context = Path(args.context)
    for i, image in enumerate(args.images):
        problems.check(
            (context / image.dockerfile).is_file(), ("images", i, "dockerfile"), f"{image.dockerfile} — no such file"
        )
    problems.check(args.untagged_days >= 1, "untagged_days", "must be 1 or more")
    problems.check(args.keep_versions >= 1, "keep_versions", "must be 1 or more")
    return problems


class ImageRegistry(pulumi.ComponentResource):
    """A private registry of one cloud with the workload images built and pushed into it."""

    cloud: Cloud
    adapter: RegistryAdapter
    builds: dict[str, docker_build.Image]
    """Repository → its build."""
    refs: dict[str, pulumi.Output[str]]
    """Repository → `<repository url>@sha256:<digest>` of the pushed image: what pods run."""

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None):
        registry_problems(name, args).raise_if_any()  # before registering anything
        super().__init__("aiinfra:index:ImageRegistry", name, None, opts)
        self.cloud = args.cloud
        tags = merge_tags(args.tags, {"aiinfra-registry": name})
        adapter_cls = adapter_class(ADAPTERS[args.cloud].registry)
        self.adapter = adapter_cls(name, replace(args, tags=tags), pulumi.ResourceOptions(parent=self))
        context = Path(args.context)
        credentials = self.adapter.push_credentials()
        after = pulumi.ResourceOptions(parent=self, depends_on=list(self.adapter.built_after()))
        self.builds, self.refs = {}, {}
        for image in args.images:
            repository = self.adapter.repository_url(image)
            cache = self.adapter.cache_ref(image)
            build = docker_build.Image(
                f"{name}-{image.repository}",
                context={"location": str(context)},
                dockerfile={"location": str(context / image.dockerfile)},
                platforms=[PLATFORM],
                push=True,
                tags=[pulumi.Output.concat(repository, ":", content_tag(context, image.dockerfile))],
                cache_from=[{"registry": {"ref": cache}}],
                # image_manifest: ECR and Artifact Registry accept the cache only as an image manifest.
                cache_to=[
                    {
                        "registry": {
                            "ref": cache,
                            "mode": docker_build.CacheMode.MAX,
                            "image_manifest": True,
                            "oci_media_types": True,
                        }
                    }
                ],
                registries=[credentials] if credentials is not None else None,
                labels={"org.opencontainers.image.source": "aiinfra", "aiinfra-image": image.repository},
                opts=after,
            )
            self.builds[image.repository] = build
            self.refs[image.repository] = pulumi.Output.concat(repository, "@", build.digest)
        self.register_outputs({"cloud": args.cloud, "address": self.adapter.address, "images": self.refs})
