#!/usr/bin/env bash
# Builds the packages from the test builds, installs each as a person would
# and runs a real transfer with the installed program (issue #24):
#   - the .deb: dpkg -i, the desktop entry and icon in place, a transfer
#     between two installed p2p-client processes, dpkg -r leaves nothing;
#   - the tarball: unpacked, its p2p-client runs;
#   - the Windows installer: run silently under Wine (/S), the installed
#     p2p-client.exe sends to and receives from the Linux build, the
#     uninstaller (/S) removes it.
# Needs root (dpkg -i), the debug builds of `cargo test --workspace`, and
# for Windows the build and Wine prefix of scripts/windows-test.sh (skipped
# when that did not run).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=target/packages
rm -rf "$out"

echo "--- Linux: .deb and tarball"
scripts/package.sh linux target/debug/p2p-client "$out"
deb=$(ls "$out"/p2p-share_*.deb)
dpkg-deb --info "$deb" | sed -n '/Package:/,/Description:/p'
if dpkg -s p2p-share >/dev/null 2>&1; then dpkg -r p2p-share >/dev/null; fi
dpkg -i "$deb"
trap 'dpkg -r p2p-share >/dev/null 2>&1 || true' EXIT
test -x /usr/bin/p2p-client
test -f /usr/share/applications/p2p-share.desktop
test -f /usr/share/icons/hicolor/256x256/apps/p2p-share.png
/usr/bin/p2p-client --version
P2P_CLIENT_BIN=/usr/bin/p2p-client cargo test --locked -p p2p-client --test transfer \
    one_file_and_an_empty_file_arrive_identical
dpkg -r p2p-share
trap - EXIT
for f in /usr/bin/p2p-client /usr/share/applications/p2p-share.desktop \
    /usr/share/icons/hicolor/256x256/apps/p2p-share.png; do
    if [ -e "$f" ]; then
        echo "dpkg -r left $f behind" >&2
        exit 1
    fi
done

tarball=$(ls "$out"/p2p-share-*-linux.tar.gz)
unpacked=$(mktemp -d)
tar -C "$unpacked" -xzf "$tarball"
"$unpacked"/p2p-share-*/p2p-client --version
rm -rf "$unpacked"

exe="target/x86_64-pc-windows-gnu/debug/p2p-client.exe"
if [ ! -f "$exe" ] || [ ! -f target/wine/prefix/system.reg ]; then
    echo "no Windows build here: Windows packages not checked"
    exit 0
fi
echo "--- Windows: zip and installer"
command -v makensis >/dev/null || {
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends nsis
}
scripts/package.sh windows "$exe" "$out"
export WINEPREFIX="$root/target/wine/prefix" WINEDEBUG=-all
wine=${P2P_WINE:-/usr/lib/wine/wine64}
cleanup() { "$(dirname "$wine")/wineserver" -k 2>/dev/null || true; }
trap cleanup EXIT
setup=$(ls "$out"/p2p-share-*-setup.exe)
installed="$WINEPREFIX/drive_c/Program Files/p2p-share"
rm -rf "$installed"
timeout 120 "$wine" "$setup" /S
test -f "$installed/p2p-client.exe"
test -f "$installed/uninstall.exe"
P2P_WINDOWS_EXE="$installed/p2p-client.exe" cargo test --locked -p p2p-client --test windows \
    -- --ignored windows_to_linux_and_linux_to_windows
# The uninstaller copies itself and returns at once; wait for it.
timeout 120 "$wine" "$installed/uninstall.exe" /S
for _ in $(seq 1 60); do
    [ -e "$installed/p2p-client.exe" ] || break
    sleep 1
done
if [ -e "$installed/p2p-client.exe" ]; then
    echo "the uninstaller left p2p-client.exe behind" >&2
    exit 1
fi
unzip -l "$(ls "$out"/p2p-share-*-windows.zip)" 2>/dev/null ||
    python3 -m zipfile -l "$(ls "$out"/p2p-share-*-windows.zip)"
