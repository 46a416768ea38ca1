"""Mock answers for image builds (`docker-build:index:Image`): the digest a push would report. It is a hash of
the build's tags, whose content tag hashes exactly the files the Dockerfile copies, so an offline plan shows a
new digest exactly when `pulumi up` would build a new image."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aiinfra.plan.mock_registry import ResourceContext, resource


@resource("docker-build:index:Image")
def image(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    tags = [str(tag) for tag in ctx.inputs.get("tags") or []]
    digest = "sha256:" + hashlib.sha256(json.dumps([ctx.name, tags]).encode()).hexdigest()
    context = json.dumps(ctx.inputs.get("context") or {}, sort_keys=True)
    return digest, {
        "digest": digest,
        "ref": f"{tags[0]}@{digest}" if tags else digest,
        "contextHash": hashlib.sha256(context.encode()).hexdigest(),
    }
