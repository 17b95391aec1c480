#!/bin/sh
# Lint: every script parses, has no tabs and no trailing spaces.
cd /workspace
status=0
for f in $(find src tests -type f); do
  case "$f" in *.sh|*/bin/*|*/cgi-bin/*) ;; *) continue ;; esac
  sh -n "$f" || { echo "$f: syntax error"; status=1; }
  if grep -n "$(printf '\t')" "$f"; then echo "$f: tab"; status=1; fi
  if grep -n ' $' "$f"; then echo "$f: trailing space"; status=1; fi
done
[ $status -eq 0 ] && echo "lint clean"
exit $status
