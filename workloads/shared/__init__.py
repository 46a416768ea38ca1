"""Runtime code both images carry: the model, its tokenizer, export to safetensors and lake I/O. Imports torch,
never Pulumi."""
