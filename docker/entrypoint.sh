#!/bin/sh
# The image's entrypoint: runs `tern` with the given arguments, or `tern-fdb` when the store is
# FoundationDB (TERN_STORE__BACKEND=fdb, or backend = "fdb" in the config file), with the
# client library the FoundationDB operator's init container copied into $FDB_LIBRARY_DIR.
#
# On a StatefulSet (TERN_STATEFULSET=1) the pod's ordinal (the last field of $POD_NAME, else of
# the host name) gives the node id (ordinal + 1) and pod 0 starts the cluster the others join
# (`--cluster-init`, which does nothing once the pod has Raft state). TERN_BIN_DIR: where the
# binaries are (/usr/local/bin).
set -eu
bin=${TERN_BIN_DIR:-/usr/local/bin}
if [ "${TERN_STATEFULSET:-}" = "1" ] && [ "${1:-}" = "serve" ]; then
  host=${POD_NAME:-$(hostname)}
  ordinal=${host##*-}
  case "$ordinal" in
    ''|*[!0-9]*) echo "tern: TERN_STATEFULSET=1 but the host name $host has no ordinal" >&2; exit 2 ;;
  esac
  export TERN_CLUSTER__NODE_ID=$((ordinal + 1))
  if [ "$ordinal" = 0 ] && [ -n "${TERN_LISTENERS__CLUSTER:-}" ]; then
    set -- "$@" --cluster-init
  fi
fi
backend=${TERN_STORE__BACKEND:-}
if [ -z "$backend" ] && [ -r "${TERN_CONFIG:-/etc/tern/tern.toml}" ]; then
  backend=$(sed -n 's/^[[:space:]]*backend[[:space:]]*=[[:space:]]*"\([a-z]*\)".*/\1/p' \
    "${TERN_CONFIG:-/etc/tern/tern.toml}" | head -n 1)
fi
if [ "$backend" = "fdb" ]; then
  if [ ! -e "$FDB_LIBRARY_DIR/libfdb_c.so" ]; then
    echo "tern: store.backend is fdb but $FDB_LIBRARY_DIR/libfdb_c.so is missing (the FoundationDB operator's init container copies it there)" >&2
    exit 2
  fi
  export LD_LIBRARY_PATH="$FDB_LIBRARY_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  exec "$bin/tern-fdb" "$@"
fi
exec "$bin/tern" "$@"
