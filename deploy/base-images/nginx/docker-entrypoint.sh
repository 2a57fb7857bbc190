#!/bin/sh
# Like the official nginx image's entrypoint: render /etc/nginx/templates/*.template
# into /etc/nginx/conf.d/, substituting only variables that are set (so nginx's own
# $uri and friends survive), then run the command.
set -eu
if [ "${1:-}" = "nginx" ] && [ -d /etc/nginx/templates ]; then
    defined="$(env | cut -d= -f1 | sed 's/^/$/' | tr '\n' ' ')"
    for template in /etc/nginx/templates/*.template; do
        [ -f "$template" ] || continue
        out="/etc/nginx/conf.d/$(basename "$template" .template)"
        envsubst "$defined" <"$template" >"$out"
    done
fi
exec "$@"
