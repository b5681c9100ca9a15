#!/bin/sh
# Builds and runs C and C++ programs the way the README tells users to:
#   cc quickstart.c $(pkg-config --cflags --libs softxent)
#   c++ -std=c++17 quickstart.cpp $(pkg-config --cflags --libs softxent)
# for tests/consumer/consumer.c (strict C99) and the README's two quickstarts (examples/).
# Usage: build_and_run.sh PKG_CONFIG_DIR WORK_DIR EXPECTED_VERSION EXPECT_OPENMP(ON|OFF) EXAMPLES_DIR
# Environment: CC (default cc), CXX (default c++), PKG_CONFIG (default pkg-config), LDFLAGS (extra
# link flags, e.g. for a sanitized library), EMULATOR (the command that runs the programs of a cross
# build, e.g. "qemu-aarch64 -L /usr/aarch64-linux-gnu").
set -eu
export PKG_CONFIG_PATH="$1"
work_dir=$2
expected_version=$3
expect_openmp=$4
examples_dir=$5
pkg_config=${PKG_CONFIG:-pkg-config}
cc=${CC:-cc}
cxx=${CXX:-c++}
extra_link_flags=${LDFLAGS:-}
emulator=${EMULATOR:-}

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
# The flags are meant to split into words: $flags, $extra_link_flags and $emulator stay unquoted.
$cc -std=c99 -Wall -Wextra -Wconversion -pedantic -Werror -DSOFTXENT_EXPECTED_VERSION="\"$expected_version\"" \
  -o "$work_dir/consumer_c" "$(dirname "$0")/../consumer.c" $flags $extra_link_flags
$cc -o "$work_dir/quickstart_c" "$examples_dir/quickstart.c" $flags $extra_link_flags
$cxx -std=c++17 -o "$work_dir/quickstart_cpp" "$examples_dir/quickstart.cpp" $flags $extra_link_flags
for program in consumer_c quickstart_c quickstart_cpp; do
  echo "== $program"
  $emulator "$work_dir/$program"
done
