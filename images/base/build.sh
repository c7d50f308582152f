#!/usr/bin/env bash
# Build the base image of every pinpipe image from Debian packages alone: debootstrap a
# minimal bookworm into a tarball and `docker import` it. No registry is pulled from, so
# this works where Docker Hub is unreachable (only a Debian mirror is needed).
#
#   images/base/build.sh                    # -> pinpipe-base:bookworm
#   IMAGE=my/base:tag images/base/build.sh  # skaffold's custom builder sets IMAGE
#
# CA certificates added to this host (/usr/local/share/ca-certificates/*.crt, e.g. of a
# TLS-intercepting proxy) are copied in, so that apt, pip, uv and go inside the builds trust
# the same servers the host does. Needs root (debootstrap chroots) and docker.
set -euo pipefail

IMAGE="${IMAGE:-pinpipe-base:bookworm}"
SUITE=bookworm
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CACHE="${PINPIPE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pinpipe}/images"

for tool in debootstrap docker; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool is missing (apt-get install debootstrap docker.io)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "build.sh: debootstrap needs root" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
mkdir -p "$CACHE/debootstrap-debs"

echo "debootstrap $SUITE from $MIRROR"
# --cache-dir keeps the downloaded .debs: a rebuild fetches nothing new.
debootstrap --variant=minbase --cache-dir="$CACHE/debootstrap-debs" \
  --include=ca-certificates,tzdata,bash "$SUITE" "$rootfs" "$MIRROR"

shopt -s nullglob
extra=(/usr/local/share/ca-certificates/*.crt)
if [ ${#extra[@]} -gt 0 ]; then
  echo "adding ${#extra[@]} local CA certificate(s)"
  cp "${extra[@]}" "$rootfs/usr/local/share/ca-certificates/"
  chroot "$rootfs" update-ca-certificates >/dev/null
fi

cat > "$rootfs/etc/apt/sources.list" <<SOURCES
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
SOURCES
# Images install packages with --no-install-recommends and keep no docs.
cat > "$rootfs/etc/apt/apt.conf.d/90pinpipe" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
APT
cat > "$rootfs/etc/dpkg/dpkg.cfg.d/90pinpipe-nodoc" <<'DPKG'
path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/doc/*/copyright
DPKG
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
# update-alternatives (e.g. in openjdk's postinst) links man pages into man1 and fails
# when the folder is missing, even though dpkg then drops the page itself.
mkdir -p "$rootfs/usr/share/man/man1"

tarball="$CACHE/$SUITE-rootfs.tar"
tar --numeric-owner -C "$rootfs" -cf "$tarball" .
echo "rootfs tarball: $tarball ($(du -h "$tarball" | cut -f1))"
docker import \
  --change 'ENV LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["bash"]' \
  "$tarball" "$IMAGE"
echo "built $IMAGE"
