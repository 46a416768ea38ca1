"""Customer-managed encryption keys: a key ring and a key of its own per component, rotated, with one Google
service agent allowed to encrypt and decrypt with it."""

from __future__ import annotations

from typing import NamedTuple

import pulumi
import pulumi_gcp as gcp

KEY_ROTATION = "7776000s"
"""90 days, the longest rotation period CIS GCP 1.10 allows."""
KMS_ENCRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


class ServiceKey(NamedTuple):
    key_ring: gcp.kms.KeyRing
    key: gcp.kms.CryptoKey
    grant: gcp.kms.CryptoKeyIAMMember
    """The agent's use of the key: whatever the agent encrypts must wait for it."""


def service_key(
    name: str,
    *,
    key: str,
    agent: str,
    member: pulumi.Input[str],
    region: str,
    labels: dict[str, str],
    protect: bool,
    opts: pulumi.ResourceOptions,
) -> ServiceKey:
    """Key ring `<name>-keyring`, key `<name>-<key>` and its grant `<name>-<key>-<agent>` to `member`. Key rings
    and keys cannot be deleted in GCP, only destroyed version by version: with `protect` (production) a destroy
    fails loudly instead of orphaning encrypted data."""
    stateful = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=protect))
    key_ring = gcp.kms.KeyRing(f"{name}-keyring", location=region, opts=stateful)
    crypto_key = gcp.kms.CryptoKey(
        f"{name}-{key}",
        key_ring=key_ring.id,
        purpose="ENCRYPT_DECRYPT",
        rotation_period=KEY_ROTATION,
        labels=labels,
        opts=stateful,
    )
    grant = gcp.kms.CryptoKeyIAMMember(
        f"{name}-{key}-{agent}", crypto_key_id=crypto_key.id, role=KMS_ENCRYPTER, member=member, opts=opts
    )
    return ServiceKey(key_ring, crypto_key, grant)
