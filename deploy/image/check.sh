#!/usr/bin/env bash
# Checks the image build.sh wrote: its configuration runs cubist as the non-root user 65532,
# and the binary runs from the unpacked root filesystem alone (chroot, as that user): it links
# only what the image holds. Needs root (chroot), skopeo and umoci.
#
#   deploy/image/check.sh [OUT_DIR]     (default target/oci)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/target/oci}
fail() { echo "check.sh: $*" >&2; exit 1; }

tag=$(umoci ls --layout "$out")
[ "$(echo "$tag" | wc -l)" = 1 ] || fail "$out holds more than one tag: $tag"
config=$(skopeo inspect --config "oci:$out:$tag")
python3 - "$config" "$tag" <<'PY' || fail "the image configuration is not what build.sh writes"
import json, sys
config, tag = json.loads(sys.argv[1]), sys.argv[2]
c = config["config"]
problems = []
if c.get("User") != "65532:65532":
    problems.append(f"User is {c.get('User')!r}, not 65532:65532 (non-root)")
if c.get("Entrypoint") != ["/usr/local/bin/cubist"]:
    problems.append(f"Entrypoint is {c.get('Entrypoint')!r}")
if c.get("Labels", {}).get("org.opencontainers.image.version") != tag:
    problems.append(f"the version label is not the tag {tag}")
for p in problems:
    print(f"check.sh: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
echo "config: user 65532:65532, entrypoint /usr/local/bin/cubist, version $tag"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umoci unpack --image "$out:$tag" "$work/bundle" >/dev/null
rootfs=$work/bundle/rootfs
[ ! -e "$rootfs/bin/sh" ] || fail "the image has a shell: it should hold only cubist and its libraries"
got=$(chroot --userspec=65532:65532 "$rootfs" /usr/local/bin/cubist --version) \
  || fail "cubist does not run from the image's root filesystem"
[ "$got" = "cubist $tag" ] || fail "cubist --version printed '$got', not 'cubist $tag'"
chroot --userspec=65532:65532 "$rootfs" /usr/local/bin/cubist install --print >"$work/install.yaml" \
  || fail "cubist install --print fails in the image"
grep -q '^kind: Deployment$' "$work/install.yaml" || fail "cubist install --print printed no Deployment"
echo "runs as 65532 from the image's root filesystem: $got"
