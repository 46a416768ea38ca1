"""Kubernetes-side components: the on-prem `Cluster` adapter, the platform layer every cluster carries
(JobSet, Kueue, GPU/fabric operators, metrics) and per-team `Tenancy`. All objects go through the
cluster's own `kubernetes_provider`; pinned versions live in `components.kubernetes.versions`."""
