#!/usr/bin/env bash
# build.sh NAME VERSION
#
# Builds HashiCorp NAME (consul or nomad) at VERSION from the Go module proxy, using the tools
# module in deploy/tools/NAME, and links the result into ./bin/NAME.
#
# Builds take about ten minutes of CPU each, so the binary is kept in a per-user cache outside the
# clone (DTS_CACHE_DIR, default ~/.cache/dts) and reused by every later clone on the machine.
set -euo pipefail

name=${1:?usage: build.sh NAME VERSION}
version=${2:?usage: build.sh NAME VERSION}
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${DTS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dts}
out="$cache/$name-$version"

if [ ! -x "$out" ]; then
  mkdir -p "$cache"
  echo "building $name $version into $out (first time only, about 10 minutes)" >&2
  tmp="$out.tmp.$$"
  trap 'rm -f "$tmp"' EXIT
  # A few of these modules are not in the checksum database; go.sum in the tools module pins
  # their hashes, so only they skip the database lookup.
  (cd "$root/deploy/tools/$name" &&
    GOFLAGS=-mod=mod \
    GONOSUMDB=github.com/hashicorp/consul-awsauth \
    GOTOOLCHAIN=local \
    go build -trimpath -o "$tmp" "github.com/hashicorp/$name")
  mv "$tmp" "$out"
  trap - EXIT
fi

mkdir -p "$root/bin"
ln -sf "$out" "$root/bin/$name"
# Print the first line only. Not `| head -n 1`: under pipefail the tool's SIGPIPE, when head exits
# before it finishes writing, would fail the build.
version_out=$("$root/bin/$name" version)
echo "${version_out%%$'\n'*}"
