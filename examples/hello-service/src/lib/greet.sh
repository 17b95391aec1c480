# greet NAME: the greeting the service answers with.
greet() {
  name=${1:-world}
  case "$name" in
    *[!A-Za-z0-9_-]*) name=stranger ;;
  esac
  echo "hello, $name"
}
