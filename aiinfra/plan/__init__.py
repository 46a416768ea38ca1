"""Offline plan: run a Pulumi Python program under the mock runtime, record what it registers."""
