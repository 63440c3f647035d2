#!/usr/bin/env bash
# Builds the worker image for the Swarm test without a registry: a base image imported from a
# root file system made here (fakenode as `nodeos`, bash and grep for the stack's healthcheck,
# and every library `ldd` lists for them and for slotkeeper), then etc/docker/Dockerfile's final
# stage on top of it, taken from the real file: only its `FROM` (this base instead of a nodeos
# image), its RUN apt-get (the libraries are in the base already) and its COPY --from=build (the
# freshly built ./slotkeeper instead of the build stage's) differ.
#   image.sh ROOT WORKDIR BASE_TAG IMAGE_TAG
set -euo pipefail
ROOT=$1 WD=$2 BASE=$3 IMAGE=$4
FS=$WD/rootfs
rm -rf "$FS" "$WD/ctx"
mkdir -p "$FS"/{bin,usr/local/bin,tmp,data,etc,lib64} "$WD/ctx"
chmod 1777 "$FS/tmp"
bins=("$ROOT/slotkeeper" "$ROOT/build/fakenode" /bin/bash /bin/grep)
cp "$ROOT/build/fakenode" "$FS/usr/local/bin/fakenode"
# The node: fakenode behaving as nodeos does on a stop, writing its database back for a
# while (here 20 s) before it clears the dirty flag, so that a stop grace shorter than that
# (Docker's default 10 s) leaves it dirty, as it leaves a real nodeos.
cat >"$FS/usr/local/bin/nodeos" <<'SH'
#!/bin/bash
exec /usr/local/bin/fakenode --shutdown-delay-ms 20000 "$@"
SH
chmod 755 "$FS/usr/local/bin/nodeos"
cp /bin/bash /bin/grep "$FS/bin/"
ln -s bash "$FS/bin/sh"
for lib in $(ldd "${bins[@]}" 2>/dev/null | awk '/=> \//{print $3} /^[ \t]*\/lib/{print $1}' | sort -u); do
    mkdir -p "$FS$(dirname "$lib")"
    cp -L "$lib" "$FS$lib"
done
echo 'root:x:0:0:root:/root:/bin/bash' >"$FS/etc/passwd"
echo 'root:x:0:' >"$FS/etc/group"
tar -C "$FS" -c . | docker import - "$BASE" >/dev/null
rm -rf "$FS"

# etc/docker/Dockerfile's final stage, on this base.
cp "$ROOT/slotkeeper" "$WD/ctx/slotkeeper"
awk -v base="$BASE" '
    /^FROM \$\{NODEOS_IMAGE\}/ { print "FROM " base; final = 1; next }
    !final { next }
    skip { skip = /\\$/; next }
    /^RUN apt-get/ { skip = /\\$/; next }
    { sub(/^COPY --from=build \/src\/slotkeeper /, "COPY slotkeeper "); print }
' "$ROOT/etc/docker/Dockerfile" >"$WD/ctx/Dockerfile"
docker build -q -t "$IMAGE" "$WD/ctx" >/dev/null
