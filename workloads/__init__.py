"""PyTorch workloads (training, serving) and their deploy components."""
