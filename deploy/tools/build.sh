#!/usr/bin/env bash
# build.sh NAME VERSION
#
# Builds NAME (consul, nomad or dolt) from the Go module proxy, using the tools module in
# deploy/tools/NAME, and links the result into ./bin/NAME. VERSION names the cached binary and
# must be the one that deploy/tools/NAME/go.mod pins (for dolt, its version and commit:
# 1.86.4-73fcb4a868c2 for the pseudo-version ...-73fcb4a868c2).
#
# Builds take about ten minutes of CPU each, so the binary is kept in a per-user cache outside the
# clone (DTS_CACHE_DIR, default ~/.cache/dts) and reused by every later clone on the machine.
set -euo pipefail

name=${1:?usage: build.sh NAME VERSION}
version=${2:?usage: build.sh NAME VERSION}
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${DTS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dts}
out="$cache/$name-$version"

# A few modules are not in the checksum database; go.sum in the tools module pins their hashes,
# so only they skip the database lookup.
case $name in
consul | nomad)
  module=github.com/hashicorp/$name
  pkg=$module
  nosumdb=github.com/hashicorp/consul-awsauth
  cgo= # the environment's default
  ;;
dolt)
  module=github.com/dolthub/dolt/go
  pkg=$module/cmd/dolt
  nosumdb=github.com/dolthub/dolt/go,github.com/dolthub/go-mysql-server
  # Dolt's regular expressions use ICU through cgo (libicu-dev, see the Makefile's deps-dolt).
  cgo=1
  ;;
*)
  echo "build.sh: unknown tool $name (consul, nomad or dolt)" >&2
  exit 2
  ;;
esac

# The cache is keyed by VERSION alone: refuse a VERSION that is not the one go.mod pins, or a
# stale binary would be reused after the pin moves.
if ! grep -Eq "^require $module v[^ ]*${version##*-}\$" "$root/deploy/tools/$name/go.mod"; then
  echo "build.sh: deploy/tools/$name/go.mod does not pin $module at $version" >&2
  exit 2
fi

if [ ! -x "$out" ]; then
  mkdir -p "$cache"
  echo "building $name $version into $out (first time only, about 10 minutes)" >&2
  tmp="$out.tmp.$$"
  trap 'rm -f "$tmp"' EXIT
  (cd "$root/deploy/tools/$name" &&
    env GOFLAGS=-mod=mod \
    GONOSUMDB="$nosumdb" \
    GOTOOLCHAIN=local \
    ${cgo:+CGO_ENABLED=$cgo} \
    go build -trimpath -o "$tmp" "$pkg")
  mv "$tmp" "$out"
  trap - EXIT
fi

mkdir -p "$root/bin"
ln -sf "$out" "$root/bin/$name"

if [ "$name" = dolt ]; then
  # `dolt version` asks GitHub for the latest release and writes its config under DOLT_ROOT_PATH:
  # give it a throwaway root with the version check and metrics off, so it stays offline.
  droot=$(mktemp -d)
  trap 'rm -rf "$droot"' EXIT
  export DOLT_ROOT_PATH=$droot DOLT_DISABLE_EVENT_FLUSH=1 DOLT_EVENTS_EMITTER=null
  "$root/bin/dolt" config --global --add metrics.disabled true >/dev/null
  "$root/bin/dolt" config --global --add versioncheck.disabled true >/dev/null
fi
# Print the first line only. Not `| head -n 1`: under pipefail the tool's SIGPIPE, when head exits
# before it finishes writing, would fail the build.
version_out=$("$root/bin/$name" version)
echo "${version_out%%$'\n'*}"
