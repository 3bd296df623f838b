# Shared by bin/serve and bin/test: a virtualenv in .venv with the pinned requirements.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
ensure_venv() {
    local requirements="$1"
    if [ ! -x .venv/bin/python ]; then
        "$PYTHON" -m venv .venv
    fi
    local stamp=".venv/.installed-$(cat "$requirements" requirements*.txt | sha256sum | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
        rm -f .venv/.installed-*
        touch "$stamp"
    fi
}
