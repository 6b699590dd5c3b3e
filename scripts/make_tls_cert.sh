#!/usr/bin/env bash
# A self-signed certificate for localhost, for local use only (make certs, make stack): DIR/cert.pem and
# DIR/key.pem, written once. Production mounts a real certificate (TLS_DIR, docs/deployment.md). Never committed.
set -euo pipefail
dir=${1:-deploy/tls}
[ -f "$dir/cert.pem" ] && [ -f "$dir/key.pem" ] && exit 0
mkdir -p "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
chmod 644 "$dir/cert.pem"; chmod 600 "$dir/key.pem"
echo "Wrote a self-signed certificate for localhost to $dir/ (local use only)."
