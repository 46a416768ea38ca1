"""Serving workload: a dynamically batching completion server for the training workload's exported model
(`app`), how it runs on this machine (`local`) and in a container (`python -m workloads.serving`), and the
component that deploys it (`service.InferenceService`)."""
