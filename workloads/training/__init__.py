"""The trainer: the PyTorch training loop the training image runs under torchrun, and how it runs on this machine
(`local`)."""
