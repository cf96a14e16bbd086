# Sourced by scripts/serve-demo and scripts/test: installs and starts, idempotently, what aghub needs.
# Everything comes from Debian's packages and PyPI; nothing is downloaded from anywhere else.

AGHUB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AGHUB_STATE_DIR=${AGHUB_STATE_DIR:-$AGHUB_ROOT/target/test-services}
mkdir -p "$AGHUB_STATE_DIR"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

_apt_updated=0
ensure_apt() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing Debian packages: ${missing[*]}"
    if [ $_apt_updated = 0 ]; then as_root apt-get update -qq; _apt_updated=1; fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
}

# Build needs: a C compiler, pkg-config, cmake + nasm to build libjpeg-turbo (turbojpeg crate), and
# libheif (HEIC/AVIF decoding, libheif-rs crate; found with pkg-config, bookworm has 1.15.1 with
# its HEVC and AV1 decoders, libde265 and dav1d/aom).
ensure_build_deps() {
    command -v cargo >/dev/null || die "cargo is not installed (https://rustup.rs)"
    ensure_apt pkg-config build-essential cmake nasm libheif-dev
}

# Test oracles and peers: exiftool reads what we stored; vips/jpegtran are the speed peers;
# poppler's pdftotext, pdffonts and pdfimages read the advice letter (tests/api/letters.rs);
# libheif's heif-enc makes the HEIC and AVIF test photos.
ensure_test_tools() {
    ensure_apt libimage-exiftool-perl libvips-tools libjpeg-turbo-progs webp curl poppler-utils \
        libheif-examples ffmpeg
}

ensure_chromium() {
    ensure_apt chromium chromium-driver
}

# axe-core (npm): the accessibility checker the browser test runs on every page it visits
# (tests/api/browser.rs); pinned, installed under target/.
AXE_CORE_VERSION=4.14.1
ensure_axe() {
    local dir="$AGHUB_ROOT/target/axe-core-$AXE_CORE_VERSION"
    if [ ! -f "$dir/node_modules/axe-core/axe.min.js" ]; then
        command -v npm >/dev/null 2>&1 || ensure_apt npm
        log "installing axe-core@$AXE_CORE_VERSION from npm"
        mkdir -p "$dir"
        npm install --silent --no-audit --no-fund --prefix "$dir" "axe-core@$AXE_CORE_VERSION" \
            || die "npm install axe-core failed"
    fi
    export AXE_CORE_JS="$dir/node_modules/axe-core/axe.min.js"
}

# schemathesis (PyPI): an independent client generator and fuzzer that checks the running API
# against its OpenAPI document (tests/api/openapi_fuzz.rs).
SCHEMATHESIS_VERSION=4.32.5
ensure_schemathesis() {
    if ! command -v st >/dev/null 2>&1 || ! st --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
        log "installing schemathesis==$SCHEMATHESIS_VERSION from PyPI"
        python3 -m pip install -q "schemathesis==$SCHEMATHESIS_VERSION" || die "pip install schemathesis failed"
        hash -r
    fi
}

# A real SMTP server for the notification tests (tests start scripts/smtp-sink on their own
# ports, so they can stop it mid-run and start it again).
AIOSMTPD_VERSION=1.4.6
ensure_smtp_sink() {
    if ! python3 -c "import aiosmtpd, sys; sys.exit(aiosmtpd.__version__ != '$AIOSMTPD_VERSION')" 2>/dev/null; then
        log "installing aiosmtpd==$AIOSMTPD_VERSION from PyPI"
        python3 -m pip install -q "aiosmtpd==$AIOSMTPD_VERSION" || die "pip install aiosmtpd failed"
    fi
}

# fhir.resources (PyPI): the independent FHIR R4 validator the FHIR export's tests run on every
# bundle (scripts/validate-fhir-bundle.py, tests/api/fhir.rs). 6.4.0 is the last release built
# from FHIR R4 (4.0.1): 6.5.0 moved to R4B (4.3.0) and 7.x to R5. It needs pydantic 1, which
# would clash with other PyPI tools, so it lives in its own virtualenv under target/.
FHIR_RESOURCES_VERSION=6.4.0
FHIR_PYDANTIC_VERSION=1.10.26
ensure_fhir_validator() {
    local venv="$AGHUB_ROOT/target/fhir-validator-$FHIR_RESOURCES_VERSION"
    local check="import fhir.resources as f, sys; sys.exit(0 if (f.__version__, f.__fhir_version__) == ('$FHIR_RESOURCES_VERSION', '4.0.1') else 1)"
    if ! "$venv/bin/python" -c "$check" 2>/dev/null; then
        log "installing fhir.resources==$FHIR_RESOURCES_VERSION (FHIR R4) from PyPI into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv" 2>/dev/null || { ensure_apt python3-venv; python3 -m venv "$venv"; } \
            || die "could not make a Python virtualenv for the FHIR validator"
        "$venv/bin/python" -m pip install -q "fhir.resources==$FHIR_RESOURCES_VERSION" \
            "pydantic[email]==$FHIR_PYDANTIC_VERSION" || die "pip install fhir.resources failed"
        "$venv/bin/python" -c "$check" || die "fhir.resources $FHIR_RESOURCES_VERSION does not load as FHIR R4"
    fi
    export AGHUB_FHIR_PYTHON="$venv/bin/python"
}

# PostgreSQL: use whatever answers on 127.0.0.1:5432, else install Debian's and start it.
# A login role aghub/aghub (superuser, to create a database per test) is made if missing.
ensure_postgres() {
    ensure_apt postgresql-client
    if ! pg_isready -q -h 127.0.0.1 -p 5432; then
        ensure_apt postgresql
        local version
        version=$(ls /etc/postgresql | sort -V | tail -n 1)
        log "starting PostgreSQL $version"
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
        pg_isready -q -h 127.0.0.1 -p 5432 || die "PostgreSQL did not start on 127.0.0.1:5432"
    fi
    if ! PGPASSWORD=aghub psql -h 127.0.0.1 -U aghub -d postgres -tAc 'SELECT 1' >/dev/null 2>&1; then
        log "creating PostgreSQL role aghub"
        as_root su postgres -c "psql -q -d postgres -c \"DO \\\$\\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'aghub') THEN CREATE ROLE aghub LOGIN SUPERUSER PASSWORD 'aghub'; ELSE ALTER ROLE aghub LOGIN SUPERUSER PASSWORD 'aghub'; END IF; END \\\$\\\$;\"" \
            || die "could not create the PostgreSQL role aghub"
    fi
    export TEST_POSTGRES_URL=${TEST_POSTGRES_URL:-postgres://aghub:aghub@127.0.0.1:5432/postgres}
}

# S3-compatible server: moto's standalone server from PyPI. Chosen over s3s-fs because it
# installs in seconds (no compile on a 2-core machine) and implements the S3 API surface we
# use (buckets, put/get/head/delete object) as a real HTTP server on 127.0.0.1.
MOTO_VERSION=5.2.1
S3_PORT=${AGHUB_TEST_S3_PORT:-9455}
ensure_s3() {
    if ! command -v moto_server >/dev/null 2>&1 || ! python3 -c "import moto, flask" 2>/dev/null; then
        log "installing moto[server]==$MOTO_VERSION from PyPI"
        python3 -m pip install -q "moto[server]==$MOTO_VERSION" || die "pip install moto[server] failed"
        hash -r
    fi
    if ! curl -s -o /dev/null "http://127.0.0.1:$S3_PORT/"; then
        log "starting the S3 server (moto) on 127.0.0.1:$S3_PORT"
        nohup moto_server -H 127.0.0.1 -p "$S3_PORT" >"$AGHUB_STATE_DIR/moto.log" 2>&1 &
        for _ in $(seq 1 30); do curl -s -o /dev/null "http://127.0.0.1:$S3_PORT/" && break; sleep 0.5; done
        curl -s -o /dev/null "http://127.0.0.1:$S3_PORT/" || die "the S3 server did not start; see $AGHUB_STATE_DIR/moto.log"
    fi
    export AWS_ENDPOINT_URL=http://127.0.0.1:$S3_PORT
    export AWS_REGION=eu-west-2
    export AWS_ACCESS_KEY_ID=aghub-test
    export AWS_SECRET_ACCESS_KEY=aghub-test
    export AGHUB_S3_FORCE_PATH_STYLE=true
}
