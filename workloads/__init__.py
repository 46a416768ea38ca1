"""PyTorch workloads: the runtime code that goes into images (`shared` by both, the trainer in `training`, the
model server in `serving`) and the components that deploy them (`deploy`)."""
