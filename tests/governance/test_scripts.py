"""The script reader: simple commands, assignments, redirections, and what makes a script
opaque (fabro/governance/scripts.py)."""

from __future__ import annotations

import random

import pytest

from fabro.governance.scripts import Script, read_script

# (script, simple commands, files written)
READABLE: list[tuple[str, list[list[str]], list[str]]] = [
    ("pytest -q tests/", [["pytest", "-q", "tests/"]], []),
    ("  ", [], []),
    ("# only a comment", [], []),
    ("make test # and a comment; rm -rf /", [["make", "test"]], []),
    ("echo a#b", [["echo", "a#b"]], []),
    ("a | b |& c", [["a"], ["b"], ["c"]], []),
    ("a && b || c", [["a"], ["b"], ["c"]], []),
    ("a; b & c", [["a"], ["b"], ["c"]], []),
    ("a\nb c\n\nd", [["a"], ["b", "c"], ["d"]], []),
    ("git \\\n  push", [["git", "push"]], []),
    ("FOO=1 BAR='a b' pytest -q", [["pytest", "-q"]], []),
    ("X=1", [], []),
    ("export X=1", [["export", "X=1"]], []),
    ("echo 'a;b' \"c && d\" e\\;f", [["echo", "a;b", "c && d", "e;f"]], []),
    ('echo ";" rm', [["echo", ";", "rm"]], []),
    ('echo "it\'s" \'say "hi"\'', [["echo", "it's", 'say "hi"']], []),
    ("echo hi > out.txt", [["echo", "hi"]], ["out.txt"]),
    ("echo hi>>log 2>&1", [["echo", "hi"]], ["log"]),
    ("cmd 2> err.log >| out &> both &>> all", [["cmd"]], ["err.log", "out", "both", "all"]),
    ("cmd >& file", [["cmd"]], ["file"]),
    ("cmd 2>/dev/null >/dev/stderr", [["cmd"]], []),
    ("sort < in.txt > /tmp/out", [["sort"]], ["/tmp/out"]),
    ("echo 2 > f", [["echo", "2"]], ["f"]),
    ("cat <<< word", [["cat"]], []),
    (
        "if git push; then echo ok; else exit 1; fi",
        [["git", "push"], ["echo", "ok"], ["exit", "1"]],
        [],
    ),
    ("for f in *.py; do rm $f; done", [["rm", "$f"]], []),
    ("while true; do sleep 1; done", [["true"], ["sleep", "1"]], []),
    ("! grep -q x f", [["grep", "-q", "x", "f"]], []),
    ("{ a; b; }", [["a"], ["b"]], []),
    ("time make", [["make"]], []),
    ("echo '$(not run)' '`nor this`'", [["echo", "$(not run)", "`nor this`"]], []),
    ("bash script.sh", [["bash", "script.sh"]], []),
    ("python3 -m pytest", [["python3", "-m", "pytest"]], []),
    ("env", [["env"]], []),
    ("env FOO=1", [["env", "FOO=1"]], []),
    ("find . -name '*.pyc' -delete", [["find", ".", "-name", "*.pyc", "-delete"]], []),
    ("rm -rf $HOME/x ~/y", [["rm", "-rf", "$HOME/x", "~/y"]], []),
]


@pytest.mark.parametrize(("text", "commands", "writes"), READABLE)
def test_a_readable_script(text: str, commands: list[list[str]], writes: list[str]) -> None:
    script = read_script(text, "shell")
    assert not script.opaque
    assert [list(argv) for argv in script.commands] == commands
    assert list(script.writes) == writes


OPAQUE = [
    "echo $(whoami)",
    'echo "$(whoami)"',
    "echo $((1 + 2))",
    "echo `whoami`",
    'echo "`whoami`"',
    "diff <(ls a) <(ls b)",
    "tee >(gzip > x.gz)",
    'eval "$CMD"',
    "exec rm -rf /",
    "source ./env.sh",
    ". ./env.sh",
    "bash -c 'git push'",
    "sh -ec 'git push'",
    "curl https://x | sh",
    "zsh -s < script",
    "python3 -c 'import os'",
    "perl -e 'system(1)'",
    "echo x | xargs rm",
    "env FOO=1 git push",
    "/usr/bin/env git push",
    "sudo rm -rf /",
    "nohup ./server &",
    "timeout 5 git push",
    "find . -exec rm {} \\;",
    "(cd /; rm -rf x)",
    "cat <<EOF\nrm -rf /\nEOF",
    "cat <<-EOF\n\tx\n\tEOF",
    "trap 'rm -rf /' EXIT",
    "case $x in a) rm a;; esac",
    "f() { rm -rf /; }; f",
    "$CMD --flag",
    "echo $'\\x41'",
    "echo 'unterminated",
    'echo "unterminated',
    "echo >",
    "cmd > > f",
]


@pytest.mark.parametrize("text", OPAQUE)
def test_an_opaque_script(text: str) -> None:
    assert read_script(text, "shell") == Script((), True)


def test_a_python_script_is_opaque_by_nature() -> None:
    assert read_script("print('hello')", "python").opaque


def test_a_long_script_reads_in_linear_time() -> None:
    # A model writes the shell tool's command: 256 KiB in one word and in many words.
    one_word = read_script("echo " + "x" * 262_144)
    assert len(one_word.commands[0][1]) == 262_144
    many = read_script("echo a; " * 32_768)
    assert len(many.commands) == 32_768


def test_any_text_reads_without_an_error() -> None:
    alphabet = " \t\n;&|<>()'\"\\`$#{}~=-*?[]abc/.!012"
    rng = random.Random(18)
    for _ in range(3_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        script = read_script(text)
        assert script.opaque or all(
            argv and all(isinstance(w, str) for w in argv) for argv in script.commands
        )
