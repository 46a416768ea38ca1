#!/bin/bash
# Stripe the VM's local NVMe disks into one RAID0 array and mount it for scratch.
# Runs on the host (the DaemonSet enters the host's namespaces with nsenter); safe to run again:
# an array or mount that already exists is reused, and a rebooted VM reassembles its array.
set -euo pipefail

MOUNT_POINT="${MOUNT_POINT:-/mnt/nvme}"
ARRAY="${ARRAY:-/dev/md/aiinfra-scratch}"
# Azure names its local (VM-attached) NVMe disks so; remote disks on NVMe VMs are "MSFT NVMe Accelerator".
LOCAL_MODEL="Microsoft NVMe Direct Disk"

if mountpoint -q "$MOUNT_POINT"; then
  echo "$MOUNT_POINT is already mounted"
  exit 0
fi

if ! command -v mdadm >/dev/null; then
  echo "mdadm is missing from the node image; cannot build the scratch array" >&2
  exit 1
fi

mdadm --assemble --scan >/dev/null 2>&1 || true

if [ ! -e "$ARRAY" ]; then
  mapfile -t disks < <(lsblk --nodeps --noheadings --paths --output NAME,MODEL | awk -v m="$LOCAL_MODEL" 'index($0, m) {print $1}')
  if [ "${#disks[@]}" -eq 0 ]; then
    echo "no local NVMe disks ($LOCAL_MODEL) on this node" >&2
    exit 1
  fi
  echo "striping ${#disks[@]} disks: ${disks[*]}"
  # --force allows a one-disk "array", so every size takes the same path.
  mdadm --create "$ARRAY" --name=aiinfra-scratch --level=0 --raid-devices="${#disks[@]}" \
    --chunk=512 --homehost=any --run --force "${disks[@]}"
  udevadm settle
fi

if ! blkid "$ARRAY" >/dev/null 2>&1; then
  mkfs.ext4 -F -m 0 -L aiinfra-scratch -E lazy_itable_init=1,lazy_journal_init=1,nodiscard "$ARRAY"
fi

mkdir -p "$MOUNT_POINT"
mount -o noatime,nodiratime "$ARRAY" "$MOUNT_POINT"
chmod 1777 "$MOUNT_POINT"
echo "mounted $ARRAY on $MOUNT_POINT"
