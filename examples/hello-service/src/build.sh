#!/bin/sh
# Build step: stamps the version and checks every script parses.
set -e
cd /app
echo "1.0.0" > VERSION
chmod 0755 bin/hello-service www/cgi-bin/hello
for f in bin/hello-service lib/greet.sh www/cgi-bin/hello; do sh -n "$f"; done
echo "built hello-service $(cat VERSION)"
