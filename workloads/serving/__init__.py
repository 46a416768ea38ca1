"""The model server: a dynamically batching completion server for the trainer's exported model (`app`), how it
runs on this machine (`local`) and in a container (`python -m workloads.serving`)."""
