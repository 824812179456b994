# Shared by scripts/serve, scripts/test and friends: set up whatever is missing, quickly
# skipping what is already there. Source it; it leaves you in the repository root.
#
# With FABRO_SETUP_DEFINE_ONLY=1 it only defines the functions below, so that
# tests/scripts/test_setup.py can call one at a time. The part that defines them uses bash
# builtins only: those tests run it with a PATH that holds nothing but their stubs.
set -euo pipefail
_fabro_setup_dir=${BASH_SOURCE[0]%/*}
[ "$_fabro_setup_dir" != "${BASH_SOURCE[0]}" ] || _fabro_setup_dir=.
cd "$_fabro_setup_dir/.."

say() { printf 'setup: %s\n' "$*" >&2; }

is_root() { [ "$EUID" -eq 0 ]; }

# Run a package manager as root: directly when we are root, through sudo when it exists,
# otherwise as we are (it may still work, e.g. a user-owned Homebrew; if not, we warn).
as_root() {
    if is_root || ! command -v sudo >/dev/null 2>&1; then
        "$@"
    else
        sudo "$@"
    fi
}

install_graphviz() {
    if command -v apt-get >/dev/null 2>&1; then
        say "installing Graphviz (dot) with apt-get"
        as_root apt-get update -qq >/dev/null &&
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null
    elif command -v dnf >/dev/null 2>&1; then
        say "installing Graphviz (dot) with dnf"
        as_root dnf install -y -q graphviz >/dev/null
    elif command -v brew >/dev/null 2>&1; then
        say "installing Graphviz (dot) with brew"
        brew install --quiet graphviz >/dev/null # Homebrew refuses to run as root: no sudo
    else
        return 2
    fi
}

# Graphviz draws workflows (`fabro graph`, GET /runs/{id}/graph); everything else works
# without it, so a failed or impossible install is one warning, not the end of the script.
ensure_graphviz() {
    command -v dot >/dev/null 2>&1 && return 0
    local status=0
    install_graphviz || status=$?
    hash -r
    command -v dot >/dev/null 2>&1 && return 0
    local why="could not install it"
    [ "$status" -ne 2 ] || why="found no apt-get, dnf or brew to install it"
    say "warning: Graphviz (dot) is missing and setup $why; fabro works, but graph rendering" \
        "(fabro graph, GET /runs/{id}/graph) needs it: https://graphviz.org/download/"
}

# The browser tests (tests/ui/browser) drive Debian's Chromium through Playwright's Python
# package, which never downloads a browser of its own. Only scripts that run them ask for it
# (FABRO_SETUP_CHROMIUM=1): it is large, and nothing else needs it. If it cannot be installed,
# one warning here, and those tests fail with the same one-line reason.
ensure_chromium() {
    local chromium="${FABRO_CHROMIUM:-/usr/bin/chromium}"
    [ -x "$chromium" ] && return 0
    local why="found no apt-get to install it"
    if command -v apt-get >/dev/null 2>&1; then
        say "installing Chromium (for the browser tests) with apt-get"
        why="could not install it"
        as_root apt-get update -qq >/dev/null &&
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null ||
            true
    fi
    [ -x "$chromium" ] && return 0
    say "warning: Chromium is missing at $chromium and setup $why; the browser tests" \
        "(tests/ui/browser) will fail until it is there (set FABRO_CHROMIUM to use another)"
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
    # Reinstall only when pyproject.toml changed since the last install (hashed with Python:
    # sha256sum is not everywhere, macOS has none).
    local stamp=.venv/.fabro-installed want
    want=$(.venv/bin/python -c \
        'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())')
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        say "installing fabro and its dev tools into .venv"
        .venv/bin/python -m pip install -q --upgrade pip >/dev/null
        .venv/bin/python -m pip install -q -e '.[dev]'
        echo "$want" >"$stamp"
    fi
}

[ -z "${FABRO_SETUP_DEFINE_ONLY:-}" ] || return 0
ensure_graphviz
[ -z "${FABRO_SETUP_CHROMIUM:-}" ] || ensure_chromium
ensure_venv
export PATH="$PWD/.venv/bin:$PATH"
