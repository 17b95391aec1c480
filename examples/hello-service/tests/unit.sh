#!/bin/sh
# Unit tests of greet(), against the library built into the image.
. /app/lib/greet.sh
fails=0
check() {
  if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1: got '$2', want '$3'"; fails=$((fails + 1)); fi
}
check "default name" "$(greet)" "hello, world"
check "given name" "$(greet gantry)" "hello, gantry"
check "unsafe name" "$(greet 'a;b')" "hello, stranger"
[ "$fails" -eq 0 ] && echo "all unit tests passed"
exit "$fails"
