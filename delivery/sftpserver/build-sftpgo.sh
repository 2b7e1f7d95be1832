#!/usr/bin/env bash
# Builds SFTPGo, the tests' SFTPGo conformance peer, once per version into a cache directory,
# and prints the binary's path. Later runs find it there and print the path at once.
#
#   delivery/sftpserver/build-sftpgo.sh [VERSION]
#
# VERSION defaults to v2.6.4. The binary and the templates `sftpgo serve` reads go to
# $EVENTEXPORT_SFTPGO_DIR, by default ${XDG_CACHE_HOME:-$HOME/.cache}/eventexport/sftpgo-VERSION
# (Go's os.UserCacheDir). Needs go and the Go module proxy.
#
# `go install github.com/drakkan/sftpgo/v2@VERSION` refuses the module because its go.mod has
# replace directives (forks of golang.org/x/crypto, ftpserverlib, jlaffaye/ftp, cron). So SFTPGo
# is built as a dependency of a throwaway module carrying the same replace lines and SFTPGo's
# go.sum (the forks are not all in the checksum database), without cgo and without the cloud
# storage back ends and SQL data providers the tests do not use.
set -euo pipefail

version=${1:-v2.6.4}
dir=${EVENTEXPORT_SFTPGO_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/eventexport/sftpgo-$version}
module=github.com/drakkan/sftpgo/v2

built() { [ -x "$dir/sftpgo" ] && [ -f "$dir/templates/email/reset-password.html" ]; }
if built; then echo "$dir/sftpgo"; exit 0; fi

mkdir -p "$dir"
# One build at a time, whichever test binary or script asks.
exec 9>"$dir/.lock"
flock 9
if built; then echo "$dir/sftpgo"; exit 0; fi

work=$(mktemp -d "$dir/build.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 GO111MODULE=on

echo "build-sftpgo: building SFTPGo $version into $dir (first run only; takes a minute or two)" >&2
info=$(go mod download -json "$module@$version")
field() { printf '%s\n' "$info" | sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}$/\1/p" | head -n1; }
src=$(field Dir)
sum=$(field Sum)
gomodsum=$(field GoModSum)
if [ -z "$src" ] || [ ! -f "$src/go.mod" ]; then
  echo "build-sftpgo: go mod download gave no source directory for $module@$version" >&2
  exit 1
fi

goversion=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$src/go.mod" | head -n1)
{
  echo "module eventexport.local/sftpgo-build"
  echo
  echo "go ${goversion:-1.22}"
  echo
  echo "require $module $version"
  echo
  # The replace block, or single replace lines, exactly as SFTPGo has them.
  awk '/^replace \($/ {inblock=1; print; next} inblock {print; if ($0 == ")") inblock=0; next} /^replace / {print}' "$src/go.mod"
} >go.mod
cp "$src/go.sum" go.sum
chmod u+w go.sum
printf '%s %s %s\n%s %s/go.mod %s\n' "$module" "$version" "$sum" "$module" "$version" "$gomodsum" >>go.sum

go build -trimpath -ldflags '-s -w' \
  -tags nogcs,nos3,noazblob,nomysql,nopgsql,nosqlite,nometrics \
  -o sftpgo "$module"

rm -rf "$dir/templates"
cp -R "$src/templates" "$dir/templates"
chmod -R u+w "$dir/templates"
mv sftpgo "$dir/sftpgo"
echo "$dir/sftpgo"
