#!/bin/sh
# As the official image's entrypoint: NGINX_LOCAL_RESOLVERS from /etc/resolv.conf, then every
# /etc/nginx/templates/*.template rendered with the environment's variables (only those; nginx's own $vars stay)
# into /etc/nginx/conf.d/. One difference: only the first nameserver. podman lists its network's DNS server (which
# knows the service names) first and the host's after it; nginx asks its resolvers in turn, and the host's
# answers "no such host" for `web`.
set -eu
NGINX_LOCAL_RESOLVERS=$(awk '$1=="nameserver" {print ($2 ~ ":") ? "[" $2 "]" : $2; exit}' /etc/resolv.conf)
export NGINX_LOCAL_RESOLVERS
defined=$(env | cut -d= -f1 | sed 's/^/$/' | tr '\n' ' ')
for template in /etc/nginx/templates/*.template; do
  [ -e "$template" ] || continue
  out="/etc/nginx/conf.d/$(basename "$template" .template)"
  envsubst "$defined" < "$template" > "$out"
done
exec "$@"
