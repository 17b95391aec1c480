#!/bin/sh
# Staging smoke test: start the service inside this container and talk to it
# over loopback (the container has no other network).
set -e
/app/bin/hello-service &
pid=$!
for i in $(seq 50); do
  if wget -q -O /tmp/reply "http://127.0.0.1:${HELLO_PORT}/cgi-bin/hello?name=staging" 2>/dev/null; then break; fi
  sleep 0.1
done
cat /tmp/reply
grep -q "hello, staging" /tmp/reply
grep -q "version 1.0.0" /tmp/reply
kill $pid
echo "smoke test passed"
