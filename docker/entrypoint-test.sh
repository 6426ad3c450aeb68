#!/usr/bin/env bash
# Tests docker/entrypoint.sh with stand-in binaries that print what they were run with: the
# node id from the pod's ordinal, --cluster-init on pod 0 only, the FoundationDB build with its
# library path when the store is fdb, and a clear refusal when the library is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
for b in tern tern-fdb; do
  # shellcheck disable=SC2016 # expanded by the stand-in, not here
  printf '#!/bin/sh\necho "%s $* id=${TERN_CLUSTER__NODE_ID:-} lib=${LD_LIBRARY_PATH:-}"\n' "$b" >"$bin/$b"
  chmod +x "$bin/$b"
done
run() { env -i PATH=/usr/bin:/bin TERN_BIN_DIR="$bin" TERN_CONFIG=/nonexistent "$@"; }
expect() {
  local want=$1; shift
  local got
  got=$(run "$@" 2>&1) || true
  if [ "$got" != "$want" ]; then
    echo "entrypoint: expected '$want', got '$got' for: $*" >&2
    exit 1
  fi
}
ep="$here/entrypoint.sh"
expect "tern serve --config c id= lib=" "$ep" serve --config c
expect "tern serve id=3 lib=" TERN_STATEFULSET=1 POD_NAME=tern-2 TERN_LISTENERS__CLUSTER=0.0.0.0:7000 "$ep" serve
expect "tern serve --cluster-init id=1 lib=" TERN_STATEFULSET=1 POD_NAME=tern-0 TERN_LISTENERS__CLUSTER=0.0.0.0:7000 "$ep" serve
expect "tern serve id=1 lib=" TERN_STATEFULSET=1 POD_NAME=tern-0 "$ep" serve
expect "tern: TERN_STATEFULSET=1 but the host name tern has no ordinal" TERN_STATEFULSET=1 POD_NAME=tern "$ep" serve
expect "tern check-config id= lib=" TERN_STATEFULSET=1 POD_NAME=tern-1 "$ep" check-config
mkdir -p "$bin/fdb"
expect "tern: store.backend is fdb but $bin/fdb/libfdb_c.so is missing (the FoundationDB operator's init container copies it there)" \
  TERN_STORE__BACKEND=fdb FDB_LIBRARY_DIR="$bin/fdb" "$ep" serve
touch "$bin/fdb/libfdb_c.so"
expect "tern-fdb serve id= lib=$bin/fdb" TERN_STORE__BACKEND=fdb FDB_LIBRARY_DIR="$bin/fdb" "$ep" serve
echo "entrypoint: all cases pass"
