#!/bin/sh
# Tests of wordcount; $WORDCOUNT picks the binary (default: the one in the image).
bin=${WORDCOUNT:-/usr/local/bin/wordcount}
fails=0
check() {
  got=$(printf '%s' "$2" | "$bin")
  if [ "$got" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1"; echo "  got:  $got"; echo "  want: $3"; fails=$((fails + 1)); fi
}
check "empty input" "" ""
check "one word" "hello" "hello 1"
check "counts and order" "b a b c c c" "$(printf 'c 3\nb 2\na 1')"
check "case and punctuation" "Hello, hello! HELLO." "hello 3"
[ "$fails" -eq 0 ] && echo "all tests passed"
exit "$fails"
