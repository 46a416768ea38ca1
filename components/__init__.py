"""Reusable Pulumi components: provider-neutral facades and one adapter package per cloud."""
