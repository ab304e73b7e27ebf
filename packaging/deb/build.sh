#!/usr/bin/env bash
# Build dist/host-anomaly-exporter_<version>_<arch>.deb (run by `make deb`).
#
# The package carries a self-contained virtualenv at
# /opt/host-anomaly-exporter/venv, created with the target's system Python
# (/usr/bin/python3, 3.11 on Debian bookworm) so its interpreter symlink
# resolves on any host that satisfies Depends: python3 (>= 3.11), (<< 3.12).
# A venv made from a pyenv/conda Python would point at an interpreter the
# host does not have. Only the agent's dependencies are installed (no
# TensorFlow). The venv is built in a staging tree, then its absolute paths
# (script shebangs) are rewritten to the installed location.
#
# Environment knobs (all optional):
#   VERSION         upstream version        (default: pyproject.toml)
#   DEB_REVISION    Debian revision         (default: 1)
#   MODEL_DIR       model bundle to ship    (default: models/default)
#   CONFIG_FILE     becomes the conffile /etc/host-anomaly-exporter/config.yaml
#                                           (default: config.example.yaml)
#   PYTHON          target interpreter      (default: /usr/bin/python3)
#   DEB_MAINTAINER  "Name <email>" for control and changelog
#   BUILD_DIR       scratch directory       (default: build/deb)
#   DIST_DIR        output directory        (default: dist)
#   LINTIAN         1 = run lintian and fail on errors (default), 0 = skip
#   SOURCE_DATE_EPOCH  timestamp for files and changelog (default: last commit)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEB_SRC="$REPO/packaging/deb"
NAME=host-anomaly-exporter
PREFIX=/opt/$NAME
VENV_PATH=$PREFIX/venv

PYTHON=${PYTHON:-/usr/bin/python3}
MODEL_DIR=${MODEL_DIR:-$REPO/models/default}
CONFIG_FILE=${CONFIG_FILE:-$REPO/config.example.yaml}
BUILD_DIR=${BUILD_DIR:-$REPO/build/deb}
DIST_DIR=${DIST_DIR:-$REPO/dist}
DEB_REVISION=${DEB_REVISION:-1}
DEB_MAINTAINER=${DEB_MAINTAINER:-host-anomaly-exporter maintainers <host-anomaly-exporter@example.org>}
LINTIAN=${LINTIAN:-1}

die() { echo "build.sh: $*" >&2; exit 1; }
log() { echo "build.sh: $*" >&2; }

# ---- inputs -----------------------------------------------------------------
apt_install() {
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing $*"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    else
        die "missing build tools: apt-get install $* (as root)"
    fi
}
command -v dpkg-deb >/dev/null || die "dpkg-deb not found: this builds on Debian/Ubuntu only"
# dpkg-shlibdeps computes Depends.
command -v dpkg-shlibdeps >/dev/null || apt_install dpkg-dev
[ -x "$PYTHON" ] || die "$PYTHON not found: the venv must be built with the target's system python3 (apt-get install python3)"
[ -f "$MODEL_DIR/bundle.json" ] && [ -f "$MODEL_DIR/model.tflite" ] \
    || die "no model bundle in $MODEL_DIR (bundle.json + model.tflite): produce it with anomaly-train or set MODEL_DIR"
[ -f "$CONFIG_FILE" ] || die "config file $CONFIG_FILE not found (set CONFIG_FILE)"
for f in "$REPO/systemd/$NAME.service" "$REPO/systemd/$NAME.default" "$REPO/pyproject.toml"; do
    [ -f "$f" ] || die "missing $f"
done

"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv

PY_XY=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
PY_NEXT=$("$PYTHON" -c 'import sys; print("%d.%d" % (sys.version_info[0], sys.version_info[1] + 1))')
VERSION=${VERSION:-$("$PYTHON" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$REPO/pyproject.toml")}
DEB_VERSION="$VERSION-$DEB_REVISION"
ARCH=$(dpkg --print-architecture)
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git -C "$REPO" log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH
GIT_REV=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
log "building $NAME $DEB_VERSION ($ARCH) with Python $PY_XY from $PYTHON"

# ---- staging tree -----------------------------------------------------------
rm -rf "$BUILD_DIR"
mkdir -p "$BUILD_DIR" "$DIST_DIR"
STAGE="$BUILD_DIR/root"
SRC="$BUILD_DIR/src"
umask 022

# A clean copy of the sources: pip's in-tree build would otherwise write
# build/ and *.egg-info into the repository.
mkdir -p "$SRC"
for item in pyproject.toml setup.py README.md LICENSE agent training; do  # no models/: the bundle goes to /usr/share
    [ -e "$REPO/$item" ] && cp -a "$REPO/$item" "$SRC/"
done
[ -f "$SRC/README.md" ] || echo "host-anomaly-exporter" > "$SRC/README.md"
find "$SRC" -name __pycache__ -type d -prune -exec rm -rf {} +
[ -n "$VERSION" ] && sed -i "s/^version = \".*\"/version = \"$VERSION\"/" "$SRC/pyproject.toml"

VENV="$STAGE$VENV_PATH"
"$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check --no-input --quiet)
"${PIP[@]}" install --no-compile "$SRC"
# Only anomaly-agent is an entry point on a host: the training CLI needs
# TensorFlow, and the dependencies' own scripts are not needed.
find "$VENV/bin" -maxdepth 1 -type f ! -name anomaly-agent -delete
# pip and setuptools are not needed to run the agent; nothing may be
# pip-installed into a dpkg-owned tree anyway.
"${PIP[@]}" uninstall -y pip setuptools
rm -f "$VENV"/bin/activate* "$VENV"/bin/pip* "$VENV"/bin/easy_install*
# Records the scratch source path; no use on a host.
rm -f "$VENV"/lib/python*/site-packages/host_anomaly_exporter-*.dist-info/direct_url.json
find "$VENV" -name __pycache__ -type d -prune -exec rm -rf {} +

# Trim what the agent never loads (the build smoke test below proves the
# interpreter path still works): ai-edge-litert's NPU vendor plugins, AOT
# compiler, tools and WebGPU accelerator (about 32 MB, some linked against
# libraries nobody ships), and the dependencies' test suites.
SITE=$(echo "$VENV"/lib/python*/site-packages)
rm -rf "$SITE/ai_edge_litert/vendors" "$SITE/ai_edge_litert/aot" "$SITE/ai_edge_litert/tools" \
       "$SITE/ai_edge_litert/libLiteRtWebGpuAccelerator.so"
find "$SITE" -type d -name tests -prune -exec rm -rf {} +
# Every module of the agent must be in the venv: a subpackage left out of the
# package list still lets `import agent.cli` pass, and then the unit dies at
# start with ModuleNotFoundError (seen under systemd with agent/collect/collectors/).
missing=$(cd "$SRC" && find agent -name '*.py' | while read -r f; do [ -f "$SITE/$f" ] || echo "$f"; done)
[ -z "$missing" ] || die "modules missing from the venv (package list in pyproject.toml/setup.py?): $missing"
# No dh_strip: the wheels' shared objects were edited by patchelf
# (auditwheel), and binutils' strip then breaks them ("ELF load command
# address/offset not page-aligned" when numpy loads its OpenBLAS).
# Nothing in site-packages is run directly; wheels leave stray exec bits.
find "$SITE" -type f -exec chmod 0644 {} +

# Shebangs name the staging path: point them at the installed venv.
for f in "$VENV"/bin/*; do
    if [ -f "$f" ] && [ ! -L "$f" ] && head -c 2 "$f" | grep -q '^#!'; then
        sed -i "1s|^#!$VENV/|#!$VENV_PATH/|" "$f"
    fi
done
# pyvenv.cfg's informational "command =" line names it too.
sed -i "s|$VENV|$VENV_PATH|g" "$VENV/pyvenv.cfg"
if leftovers=$(grep -rlIF "$STAGE" "$VENV"); then
    die "staging path left in: $leftovers"
fi
[ "$(readlink "$VENV/bin/python3")" = "$PYTHON" ] \
    || die "the venv's python3 does not point at $PYTHON: $(readlink "$VENV/bin/python3")"
(cd / && "$VENV/bin/python" -c 'import agent.cli') || die "the staged venv cannot import agent.cli"

# Model bundle, configuration, unit, defaults.
install -d "$STAGE/usr/share/$NAME/models/default"
install -m 0644 "$MODEL_DIR/bundle.json" "$MODEL_DIR/model.tflite" "$STAGE/usr/share/$NAME/models/default/"
install -D -m 0644 "$CONFIG_FILE" "$STAGE/etc/$NAME/config.yaml"
# Smoke test of the trimmed venv: load_model verifies the bundle
# and runs a test inference through the TFLite interpreter. Run from / so
# that the repository's own agent/ cannot shadow the installed one.
(cd / && "$VENV/bin/python" -c '
import sys
from agent.model.loaded import load_model
m = load_model(sys.argv[1])
print("build.sh: smoke test: %s scores with %s" % (m.bundle.model_id, m.runtime), file=sys.stderr)
' "$STAGE/usr/share/$NAME/models/default") || die "smoke test failed: the staged venv cannot score with the bundle"
install -D -m 0644 "$REPO/systemd/$NAME.default" "$STAGE/etc/default/$NAME"
install -D -m 0644 "$REPO/systemd/$NAME.service" "$STAGE/lib/systemd/system/$NAME.service"

# Documentation, examples, copyright, changelog.
DOC="$STAGE/usr/share/doc/$NAME"
install -d "$DOC/examples"
[ -f "$REPO/README.md" ] && install -m 0644 "$REPO/README.md" "$DOC/"
[ -f "$REPO/docs/packaging.md" ] && install -m 0644 "$REPO/docs/packaging.md" "$DOC/"
install -m 0644 "$REPO"/packaging/prometheus/*.yml "$REPO/packaging/grafana/$NAME.json" "$DOC/examples/"
[ -f "$REPO/config.example.yaml" ] && install -m 0644 "$REPO/config.example.yaml" "$DOC/examples/"
[ -f "$REPO/packaging/web-config.example.yml" ] && install -m 0644 "$REPO/packaging/web-config.example.yml" "$DOC/examples/"

BUNDLED=$(cd / && "$VENV/bin/python" - <<'EOF'
"""One ' name version: licence' line per distribution in the venv."""
from importlib import metadata

rows = []
for dist in metadata.distributions():
    meta = dist.metadata
    licence = (meta.get("License-Expression") or meta.get("License") or "").strip()
    if not licence or len(licence) > 60 or "\n" in licence:
        classifiers = [c.split(" :: ")[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
        licence = ", ".join(classifiers) or "see its dist-info"
    rows.append(f" {meta['Name']} {dist.version}: {licence}")
print("\n".join(sorted(rows, key=str.lower)))
EOF
)
YEAR=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y)
"$PYTHON" - "$DEB_SRC/copyright.in" "$DOC/copyright" "$BUNDLED" "$YEAR" <<'EOF'
import sys
src, dst, bundled, year = sys.argv[1:]
text = open(src).read().replace("@BUNDLED@", bundled).replace("@YEAR@", year)
open(dst, "w").write(text)
EOF
chmod 0644 "$DOC/copyright"
{
    echo "$NAME ($DEB_VERSION) unstable; urgency=medium"
    echo
    echo "  * Package build of $NAME $VERSION (git $GIT_REV)."
    echo
    echo " -- $DEB_MAINTAINER  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} > "$DOC/changelog.Debian"
gzip -9n "$DOC/changelog.Debian"
install -D -m 0644 "$DEB_SRC/lintian-overrides" "$STAGE/usr/share/lintian/overrides/$NAME"

# ---- control area -----------------------------------------------------------
# Shared-library dependencies of everything in the venv, as dh_shlibdeps
# would compute them (libc6, libstdc++6, libgcc-s1, ...). The wheels' own
# bundled libraries are found through -l; they belong to this package.
SHLIBDEPS=$(
    cd "$BUILD_DIR" && mkdir -p debian && printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$NAME" "$NAME" > debian/control
    mapfile -t objs < <(find "$VENV" -type f -name '*.so*')
    libdirs=()
    while IFS= read -r d; do libdirs+=("-l$d"); done < <(printf '%s\n' "${objs[@]}" | xargs -n1 dirname | sort -u)
    dpkg-shlibdeps -O --ignore-missing-info --warnings=0 "${libdirs[@]}" "${objs[@]/#/-e}" 2>/dev/null \
        | sed -n 's/^shlibs:Depends=//p'
)
[ -n "$SHLIBDEPS" ] || die "dpkg-shlibdeps found no dependencies (apt-get install dpkg-dev)"
DEPENDS="python3 (>= $PY_XY), python3 (<< $PY_NEXT), $SHLIBDEPS"

find "$STAGE" -type d -exec chmod 0755 {} +
find "$STAGE" -type f -exec chmod u+rw,go+r,go-w {} +
install -d "$STAGE/DEBIAN"
for script in postinst prerm postrm; do
    install -m 0755 "$DEB_SRC/$script" "$STAGE/DEBIAN/$script"
done
install -m 0644 "$DEB_SRC/conffiles" "$STAGE/DEBIAN/conffiles"
INSTALLED_SIZE=$(du -s --apparent-size --block-size=1024 --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s|@VERSION@|$DEB_VERSION|" -e "s|@ARCH@|$ARCH|" -e "s|@MAINTAINER@|$DEB_MAINTAINER|" \
    -e "s|@INSTALLED_SIZE@|$INSTALLED_SIZE|" -e "s|@DEPENDS@|$DEPENDS|" \
    "$DEB_SRC/control.in" > "$STAGE/DEBIAN/control"
chmod 0644 "$STAGE/DEBIAN/control"
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) \
    > "$STAGE/DEBIAN/md5sums"
chmod 0644 "$STAGE/DEBIAN/md5sums"
find "$STAGE" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

DEB="$DIST_DIR/${NAME}_${DEB_VERSION}_${ARCH}.deb"
dpkg-deb --build --root-owner-group -Zxz "$STAGE" "$DEB" >/dev/null
log "wrote $DEB ($(du -h "$DEB" | cut -f1), installed size $INSTALLED_SIZE KiB)"

# ---- lintian ----------------------------------------------------------------
if [ "$LINTIAN" = 1 ]; then
    if command -v lintian >/dev/null; then
        log "lintian:"
        # Errors fail the build; warnings are printed (docs/packaging.md lists
        # the overridden ones and why).
        lintian --fail-on error --allow-root --tag-display-limit 0 "$DEB" >&2 \
            || die "lintian reported errors"
    else
        log "lintian not installed: skipped (apt-get install lintian)"
    fi
fi
echo "$DEB"
