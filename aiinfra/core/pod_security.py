"""The value lists of the Kubernetes Pod Security Standards that a check compares against, kept once for the two
places that enforce them: the fabric admission policy's CEL (components.kubernetes.admission) and the policy
pack's pod-security rules (policies/rules/kubernetes.py).

Source: https://kubernetes.io/docs/concepts/security/pod-security-standards/ (Kubernetes v1.34, checked 2026-12).
"""

from __future__ import annotations

RESTRICTED_VOLUMES = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
)
"""Volume types `restricted` allows."""
RESTRICTED_CAPABILITIES = ("NET_BIND_SERVICE",)
"""The one capability `restricted` lets a container add back after dropping ALL."""
SECCOMP_TYPES = ("RuntimeDefault", "Localhost")
"""Seccomp profiles `restricted` requires (`baseline` only refuses Unconfined)."""
APPARMOR_TYPES = ("RuntimeDefault", "Localhost")
"""AppArmor profile types `baseline` allows besides unset."""
SELINUX_TYPES = ("container_t", "container_init_t", "container_kvm_t", "container_engine_t")
"""SELinux types `baseline` allows besides unset or empty (container_engine_t from policy version v1.31)."""
SAFE_SYSCTLS = (
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
)
"""Baseline's safe sysctls as of policy version v1.29 (the oldest any supported cluster runs)."""
