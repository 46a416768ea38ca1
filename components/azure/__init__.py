"""The Azure adapter of `Cluster`: AKS with its network, keys, monitoring, GPU pools and GPU/InfiniBand software.

Import submodules directly (`components.azure.aks`); this package imports nothing so that planning another
cloud never loads the Azure SDK.
"""
