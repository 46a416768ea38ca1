"""The Pulumi components that deploy the workloads onto a cluster: `TrainingJob` (a Kueue-admitted JobSet) and
`InferenceService` (Deployment, Service, HPA, PDB, NetworkPolicy). They import the runtime packages only for
their flag and setting names, never torch."""
