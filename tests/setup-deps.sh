#!/usr/bin/env bash
# Install the Debian packages the build and the tests need, if missing.
set -euo pipefail
PKGS=(gcc make pkg-config libxml2-dev libicu-dev zlib1g-dev liblzma-dev libstdc++-12-dev uuid-dev
      libcmocka-dev clang libclang-rt-14-dev libnfs-dev liblvm2-dev libblkid-dev
      qemu-utils python3
      nfs-ganesha nfs-ganesha-vfs rpcbind iproute2)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
