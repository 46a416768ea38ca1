"""Training workload: the PyTorch code that runs on the clusters and the component that deploys it."""
