#!/usr/bin/env bash
# Build the Dockerfile's base image locally (no container registry is reachable here):
# a Debian bookworm minbase rootfs with python3 (3.11) and venv, imported into podman and
# tagged with the exact name the Dockerfile's FROM uses. Idempotent: skips if the tag exists.
# Usage: build_base_image.sh IMAGE_NAME WORKDIR
set -euo pipefail
image="$1"
workdir="$2"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
podman_opts=(--cgroup-manager cgroupfs --runtime runc)
# This sandbox refuses podman's default rlimits (EPERM in runc); ask for modest ones.
run_opts=(--network host --ulimit nofile=4096:4096 --ulimit nproc=4096:4096)

if podman "${podman_opts[@]}" image exists "$image"; then
    echo "base image $image already present"
    exit 0
fi
rootfs="$workdir/rootfs"
rm -rf "$rootfs"
mkdir -p "$workdir"
echo "debootstrap bookworm (minbase) into $rootfs ..."
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" "$mirror" >"$workdir/debootstrap.log" 2>&1 \
    || { tail -n 30 "$workdir/debootstrap.log"; exit 1; }
# Slim the rootfs like the official slim images do (apt lists, docs, caches).
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/usr/share/doc/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
tar --numeric-owner -C "$rootfs" -c . | podman "${podman_opts[@]}" import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' - "$image"
rm -rf "$rootfs"
if ! podman "${podman_opts[@]}" run --rm "${run_opts[@]}" "$image" \
        python3 -c 'import sys, venv; print("base python", sys.version.split()[0])'; then
    podman "${podman_opts[@]}" rmi "$image" >/dev/null
    exit 1
fi
