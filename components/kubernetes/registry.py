"""The on-prem adapter of `ImageRegistry`: an existing registry (Harbor, Quay, a distribution server) that
aiinfra pushes to but cannot configure. Pushes use the deploying machine's Docker credentials (`docker login`);
the nodes' container runtime must already trust and authenticate to it, as for any image the cluster runs.
"""

from __future__ import annotations

import pulumi

from components.contracts import ImageSource, RegistryAdapter, RegistryArgs


class ExternalRegistry(RegistryAdapter):
    """Names under the registry's URL; creates nothing."""

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiinfra:kubernetes:ExternalRegistry", name, None, opts)
        self.address = pulumi.Output.from_input(str(args.url).rstrip("/"))
        self.register_outputs({"address": self.address})

    def repository_url(self, image: ImageSource) -> pulumi.Output[str]:
        return self.address.apply(lambda address: f"{address}/{image.repository}")
