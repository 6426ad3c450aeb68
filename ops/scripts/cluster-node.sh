#!/usr/bin/env bash
# Starts node N (1, 2, 3, ...) of a Tern cluster on this machine, on a PostgreSQL database:
# the development profile with every port shifted by 100 * (N - 1), the cluster port 7000 + N,
# data in ./cluster-data/nodeN and certificates from ./certs (made once with
# `ternctl cluster certs --out certs 1 2 3`). Node 1 starts the cluster; the others join it; all
# three may start at once.
#
#   ops/scripts/cluster-node.sh 1 postgres://tern:PASSWORD@127.0.0.1:5432/tern
set -euo pipefail
n=${1:?usage: cluster-node.sh NODE_ID POSTGRES_URL}
url=${2:?usage: cluster-node.sh NODE_ID POSTGRES_URL}
tern=${TERN:-tern}
off=$(( (n - 1) * 100 ))
port() { echo "127.0.0.1:$(( $1 + off ))"; }
export TERN_STORE__BACKEND=postgres TERN_STORE__POSTGRES_URL="$url"
export TERN_SERVER__DATA_DIR="./cluster-data/node$n"
TERN_LISTENERS__SMTP=$(port 2525) TERN_LISTENERS__SUBMISSION=$(port 2587)
TERN_LISTENERS__SUBMISSIONS=$(port 2465) TERN_LISTENERS__IMAP=$(port 1143)
TERN_LISTENERS__IMAPS=$(port 1993) TERN_LISTENERS__POP3=$(port 1110)
TERN_LISTENERS__POP3S=$(port 1995) TERN_LISTENERS__HTTP=$(port 8080)
export TERN_LISTENERS__SMTP TERN_LISTENERS__SUBMISSION TERN_LISTENERS__SUBMISSIONS
export TERN_LISTENERS__IMAP TERN_LISTENERS__IMAPS TERN_LISTENERS__POP3 TERN_LISTENERS__POP3S
export TERN_LISTENERS__HTTP
export TERN_LISTENERS__CLUSTER="127.0.0.1:$(( 7000 + n ))"
export TERN_CLUSTER__NODE_ID="$n" TERN_CLUSTER__CA_FILE=certs/ca.pem
export TERN_CLUSTER__CERTIFICATE="certs/node-$n.pem" TERN_CLUSTER__PRIVATE_KEY="certs/node-$n.key"
if [ "$n" != 1 ]; then export TERN_CLUSTER__JOIN=127.0.0.1:7001; fi
exec "$tern" serve --dev
