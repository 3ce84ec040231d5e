#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Deploy weft to the current kubectl context: make (once) the bootstrap key,
# store it as Secret weft-bootstrap-identity, point every other role at it
# by the headless Service's DNS name (ConfigMap weft-bootstrap-peers), then
# apply an overlay and wait for the rollout.
set -euo pipefail
usage() {
    cat <<U
usage: deploy/scripts/deploy.sh [--overlay local|cloud] [--image NAME:TAG] [--key-dir DIR]
                                [--delete]
  --overlay  deploy/k8s/overlays/<name> [local]
  --image    override the overlay's weft-node image
  --key-dir  where the bootstrap p2p.key is kept between deploys [deploy/.bootstrap-key]
  --delete   remove everything (the namespace weft)
Needs kubectl, and weft-node (PATH or build/bin) or docker to make the key.
U
}
overlay=local image="" keydir="" del=0
while [ $# -gt 0 ]; do
    case $1 in
    --overlay) overlay=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    --key-dir) keydir=$2; shift 2 ;;
    --delete) del=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "deploy.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
root=$(cd "$(dirname "$0")/../.." && pwd)
ns=weft
dir="$root/deploy/k8s/overlays/$overlay"
[ -f "$dir/kustomization.yaml" ] || { echo "deploy.sh: --overlay $overlay: no $dir/kustomization.yaml" >&2; exit 2; }
if [ $del = 1 ]; then
    kubectl delete namespace "$ns" --ignore-not-found
    exit 0
fi
keydir=${keydir:-$root/deploy/.bootstrap-key}
mkdir -p "$keydir"
node_bin=$(command -v weft-node || echo "$root/build/bin/weft-node")
if [ -x "$node_bin" ]; then
    id=$(IDENTITY_DIR="$keydir" "$node_bin" generate-key --output-peer-id)
else
    id=$(docker run --rm -u "$(id -u)" -v "$keydir:/identity" weft/weft-node:local generate-key --output-peer-id)
fi
echo "bootstrap peer id $id"
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$ns" create secret generic weft-bootstrap-identity --from-file=p2p.key="$keydir/p2p.key" \
    --dry-run=client -o yaml | kubectl apply -f -
peers="/dns4/weft-bootstrap-0.weft-bootstrap.$ns.svc.cluster.local/tcp/7070/p2p/$id"
kubectl -n "$ns" create configmap weft-bootstrap-peers --from-literal=BOOTSTRAP_PEERS="$peers" \
    --dry-run=client -o yaml | kubectl apply -f -
if [ -n "$image" ]; then
    kubectl kustomize "$dir" | sed "s#image: .*weft-node:.*#image: $image#" | kubectl apply -f -
else
    kubectl apply -k "$dir"
fi
kubectl -n "$ns" rollout status statefulset/weft-bootstrap --timeout=180s
kubectl -n "$ns" rollout status deployment/weft-relay --timeout=180s
kubectl -n "$ns" rollout status statefulset/weft-worker --timeout=300s
kubectl -n "$ns" get pods -o wide
