#!/usr/bin/env bash
# Fetches vsftpd, the tests' second FTPS peer, once per machine into a cache directory, and prints
# the binary's path. Later runs find it there and print the path at once.
#
#   delivery/sftpserver/fetch-vsftpd.sh
#
# vsftpd is not installed as a Debian package: it conflicts with proftpd-core, the other FTPS
# peer. Its package is downloaded (apt-get download, as any user; apt-get update first only when
# the download fails) and unpacked with dpkg -x into $EVENTEXPORT_VSFTPD_DIR/pkg, by default
# ${XDG_CACHE_HOME:-$HOME/.cache}/eventexport/vsftpd/pkg (Go's os.UserCacheDir). The shared
# libraries it needs are those of proftpd-core and OpenSSL, except libwrap0 and what that needs
# (libnsl2, libtirpc3), which a machine may lack: the library packages of its dependencies that
# are not installed are unpacked beside it, and pkg/ld-library-path holds the directories the
# tests put in LD_LIBRARY_PATH when they start it (empty when none is needed). Needs apt-get,
# dpkg and the Debian archive.
set -euo pipefail

dir=${EVENTEXPORT_VSFTPD_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/eventexport/vsftpd}
pkg=$dir/pkg
bin=$pkg/usr/sbin/vsftpd

fetched() { [ -x "$bin" ] && [ -f "$pkg/ld-library-path" ]; }
if fetched; then echo "$bin"; exit 0; fi

mkdir -p "$dir"
# One fetch at a time, whichever test binary or script asks.
exec 9>"$dir/.lock"
flock 9
if fetched; then echo "$bin"; exit 0; fi

work=$(mktemp -d "$dir/fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/debs" "$work/pkg"
cd "$work/debs"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
updated=0
# download PACKAGE: its .deb into the current directory, with apt-get update once if the
# package lists are missing or stale.
download() {
  if apt-get download "$1" >&2; then return 0; fi
  if [ "$updated" = 1 ]; then return 1; fi
  echo "fetch-vsftpd: apt-get download $1 failed; running apt-get update and trying again" >&2
  as_root apt-get update -qq >&2
  updated=1
  apt-get download "$1" >&2
}
# unpack PACKAGE: downloads and unpacks it into $work/pkg, and adds its dependencies' names (the
# first of alternatives, without versions) to $work/deps, one a line.
unpack() {
  download "$1"
  local deb
  deb=$(ls -t "$1"_*.deb | head -n1)
  dpkg -x "$deb" "$work/pkg"
  dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/:any//; s/[[:space:]]//g' |
    sed '/^$/d' >>"$work/deps"
}
installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }
# missing [LIBRARY_PATH]: the libraries the unpacked vsftpd needs and the loader does not find.
missing() { LD_LIBRARY_PATH=${1:-} ldd "$work/pkg/usr/sbin/vsftpd" | awk '/not found/ {print $1}'; }

echo "fetch-vsftpd: downloading vsftpd and unpacking it into $pkg (first run only)" >&2
unpack vsftpd
libpath=
if [ -n "$(missing)" ]; then
  echo "fetch-vsftpd: vsftpd needs libraries not installed here: $(missing | paste -sd' ' -)" >&2
  # The library packages among its dependencies, and among theirs, that are not installed.
  seen=" vsftpd "
  while [ -s "$work/deps" ]; do
    deps=$(sort -u "$work/deps")
    : >"$work/deps"
    for d in $deps; do
      case "$seen" in *" $d "*) continue ;; esac
      seen="$seen$d "
      case "$d" in lib*) ;; *) continue ;; esac
      installed "$d" && continue
      echo "fetch-vsftpd: unpacking $d beside it" >&2
      unpack "$d"
    done
  done
  libdirs=$(find "$work/pkg" -name 'lib*.so*' \( -type f -o -type l \) -printf '%h\n' | sort -u)
  still=$(missing "$(paste -sd: - <<<"$libdirs")")
  if [ -n "$still" ]; then
    echo "fetch-vsftpd: libraries still missing: $(paste -sd' ' - <<<"$still") (install them with apt-get)" >&2
    exit 1
  fi
  # The directories where the tests will find them.
  libpath=$(sed "s|^$work/pkg|$pkg|" <<<"$libdirs" | paste -sd: -)
fi
printf '%s\n' "$libpath" >"$work/pkg/ld-library-path"
# It runs: vsftpd -v prints its version on the descriptor of its standard input.
if ! version=$(LD_LIBRARY_PATH=${libpath//"$pkg"/"$work/pkg"} "$work/pkg/usr/sbin/vsftpd" -v 0>&1); then
  echo "fetch-vsftpd: the unpacked vsftpd does not run" >&2
  exit 1
fi
echo "fetch-vsftpd: $version" >&2

rm -rf "$pkg"
mv "$work/pkg" "$pkg"
echo "$bin"
