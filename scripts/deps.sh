# Sourced by the scripts: installs the Debian packages that are missing (as root, or through sudo).
# Usage: softxent_require_packages pkg...
softxent_require_packages() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "softxent: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# What every build needs (libblis-pthread-dev: the BLAS of the fused linear cross-entropy, SOFTXENT_BLAS=BLIS).
SOFTXENT_BUILD_PACKAGES=(cmake make g++ gcc pkg-config libxsimd-dev xtl-dev doctest-dev libbenchmark-dev libomp-dev
                         libblis-pthread-dev)

# What the whole test suite uses when present (examples: zlib, OpenBLAS, Fashion-MNIST, OpenMPI; consumer test:
# pkg-config; emulated older CPUs: qemu-user).
SOFTXENT_TEST_PACKAGES=(zlib1g-dev libopenblas-dev dataset-fashion-mnist pkg-config qemu-user libopenmpi-dev openmpi-bin)
# CI's extra stages: clang 14 with its sanitizer and libFuzzer runtimes, and libomp for TSan.
SOFTXENT_CI_PACKAGES=(clang libclang-rt-14-dev libomp-dev)
# CI's AArch64 stage: Debian's cross compiler (with its binutils and libgomp), the arm64 C library,
# and qemu-aarch64 to run the tests.
SOFTXENT_CROSS_PACKAGES=(g++-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
