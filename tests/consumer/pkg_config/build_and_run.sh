#!/bin/sh
# Builds and runs the C consumer the way the README tells C users to:
#   cc main.c $(pkg-config --cflags --libs softxent)
# Usage: build_and_run.sh PKG_CONFIG_DIR WORK_DIR EXPECTED_VERSION EXPECT_OPENMP(ON|OFF)
# Environment: CC (default cc), PKG_CONFIG (default pkg-config), LDFLAGS (extra link flags).
set -eu
export PKG_CONFIG_PATH="$1"
work_dir=$2
expected_version=$3
expect_openmp=$4
pkg_config=${PKG_CONFIG:-pkg-config}
source_file="$(dirname "$0")/../consumer.c"

version=$($pkg_config --modversion softxent)
if [ "$version" != "$expected_version" ]; then
  echo "pkg-config reports softxent $version, expected $expected_version" >&2
  exit 1
fi
flags=$($pkg_config --cflags --libs softxent)
echo "pkg-config --cflags --libs softxent: $flags"
case "$flags" in
  *-lgomp*|*-lomp*|*-fopenmp*) links_openmp=ON ;;
  *) links_openmp=OFF ;;
esac
if [ "$links_openmp" != "$expect_openmp" ]; then
  echo "the OpenMP runtime in the flags is $links_openmp, expected $expect_openmp" >&2
  exit 1
fi

mkdir -p "$work_dir"
# shellcheck disable=SC2086 # the flags are meant to split into words
${CC:-cc} -std=c99 -Wall -Wextra -Wconversion -pedantic -Werror \
  -DSOFTXENT_EXPECTED_VERSION="\"$expected_version\"" \
  -o "$work_dir/consumer_c" "$source_file" $flags ${LDFLAGS:-}
"$work_dir/consumer_c"
