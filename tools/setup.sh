#!/bin/sh
# Installs what spanscope needs on Debian 12 / Ubuntu, then configures and builds it in build/.
# Safe to run again: it installs only what is missing and rebuilds only what changed.
# Arguments are meson options for build/ (CI: sh tools/setup.sh -Dwerror=true).
set -e
cd "$(dirname "$0")/.."

# engine: OpenBLAS, GLib, json-glib, libzip (PyTorch checkpoints); window and figures: GTK 4, libadwaita, cairo, pango;
# the screenshot reads the window back from X (libx11);
# tests: PyTorch (the oracle), Xvfb and XTest (the UI tests run without a display and type
# keys), a private D-Bus session (two spanscope processes, one window); tools/tsan: clang with LLVM's OpenMP runtime and ThreadSanitizer
PACKAGES="gcc meson ninja-build pkg-config libopenblas-dev libglib2.0-dev libjson-glib-dev \
libgtk-4-dev libadwaita-1-dev libcairo2-dev libpango1.0-dev libzip-dev \
python3 python3-torch python3-numpy xvfb xauth dbus-daemon dbus-bin libglib2.0-bin libx11-dev \
libxtst-dev clang libomp-dev libclang-rt-dev"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "spanscope: installing$missing"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi

if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=release "$@"
elif [ $# -gt 0 ]; then
  meson configure build "$@"
fi
ninja -C build
