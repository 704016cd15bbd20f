#!/bin/sh
# The step every offline image of a Debian-packaged binary shares (files/images/*/Dockerfile): install the packages,
# lay them out at upstream's paths, check the version, and give the data directories to 65534 (upstream's nobody).
#
#   sh debian-package.sh -p "PACKAGE..." [-l SOURCE:LINK]... -v "COMMAND" -e PATTERN [-d DIRECTORY]...
#
# -l: symlink LINK to SOURCE (upstream's binary path); -v/-e: the build fails unless COMMAND's output (stdout and
# stderr) matches the grep pattern PATTERN; -d: created and owned by 65534.
set -eu
packages="" links="" check="" expect="" dirs=""
while getopts p:l:v:e:d: opt; do
  case "$opt" in
    p) packages="$OPTARG" ;;
    l) links="$links $OPTARG" ;;
    v) check="$OPTARG" ;;
    e) expect="$OPTARG" ;;
    d) dirs="$dirs $OPTARG" ;;
    *) echo "usage: debian-package.sh -p PACKAGES [-l SOURCE:LINK]... -v COMMAND -e PATTERN [-d DIR]..." >&2; exit 2 ;;
  esac
done
if [ -z "$packages" ] || [ -z "$check" ] || [ -z "$expect" ]; then
  echo "debian-package.sh: -p, -v and -e are required" >&2
  exit 2
fi
apt-get -o Acquire::Check-Valid-Until=false update -qq
# shellcheck disable=SC2086  # word splitting intended: a list of packages
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages
rm -rf /var/lib/apt/lists/*
for link in $links; do
  ln -sf "${link%%:*}" "${link#*:}"
done
if ! sh -c "$check" 2>&1 | grep -q -- "$expect"; then
  echo "debian-package.sh: the output of '$check' does not match '$expect':" >&2
  sh -c "$check" >&2 2>&1 || true
  exit 1
fi
if [ -n "$dirs" ]; then
  # shellcheck disable=SC2086  # word splitting intended: a list of directories
  mkdir -p $dirs && chown -R 65534:65534 $dirs
fi
