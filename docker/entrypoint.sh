#!/bin/sh
# The image's entrypoint: runs `tern` with the given arguments, or `tern-fdb` when the store is
# FoundationDB (TERN_STORE__BACKEND=fdb, or backend = "fdb" in the config file), with the
# client library the FoundationDB operator's init container copied into $FDB_LIBRARY_DIR.
set -eu
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
  exec /usr/local/bin/tern-fdb "$@"
fi
exec /usr/local/bin/tern "$@"
