#!/usr/bin/env bash
# Installable packages of p2p-client (issue #24), from a binary built before:
#
#   scripts/package.sh linux   BIN OUT   # OUT/p2p-share_VERSION_amd64.deb and
#                                        # OUT/p2p-share-VERSION-x86_64-linux.tar.gz
#   scripts/package.sh windows EXE OUT   # OUT/p2p-share-VERSION-x86_64-windows.zip and
#                                        # OUT/p2p-share-VERSION-setup.exe (NSIS)
#   scripts/package.sh macos   BIN OUT   # OUT/p2p-share.app and, on macOS,
#                                        # OUT/p2p-share-VERSION-macos.dmg
#
# The release workflow passes release builds; .ci/run passes the builds its
# tests made, installs the packages and runs transfers with them
# (scripts/package-test.sh). Tools: dpkg-deb, tar, zip (Python's zipfile),
# makensis (Debian's nsis), hdiutil (macOS).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

kind=${1:?linux, windows or macos}
bin=$(realpath "${2:?the binary}")
out=${3:?the output folder}
mkdir -p "$out"
out=$(realpath "$out")
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

case "$kind" in
linux)
    arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
    deb="$stage/deb"
    install -Dm755 "$bin" "$deb/usr/bin/p2p-client"
    strip "$deb/usr/bin/p2p-client" 2>/dev/null || true
    install -Dm644 "$root/packaging/linux/p2p-share.desktop" \
        "$deb/usr/share/applications/p2p-share.desktop"
    install -Dm644 "$root/assets/icon-256.png" \
        "$deb/usr/share/icons/hicolor/256x256/apps/p2p-share.png"
    install -Dm644 "$root/assets/icon.svg" \
        "$deb/usr/share/icons/hicolor/scalable/apps/p2p-share.svg"
    install -Dm644 "$root/README.md" "$deb/usr/share/doc/p2p-share/README.md"
    install -Dm644 "$root/LICENSE" "$deb/usr/share/doc/p2p-share/copyright"
    size=$(du -sk "$deb" | cut -f1)
    mkdir -p "$deb/DEBIAN"
    # The window opens X11 or Wayland and OpenGL through libraries loaded
    # at run time, so they are recommended, not required: the command line
    # runs without them.
    cat > "$deb/DEBIAN/control" <<CONTROL
Package: p2p-share
Version: $version
Architecture: $arch
Maintainer: The p2p-share developers <p2p-share@users.noreply.github.com>
Installed-Size: $size
Depends: libc6 (>= 2.34)
Recommends: libgl1, libegl1, libxkbcommon0, libxkbcommon-x11-0, libwayland-client0, libx11-6, libxcursor1, libxrandr2, libxi6
Section: net
Priority: optional
Homepage: https://github.com/p2p-share/p2p-share
Description: send files directly and encrypted to another computer
 p2p-share moves files from one computer straight to another, on the LAN
 or anywhere on the internet, through home NATs, end-to-end encrypted,
 with no upload to a third party and no size limit. The package holds the
 desktop app and the command line (p2p-client).
CONTROL
    dpkg-deb --root-owner-group --build "$deb" "$out/p2p-share_${version}_${arch}.deb" >/dev/null

    dir="p2p-share-$version-x86_64-linux"
    mkdir -p "$stage/$dir"
    cp "$deb/usr/bin/p2p-client" "$stage/$dir/"
    cp "$root/README.md" "$root/LICENSE" "$root/packaging/linux/p2p-share.desktop" "$stage/$dir/"
    cp "$root/assets/icon-256.png" "$stage/$dir/p2p-share.png"
    tar -C "$stage" -czf "$out/$dir.tar.gz" "$dir"
    ;;
windows)
    dir="p2p-share-$version-x86_64-windows"
    mkdir -p "$stage/$dir"
    cp "$bin" "$stage/$dir/p2p-client.exe"
    x86_64-w64-mingw32-strip "$stage/$dir/p2p-client.exe" 2>/dev/null || true
    cp "$root/README.md" "$stage/$dir/"
    cp "$root/LICENSE" "$stage/$dir/LICENSE.txt"
    (cd "$stage" && python3 -m zipfile -c "$out/$dir.zip" "$dir")
    makensis -V2 -DVERSION="$version" -DEXE="$stage/$dir/p2p-client.exe" \
        -DROOT="$root" -DOUT="$out/p2p-share-$version-setup.exe" \
        "$root/packaging/windows/installer.nsi"
    ;;
macos)
    app="$out/p2p-share.app"
    rm -rf "$app"
    mkdir -p "$app/Contents/MacOS" "$app/Contents/Resources"
    cp "$bin" "$app/Contents/MacOS/p2p-client"
    cp "$root/assets/icon.icns" "$app/Contents/Resources/p2p-share.icns"
    sed "s/@VERSION@/$version/g" "$root/packaging/macos/Info.plist" > "$app/Contents/Info.plist"
    if command -v hdiutil >/dev/null; then
        mkdir -p "$stage/dmg"
        cp -R "$app" "$stage/dmg/"
        ln -s /Applications "$stage/dmg/Applications"
        hdiutil create -volname p2p-share -srcfolder "$stage/dmg" -ov -format UDZO \
            "$out/p2p-share-$version-macos.dmg" >/dev/null
    fi
    ;;
*)
    echo "unknown kind: $kind (linux, windows or macos)" >&2
    exit 2
    ;;
esac
ls -l "$out"
