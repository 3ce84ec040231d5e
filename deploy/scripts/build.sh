#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build the weft-node image and, for a local cluster, load it into it.
set -euo pipefail
usage() {
    cat <<U
usage: deploy/scripts/build.sh [--tag TAG] [--load kind|minikube|k3d|none] [--push]
  Builds docker/Dockerfile as weft/weft-node:TAG [local].
  --load   put the image into a local cluster (the local overlay never pulls)
  --push   push it (tag it as your registry's name first: --tag REGISTRY/weft/weft-node:T)
U
}
tag=local load=none push=0
while [ $# -gt 0 ]; do
    case $1 in
    --tag) tag=$2; shift 2 ;;
    --load) load=$2; shift 2 ;;
    --push) push=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "build.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
root=$(cd "$(dirname "$0")/../.." && pwd)
image=$tag
case $tag in */* | *:*) ;; *) image=weft/weft-node:$tag ;; esac
docker build -f "$root/docker/Dockerfile" -t "$image" "$root"
case $load in
kind) kind load docker-image "$image" ;;
minikube) minikube image load "$image" ;;
k3d) k3d image import "$image" ;;
none) ;;
*) echo "build.sh: --load $load: expected kind, minikube, k3d or none" >&2; exit 2 ;;
esac
[ $push = 1 ] && docker push "$image"
echo "built $image"
