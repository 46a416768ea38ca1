"""GCP adapter of the neutral `Cluster` facade: GKE Standard with A3 Mega (GPUDirect-TCPXO), A3 Ultra
(GPUDirect-RDMA) and TPU slice node pools, on a new or existing VPC.

Modules: `gke` (the adapter, `GkeCluster`), `network` (VPCs and the extra GPU NIC networks),
`node_pool` (one GKE node pool per aiinfra pool), `fabric` (in-cluster objects for the GPU NICs and the
pinned NCCL plugin DaemonSets shipped in `manifests/`).
"""
