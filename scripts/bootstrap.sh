#!/bin/sh
# Installs the Debian 12 packages that building, testing and the demo need.
# Idempotent: does nothing when every package is already present, so it is
# cheap to call from every `make` target. Needs root only when something is missing.
set -eu

PKGS="build-essential cmake pkg-config clang llvm libclang-rt-14-dev \
libzstd-dev libzfp-dev libssl-dev libjansson-dev libspng-dev libcmocka-dev \
python3 python3-numpy python3-pytest python3-setuptools python3-pil zlib1g-dev libsqlite3-dev libimage-exiftool-perl \
python3-torch \
libdeflate-dev libjpeg62-turbo-dev libwebp-dev libisal-dev \
libmicrohttpd-dev chromium chromium-driver python3-selenium \
python3-fsspec nginx python3-distributed python3-pandas \
python3-pip python3-venv python3-wheel"
# libdeflate-dev, libjpeg62-turbo-dev, libwebp-dev: image validation (PNG pixel data inflated at once,
# JPEG and WebP decoded) in src/image_png_check.c, src/image_jpeg.c, src/image_webp.c.
# libisal-dev (required): ISA-L's streaming inflate checks the pixel data of PNGs too large to inflate whole
# (src/image_png_check.c; ~6x zlib's speed, issue 17); bench_format also compares it with libdeflate.
# python3-torch (large): tests/cli_noise.py checks `raiiaf noise` against torch.randn bit for bit.
# libmicrohttpd-dev: the HTTP server of `raiiaf serve` (src/serve/server.c).
# (libjpeg62-turbo-dev and libwebp-dev also give thumbnails, decoded scaled down: src/serve/thumbnail.c.)
# chromium, chromium-driver, python3-selenium: tests/cli_serve_browser.py drives the web app headless.
# python3-fsspec: raiiaf.data reads fsspec URLs; nginx: the range-request tests serve files through it;
# python3-distributed: raiiaf.dask and its LocalCluster test; python3-pandas: raiiaf.dask.dataframe (dask.dataframe needs it).
# python3-pip, python3-venv, python3-wheel: `pip install ./python` offline in a venv (tests/cli_pip_install.py).
# The raiiaf tool links the static archives that libzstd-dev, libjansson-dev, libsqlite3-dev, libssl-dev,
# zlib1g-dev and libdeflate-dev ship (CMake RAIIAF_CLI_STATIC): no extra package.

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "bootstrap: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
        echo "bootstrap: these Debian packages are missing and I am not root:$missing" >&2
        exit 1
    fi
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
