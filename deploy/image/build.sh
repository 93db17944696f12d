#!/usr/bin/env bash
# Builds cubist's OCI image without a container daemon, with umoci (apt-get install umoci):
# a root filesystem holding only the binary, the shared libraries it links (found with ldd,
# copied to the same paths, with the dynamic loader), CA certificates and an /etc/passwd with
# the non-root user cubist (uid 65532). Entrypoint: cubist; user 65532:65532.
#
#   deploy/image/build.sh [BINARY] [OUT_DIR]
#
# BINARY: the cubist binary (default target/release/cubist); OUT_DIR: the OCI image layout
# written (default target/oci; replaced). The tag is the binary's version. Push it with
# `skopeo copy oci:OUT_DIR:TAG docker://REGISTRY/cubist:TAG`; check it with check.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
binary=${1:-$root/target/release/cubist}
out=${2:-$root/target/oci}

for tool in umoci ldd; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool is not installed (apt-get install umoci)" >&2; exit 2; }
done
[ -x "$binary" ] || { echo "build.sh: $binary is not an executable; build it (cargo build --release --bin cubist) or name it" >&2; exit 2; }
version=$("$binary" --version | awk '{print $2}')
[ -n "$version" ] || { echo "build.sh: $binary --version printed no version" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootless=()
[ "$(id -u)" = 0 ] || rootless=(--rootless)

rm -rf "$out"
umoci init --layout "$out"
umoci new --image "$out:$version"
umoci unpack "${rootless[@]}" --image "$out:$version" "$work/bundle"
rootfs=$work/bundle/rootfs

# The binary, and every shared library it links at the path the loader looks for it, the
# loader included (none for a static binary: ldd says "not a dynamic executable").
install -D -m 0755 "$binary" "$rootfs/usr/local/bin/cubist"
libs=$(ldd "$binary" 2>&1 || true)
if grep -q 'not found' <<<"$libs"; then
  echo "build.sh: $binary links libraries this machine does not have:" >&2
  grep 'not found' <<<"$libs" >&2
  exit 1
fi
awk '/=> \// {print $3} /^[ \t]*\// {print $1}' <<<"$libs" | while read -r lib; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
  echo "  $lib"
done

# CA certificates for https remotes and the GitHub API (OpenSSL and rustls read this file).
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"

# Users, name lookups, and the directories cubist writes (emptyDirs in deploy/ mount over them).
install -d -m 0755 "$rootfs/etc"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\ncubist:x:65532:65532:cubist:/home/cubist:/usr/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\ncubist:x:65532:\n' >"$rootfs/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
install -d -m 1777 "$rootfs/tmp"
install -d -m 0755 "$rootfs/home/cubist" "$rootfs/var/cache/cubist"
if [ "$(id -u)" = 0 ]; then
  chown 65532:65532 "$rootfs/home/cubist" "$rootfs/var/cache/cubist"
else
  echo "build.sh: not root: /home/cubist and /var/cache/cubist stay owned by root in the image" >&2
fi

umoci repack --image "$out:$version" "$work/bundle"
umoci config --image "$out:$version" \
  --config.user 65532:65532 \
  --config.entrypoint /usr/local/bin/cubist \
  --config.workingdir /home/cubist \
  --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --config.env HOME=/home/cubist \
  --config.exposedports 8080/tcp \
  --config.label org.opencontainers.image.title=cubist \
  --config.label "org.opencontainers.image.version=$version"
umoci gc --layout "$out"
echo "built oci:$out:$version ($(du -sh "$out" | cut -f1))"
