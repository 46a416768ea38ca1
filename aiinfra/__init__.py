"""aiinfra: hybrid AI clusters as code. Importing this package imports nothing heavy."""

__version__ = "0.1.0"
