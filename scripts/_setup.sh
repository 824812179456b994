# Shared by scripts/serve, scripts/test and friends: set up whatever is missing, quickly
# skipping what is already there. Source it; it leaves you in the repository root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

ensure_graphviz() {
    command -v dot >/dev/null 2>&1 && return 0
    say "installing Graphviz (dot) with apt-get"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq graphviz >/dev/null
}

ensure_venv() {
    local python="${PYTHON:-python3}"
    if [ ! -x .venv/bin/python ]; then
        "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
            say "fabro needs Python 3.11 or newer ($python is $("$python" --version 2>&1))"
            exit 1
        }
        say "creating .venv"
        "$python" -m venv .venv
    fi
    # Reinstall only when pyproject.toml changed since the last install.
    local stamp=.venv/.fabro-installed want
    want=$(sha256sum pyproject.toml | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        say "installing fabro and its dev tools into .venv"
        .venv/bin/python -m pip install -q --upgrade pip >/dev/null
        .venv/bin/python -m pip install -q -e '.[dev]'
        echo "$want" > "$stamp"
    fi
}

ensure_graphviz
ensure_venv
export PATH="$PWD/.venv/bin:$PATH"
