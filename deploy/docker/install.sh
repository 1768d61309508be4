#!/bin/sh
# Installs one mlo image's application into PREFIX: the steps every Dockerfile in this directory
# RUNs, kept here so that they also run (and are tested) outside a container.
#
#   deploy/docker/install.sh <orchestrator|cpu|gpu|cli> <PREFIX>
#
# PREFIX must not exist or be empty (nothing is installed over an earlier install). It receives:
#   - the runtime sources (bin, cli, lib, activities, workflows, workers, models, tsconfig.json) and
#     package.json, package-lock.json and .npmrc (its onnxruntime-node-install=skip applies);
#   - node_modules from `npm ci --omit=dev` (tsx, which runs the TypeScript, is a runtime dependency),
#     with the native binaries of other platforms removed (onnxruntime-node, Temporal's core bridge);
#   - for the pools that run trainers (cpu, gpu): trainers/ and a Python venv PREFIX/.venv with the
#     pinned requirements.txt (the trainer process runs `python` as PREFIX/.venv/bin/python).
# A venv is bound to its path: install at the path the image runs from (the Dockerfiles use /app).
#
# Environment: NPM_CONFIG_* and PIP_* reach npm and pip as usual (e.g. PIP_FIND_LINKS with
# PIP_NO_INDEX=1 for a wheelhouse, NPM_CONFIG_PREFER_OFFLINE=true to use npm's cache first);
# MLO_PYTHON names the Python interpreter (default: python3).
set -eu

usage() {
  echo "usage: $0 <orchestrator|cpu|gpu|cli> <PREFIX>" >&2
  exit 2
}
[ $# -eq 2 ] || usage
pool=$1
prefix=$2
case "$pool" in
  orchestrator | cli) trainers=no ;;
  cpu | gpu) trainers=yes ;;
  *)
    echo "$0: unknown pool '$pool': expected orchestrator, cpu, gpu or cli" >&2
    exit 2
    ;;
esac

src=$(cd "$(dirname "$0")/../.." && pwd)
if [ -e "$prefix" ] && [ -n "$(ls -A "$prefix" 2>/dev/null)" ]; then
  echo "$0: $prefix is not empty: install into a new or empty directory" >&2
  exit 2
fi
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
say() { echo "[install $pool] $*"; }

say "sources from $src into $prefix"
for f in package.json package-lock.json .npmrc tsconfig.json; do cp "$src/$f" "$prefix/$f"; done
for d in bin cli lib activities workflows workers models; do cp -R "$src/$d" "$prefix/$d"; done
if [ "$trainers" = yes ]; then
  cp -R "$src/trainers" "$prefix/trainers"
  cp "$src/requirements.txt" "$prefix/requirements.txt"
fi
# Python bytecode and editor leftovers of the source tree stay out.
find "$prefix" \( -name __pycache__ -o -name '*.pyc' \) -prune -exec rm -rf {} +

say "npm ci --omit=dev"
(cd "$prefix" && npm ci --omit=dev --no-audit --no-fund --loglevel=error)

# The packages ship the native binaries of every platform; keep this one's.
platform=$(node -p process.platform)
arch=$(node -p process.arch)
for dir in "$prefix"/node_modules/onnxruntime-node/bin/napi-v*; do
  [ -d "$dir" ] || continue
  for p in "$dir"/*; do
    [ "$(basename "$p")" = "$platform" ] || rm -rf "$p"
  done
  for a in "$dir/$platform"/*; do
    [ -e "$a" ] || continue
    [ "$(basename "$a")" = "$arch" ] || rm -rf "$a"
  done
done
case "$arch" in
  x64) triple=x86_64 ;;
  arm64) triple=aarch64 ;;
  *) triple=$arch ;;
esac
case "$platform" in
  linux) triple="$triple-unknown-linux-gnu" ;;
  darwin) triple="$triple-apple-darwin" ;;
  *) triple="$triple-pc-windows-msvc" ;;
esac
bridge="$prefix/node_modules/@temporalio/core-bridge/releases"
if [ -d "$bridge/$triple" ]; then
  for r in "$bridge"/*; do [ "$(basename "$r")" = "$triple" ] || rm -rf "$r"; done
fi

if [ "$trainers" = yes ]; then
  python=${MLO_PYTHON:-python3}
  say "Python venv $prefix/.venv ($($python --version 2>&1)) from requirements.txt"
  "$python" -m venv "$prefix/.venv"
  "$prefix/.venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$prefix/requirements.txt"
  # The same stamp the dev stack writes (lib/stack/tools.ts), so tools that check the venv accept it.
  sha256sum "$prefix/requirements.txt" | cut -d' ' -f1 >"$prefix/.venv/.mlo-requirements.sha256"
fi

say "done: $(du -sh "$prefix" | cut -f1)"
