"""The policy: its grammar and errors (file:line), each verdict for each kind of action, the
strictest rule winning, fail-closed defaults, and the policy file's reload."""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

import pytest

from fabro.config import load_settings
from fabro.config_file import FileSource, read_toml
from fabro.config_watch import ConfigWatcher
from fabro.errors import StartupError
from fabro.governance.actions import NO_POLICY, Action, Decision, Subject, Verdict
from fabro.governance.describe import command_action, file_action, network_action, shell_action
from fabro.governance.policy import (
    DEFAULT_BLOCK,
    Policy,
    PolicySettings,
    PolicySource,
    policy_banner,
    read_policy,
)

WORK = "/srv/runs/r1/work"
SUBJECT = Subject(run_id="r1", workflow="release", user="alice", work_dir=WORK)

# Each verdict once per kind of action, and a rule for files and hosts.
RULES = """
[policy]
[[policy.rules]]
name = "tests"
decision = "allow"
kinds = ["command", "shell"]
program = "pytest"

[[policy.rules]]
name = "git-log"
decision = "alert"
program = "git"
args = "log*"

[[policy.rules]]
name = "installs"
decision = "approve"
program = "pip"
args = "install *"

[[policy.rules]]
name = "no-push"
decision = "block"
program = "git"
args = "*push*"

[[policy.rules]]
name = "rm-inside"
decision = "allow"
program = "rm"
paths = ["{work_dir}/**"]

[[policy.rules]]
name = "echo"
decision = "allow"
program = "echo"

[[policy.rules]]
name = "write-inside"
decision = "allow"
kinds = ["file_write"]
paths = ["{work_dir}/**"]

[[policy.rules]]
name = "write-notes"
decision = "alert"
kinds = ["file_write"]
paths = ["{work_dir}/notes/*.md"]

[[policy.rules]]
name = "write-ci"
decision = "approve"
kinds = ["file_write"]
paths = ["{work_dir}/.github/**"]

[[policy.rules]]
name = "no-secrets"
decision = "block"
kinds = ["file_read", "file_write"]
paths = ["/etc/shadow", "{work_dir}/**/.env"]

[[policy.rules]]
name = "read-any"
decision = "allow"
kinds = ["file_read"]

[[policy.rules]]
name = "read-keys"
decision = "approve"
kinds = ["file_read"]
paths = ["/home/*/.ssh/*"]

[[policy.rules]]
name = "read-logs"
decision = "alert"
kinds = ["file_read"]
paths = ["/var/log/**"]

[[policy.rules]]
name = "api"
decision = "approve"
hosts = ["*.example.com"]
"""


def policy_of(tmp_path: Path, text: str, name: str = "server.toml") -> Policy:
    return Policy.of(settings_of(tmp_path, text, name))


def settings_of(tmp_path: Path, text: str, name: str = "server.toml") -> PolicySettings:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return read_policy(FileSource(path, read_toml(path)), tmp_path, {})


def decide(policy: Policy, action: Action, subject: Subject = SUBJECT) -> tuple[str, str]:
    decision = policy.decide(action, subject)
    return decision.verdict.name, decision.rule


@pytest.mark.parametrize(
    ("script", "verdict", "rule"),
    [
        ("pytest -q tests/", "ALLOW", "tests"),
        ("git log --oneline", "ALERT", "git-log"),
        ("pip install requests", "APPROVE", "installs"),
        ("git push origin main", "BLOCK", "no-push"),
        ("git -C . push", "BLOCK", "no-push"),
        ("git status", "BLOCK", "default"),
        ("/usr/bin/pytest", "ALLOW", "tests"),
    ],
)
@pytest.mark.parametrize("builder", [command_action, shell_action])
def test_each_verdict_for_a_command_and_a_shell_call(
    tmp_path: Path, builder: object, script: str, verdict: str, rule: str
) -> None:
    policy = policy_of(tmp_path, RULES)
    action = command_action(script, "shell") if builder is command_action else shell_action(script)
    assert decide(policy, action) == (verdict, rule)


@pytest.mark.parametrize(
    ("kind", "path", "verdict", "rule"),
    [
        ("file_write", f"{WORK}/src/app.py", "ALLOW", "write-inside"),
        ("file_write", f"{WORK}/notes/today.md", "ALERT", "write-notes"),
        ("file_write", f"{WORK}/.github/workflows/ci.yml", "APPROVE", "write-ci"),
        ("file_write", f"{WORK}/deep/down/.env", "BLOCK", "no-secrets"),
        ("file_write", "/tmp/elsewhere", "BLOCK", "default"),
        ("file_write", f"{WORK}/../escape", "BLOCK", "default"),
        ("file_write", WORK, "BLOCK", "default"),  # ** is what is inside, not the folder
        ("file_write", f"{WORK}/a$b~{{c}}", "ALLOW", "write-inside"),  # literal: no shell
        ("file_write", f"{WORK}/src/../../x", "BLOCK", "default"),
        ("file_read", "/usr/share/doc/x", "ALLOW", "read-any"),
        ("file_read", "/var/log/syslog", "ALERT", "read-logs"),
        ("file_read", "/home/bob/.ssh/id_ed25519", "APPROVE", "read-keys"),
        ("file_read", "/etc/shadow", "BLOCK", "no-secrets"),
    ],
)
def test_each_verdict_for_a_file_write_and_a_file_read(
    tmp_path: Path, kind: str, path: str, verdict: str, rule: str
) -> None:
    action = file_action(kind, path)  # type: ignore[arg-type]
    assert decide(policy_of(tmp_path, RULES), action) == (verdict, rule)


def test_a_network_request_is_decided_by_its_host(tmp_path: Path) -> None:
    policy = policy_of(tmp_path, RULES)
    assert decide(policy, network_action("https://API.Example.com/v1")) == ("APPROVE", "api")
    assert decide(policy, network_action("https://example.org/")) == ("BLOCK", "default")
    assert decide(policy, network_action("not a url")) == ("BLOCK", "default")


def test_no_policy_allows_everything() -> None:
    policy = Policy.of(PolicySettings())
    assert not policy.configured
    for action in (
        command_action("rm -rf /", "shell"),
        command_action("print(1)", "python"),
        file_action("file_write", "/etc/passwd"),
        network_action("https://example.com"),
    ):
        assert policy.decide(action, SUBJECT) == NO_POLICY == Decision(Verdict.ALLOW, "")


def test_an_empty_policy_blocks_everything(tmp_path: Path) -> None:
    policy = policy_of(tmp_path, "[policy]\n")
    assert policy.configured
    assert policy.decide(command_action("true", "shell"), SUBJECT) == DEFAULT_BLOCK
    assert policy.decide(file_action("file_read", "/x"), SUBJECT) == DEFAULT_BLOCK


def test_the_strictest_matching_rule_wins_and_the_first_among_equals(tmp_path: Path) -> None:
    policy = policy_of(
        tmp_path,
        """
[policy]
[[policy.rules]]
name = "anything"
decision = "allow"
program = "*"
[[policy.rules]]
name = "make-first"
decision = "alert"
program = "make"
[[policy.rules]]
name = "make-second"
decision = "alert"
program = "m?ke"
[[policy.rules]]
name = "deploy"
decision = "approve"
program = "make"
args = "deploy*"
""",
    )
    assert decide(policy, command_action("ls", "shell")) == ("ALLOW", "anything")
    assert decide(policy, command_action("make test", "shell")) == ("ALERT", "make-first")
    assert decide(policy, command_action("make deploy", "shell")) == ("APPROVE", "deploy")
    # A script: each simple command decided, the strictest taken.
    script = command_action("ls && make test; make deploy | cat", "shell")
    assert decide(policy, script) == ("APPROVE", "deploy")


def test_one_unmatched_command_blocks_the_whole_script(tmp_path: Path) -> None:
    policy = policy_of(tmp_path, RULES)
    assert decide(policy, command_action("pytest && curl evil.sh", "shell")) == (
        "BLOCK",
        "default",
    )


def test_default_approve_holds_what_no_rule_matches_and_never_softens_a_block(
    tmp_path: Path,
) -> None:
    policy = policy_of(tmp_path, RULES.replace("[policy]\n", "[policy]\ndefault = 'approve'\n", 1))
    assert decide(policy, command_action("make", "shell")) == ("APPROVE", "default")
    assert decide(policy, command_action("make && git push", "shell")) == ("BLOCK", "no-push")
    assert decide(policy, command_action("pytest -q", "shell")) == ("ALLOW", "tests")
    assert decide(policy, network_action("https://nowhere.example/")) == ("APPROVE", "default")
    banner = policy_banner(settings_of(tmp_path, "[policy]\ndefault = 'approve'\n"))
    assert banner.endswith("anything else waits for a person's approval")


@pytest.mark.parametrize(
    ("script", "verdict", "rule"),
    [
        ("rm -rf build dist/x", "ALLOW", "rm-inside"),
        (f"rm {WORK}/a", "ALLOW", "rm-inside"),
        ("rm -rf /etc", "BLOCK", "default"),
        ("rm -rf ../other", "BLOCK", "default"),
        ("rm -rf .", "BLOCK", "default"),  # the working directory itself is not inside it
        ("rm -- -weird", "ALLOW", "rm-inside"),
        ("rm -rf //etc", "BLOCK", "default"),
        ("rm -rf $HOME", "BLOCK", "default"),  # unknown: an allowing rule does not match
        (f"rm -rf {WORK}/$X", "BLOCK", "default"),  # $X may be ../..
        ("rm -rf build/ ./dist", "ALLOW", "rm-inside"),
        ("rm -rf build/../../x", "BLOCK", "default"),
        ("rm ~/x", "BLOCK", "default"),
        ("rm {a,/etc}", "BLOCK", "default"),
        ("echo hi > out.txt", "ALLOW", "echo"),  # the redirection: a write inside
        ("echo hi > /etc/motd", "BLOCK", "default"),  # a write outside
        ("echo hi > notes/a.md", "ALERT", "write-notes"),
        ("cd /tmp && rm -rf x", "BLOCK", "default"),  # `cd` itself has no rule
    ],
)
def test_work_dir_paths(tmp_path: Path, script: str, verdict: str, rule: str) -> None:
    assert decide(policy_of(tmp_path, RULES), command_action(script, "shell")) == (verdict, rule)


def test_cd_moves_where_relative_paths_resolve(tmp_path: Path) -> None:
    text = RULES + '[[policy.rules]]\nname = "cd"\ndecision = "allow"\nprogram = "cd"\n'
    policy = policy_of(tmp_path, text)
    assert decide(policy, command_action("cd build && rm -rf x", "shell")) == ("ALLOW", "cd")
    assert decide(policy, command_action("cd /tmp && rm -rf x", "shell")) == ("BLOCK", "default")
    assert decide(policy, command_action("cd $D && rm -rf x", "shell")) == ("BLOCK", "default")
    # After a cd a relative redirection target is unknown: the allowing rule cannot vouch for
    # it, and it may be the `.env` that no-secrets blocks.
    assert decide(policy, command_action("cd build; echo x > y", "shell")) == (
        "BLOCK",
        "no-secrets",
    )
    assert decide(policy, command_action("cd build; echo x > /tmp/y", "shell")) == (
        "BLOCK",
        "default",
    )


def test_an_unknown_argument_matches_the_stricter_rules(tmp_path: Path) -> None:
    policy = policy_of(
        tmp_path,
        """
[policy]
[[policy.rules]]
name = "git"
decision = "allow"
program = "git"
[[policy.rules]]
name = "git-status"
decision = "allow"
program = "git"
args = "status"
[[policy.rules]]
name = "no-push"
decision = "block"
program = "git"
args = "push*"
""",
    )
    # `git $SUB` may be `git push`: the blocking rule counts, the allowing ones cannot vouch.
    assert decide(policy, command_action("git $SUB origin", "shell")) == ("BLOCK", "no-push")
    assert decide(policy, command_action("git status", "shell")) == ("ALLOW", "git")


def test_an_opaque_script_matches_only_rules_for_any_command(tmp_path: Path) -> None:
    strict = policy_of(tmp_path, RULES)
    hidden = command_action("bash -c 'pytest'", "shell")
    assert hidden.opaque
    assert decide(strict, hidden) == ("BLOCK", "default")
    assert decide(strict, command_action("print(1)", "python")) == ("BLOCK", "default")
    catch_all = policy_of(
        tmp_path,
        """
[policy]
[[policy.rules]]
name = "pytest"
decision = "allow"
program = "pytest"
[[policy.rules]]
name = "look-first"
decision = "approve"
program = "*"
args = "*"
[[policy.rules]]
name = "no-rm-outside"
decision = "block"
program = "*"
paths = ["/etc/**"]
""",
    )
    assert decide(catch_all, hidden) == ("APPROVE", "look-first")
    assert decide(catch_all, command_action("import os", "python")) == ("APPROVE", "look-first")


def test_workflows_and_users_filters(tmp_path: Path) -> None:
    policy = policy_of(
        tmp_path,
        """
[policy]
[[policy.rules]]
name = "release-deploys"
decision = "allow"
program = "deploy"
workflows = ["release*"]
users = ["alice", "ci-*"]
[[policy.rules]]
name = "submitted"
decision = "alert"
program = "deploy"
workflows = [""]
""",
    )
    action = command_action("deploy prod", "shell")
    assert decide(policy, action) == ("ALLOW", "release-deploys")
    assert decide(policy, action, Subject("r", "release-2", "ci-bot", WORK))[1] == "release-deploys"
    assert decide(policy, action, Subject("r", "nightly", "alice", WORK)) == ("BLOCK", "default")
    assert decide(policy, action, Subject("r", "release", "mallory", WORK)) == ("BLOCK", "default")
    assert decide(policy, action, Subject("r", None, "mallory", WORK)) == ("ALERT", "submitted")


def test_a_rule_with_a_key_that_does_not_apply_does_not_match(tmp_path: Path) -> None:
    policy = policy_of(
        tmp_path,
        """
[policy]
[[policy.rules]]
name = "programs"
decision = "allow"
program = "*"
""",
    )
    assert decide(policy, command_action("anything", "shell")) == ("ALLOW", "programs")
    assert decide(policy, file_action("file_read", "/x")) == ("BLOCK", "default")
    assert decide(policy, network_action("https://x.org")) == ("BLOCK", "default")


# ---- the reader ------------------------------------------------------------------------------

ERRORS = [
    ("[policy]\nfiles = 'x'\n", r"server.toml:2: unknown key policy.files"),
    ("policy = 1\n", r"server.toml:?\d*: policy must be a table"),
    (
        "[policy]\n[[policy.rules]]\nname = 'a'\ndecision = 'allow'\nprogrm = 'x'\n",
        r"server.toml:5: \[\[policy.rules\]\] rule \"a\": unknown key \"progrm\"",
    ),
    (
        "[policy]\n[[policy.rules]]\nname = 'a'\n\ndecision = 'permit'\n",
        r"server.toml:5: .*rule \"a\": decision must be one of \"allow\", \"alert\", "
        r"\"approve\", \"block\" \(got \"permit\"\)",
    ),
    (
        "[policy]\n[[policy.rules]]\ndecision = 'allow'\n",
        r"server.toml:2: .*rule #1: name is required",
    ),
    (
        "[policy]\n[[policy.rules]]\nname = 'a'\ndecision = 'allow'\n"
        "[[policy.rules]]\nname = 'a'\ndecision = 'block'\n",
        r"server.toml:6: .*rule \"a\": the name is already used",
    ),
    (
        "[policy]\n[[policy.rules]]\nname = 'a'\ndecision = 'allow'\nprogram = 'x[ab'\n",
        r"server.toml:5: .*rule \"a\": program: bad glob an unclosed \[",
    ),
    (
        "[policy]\n[[policy.rules]]\nname = 'a'\ndecision = 'allow'\npaths = ['relative/*']\n",
        r"server.toml:5: .*paths: bad glob \"relative/\*\" is neither absolute nor under",
    ),
    (
        "[policy]\n[[policy.rules]]\nname = 'a'\ndecision = 'allow'\npaths = ['{workdir}/x']\n",
        r"server.toml:5: .*only paths may name \{work_dir\}, and no other",
    ),
    (
        "[policy]\n[[policy.rules]]\nname = 'a'\ndecision = 'allow'\npaths = ['/a/b**']\n",
        r"server.toml:5: .*\*\* must be a whole path segment",
    ),
    (
        "[policy]\n[[policy.rules]]\nname = 'a'\ndecision = 'allow'\nargs = '{work_dir}'\n",
        r"server.toml:5: .*only paths may name \{work_dir\}",
    ),
    (
        "[policy]\n[[policy.rules]]\nname = 'a'\ndecision = 'allow'\nkinds = ['commands']\n",
        r"server.toml:5: .*kinds must name .* \(got \"commands\"\)",
    ),
    (
        "[policy]\n[[policy.rules]]\nname = 'a'\ndecision = 'allow'\nusers = []\n",
        r"server.toml:5: .*users must be a non-empty array of strings",
    ),
    (
        "[policy]\n[[policy.rules]]\nname = 'a'\ndecision = 'allow'\n"
        "program = 'x'\nhosts = ['y']\n",
        r"server.toml:2: .*rule \"a\": its keys apply to none of its kinds",
    ),
    ("[policy]\nfile = 'missing.toml'\n", r"policy file not found: .*missing.toml"),
    ("[policy]\ndefault = 'allow'\n", r"server.toml:2: policy.default must be one of"),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_reader_errors_name_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(StartupError) as caught:
        settings_of(tmp_path, text)
    assert re.search(message, str(caught.value)), str(caught.value)


def test_errors_in_the_policy_file_name_its_line(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text(
        "[[rule]]\nname = 'ok'\ndecision = 'allow'\n\n[[rule]]\nname = 'bad'\n"
        "decision = 'allow'\nprogram = '[z-a]'\n",
        encoding="utf-8",
    )
    with pytest.raises(StartupError, match=r"policy.toml:8: \[\[rule\]\] rule \"bad\": program"):
        settings_of(tmp_path, "[policy]\nfile = 'policy.toml'\n")
    (tmp_path / "policy.toml").write_text("[[rule]]\nname = 'dup'\ndecision = 'allow'\n")
    text = "[policy]\nfile = 'policy.toml'\n[[policy.rules]]\nname = 'dup'\ndecision = 'block'\n"
    with pytest.raises(StartupError, match=r"policy.toml:2: .*the name is already used"):
        settings_of(tmp_path, text)
    (tmp_path / "policy.toml").write_text("[rules]\nx = 1\n")
    with pytest.raises(StartupError, match=r"policy.toml:1: unknown key rules"):
        settings_of(tmp_path, "[policy]\nfile = 'policy.toml'\n")


def test_settings_load_the_policy_and_the_banner_says_so(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text(
        "[[rule]]\nname = 'reads'\ndecision = 'allow'\nkinds = ['file_read']\n"
    )
    config = tmp_path / "server.toml"
    config.write_text(RULES.replace("[policy]\n", "[policy]\nfile = 'policy.toml'\n", 1))
    policy = load_settings(config, {}).settings.governance.policy
    assert policy.configured and policy.file == tmp_path / "policy.toml"
    assert policy_banner(policy) == (
        "policy: 14 rules from server.toml (+ 1 from policy.toml); anything else is blocked"
    )
    assert policy.rules[0].where == f"{config}:5"
    assert policy_banner(PolicySettings()) == "policy: none configured; every action is allowed"
    assert not any("policy" in line for line in load_settings(config, {}).warnings)


# ---- reloading -------------------------------------------------------------------------------


def _rewrite(path: Path, text: str) -> None:
    """Write ``text`` with an mtime that surely differs (same-size edits too)."""
    before = path.stat().st_mtime if path.exists() else time.time()
    path.write_text(text, encoding="utf-8")
    os.utime(path, (before + 5, before + 5))


def test_the_policy_file_is_reloaded_and_a_broken_one_keeps_the_old_rules(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "policy.toml"
    file.write_text("[[rule]]\nname = 'tests'\ndecision = 'allow'\nprogram = 'pytest'\n")
    settings = settings_of(tmp_path, "[policy]\nfile = 'policy.toml'\n")
    source = PolicySource(settings)
    pytest_run = command_action("pytest", "shell")
    assert source().decide(pytest_run, SUBJECT) == Decision(Verdict.ALLOW, "tests")
    assert not source.check_once()  # unchanged

    _rewrite(file, "[[rule]]\nname = 'tests'\ndecision = 'block'\nprogram = 'pytest'\n")
    assert source.check_once()
    assert source().decide(pytest_run, SUBJECT) == Decision(Verdict.BLOCK, "tests")

    caplog.set_level(logging.ERROR, logger="fabro.governance.policy")
    _rewrite(file, "[[rule]]\nname = 'tests'\ndecision = 'allow'\nprogram = 'pytest'\nx = 1\n")
    assert source.check_once()
    assert source().decide(pytest_run, SUBJECT) == Decision(Verdict.BLOCK, "tests")
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "policy.toml:5" in errors[0] and "previous policy" in errors[0]

    file.unlink()  # gone: the previous policy stays too
    assert source.check_once()
    assert source().decide(pytest_run, SUBJECT) == Decision(Verdict.BLOCK, "tests")


def test_a_change_to_policy_in_server_toml_needs_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "server.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n[policy]\n')
    settings = load_settings(config, {}).settings
    watcher = ConfigWatcher(settings, {}, {}, lambda _: None)
    caplog.set_level(logging.WARNING, logger="fabro.config_watch")
    rule = '[[policy.rules]]\nname = "a"\ndecision = "allow"\n'
    _rewrite(config, f'data_dir = "{tmp_path}"\n\n[policy]\n{rule}')
    assert watcher.check_once()
    assert "change to policy needs a restart" in caplog.text


def test_a_many_star_glob_on_a_long_argument_line_is_quick(tmp_path: Path) -> None:
    policy = policy_of(
        tmp_path,
        "[policy]\n[[policy.rules]]\nname = 'stars'\ndecision = 'allow'\n"
        "program = 'echo'\nargs = '*a*a*a*a*a*b'\n",
    )
    action = command_action("echo " + "a" * 262_144, "shell")
    started = time.monotonic()
    assert decide(policy, action) == ("BLOCK", "default")
    assert time.monotonic() - started < 1.0  # backtracking would take hours


def test_an_unchanged_policy_in_server_toml_needs_no_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "server.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n' + RULES)
    watcher = ConfigWatcher(load_settings(config, {}).settings, {}, {}, lambda _: None)
    caplog.set_level(logging.WARNING, logger="fabro.config_watch")
    _rewrite(config, f'data_dir = "{tmp_path}"\n\n\n' + RULES)  # every rule moves down
    assert watcher.check_once()
    assert "restart" not in caplog.text


def test_a_stricter_rule_on_paths_catches_any_operand_and_an_allowing_one_needs_every(
    tmp_path: Path,
) -> None:
    policy = policy_of(
        tmp_path,
        "[policy]\n"
        "[[policy.rules]]\nname = 'anything'\ndecision = 'allow'\nkinds = ['command']\n"
        "[[policy.rules]]\nname = 'no-etc'\ndecision = 'block'\nkinds = ['command']\n"
        "paths = ['/etc/**']\n"
        "[[policy.rules]]\nname = 'rm-inside'\ndecision = 'allow'\nprogram = 'rm'\n"
        "paths = ['{work_dir}/**']\n",
    )
    assert decide(policy, command_action("cat /tmp/x /etc/shadow", "shell")) == (
        "BLOCK",
        "no-etc",
    )
    assert decide(policy, command_action("cat /etc/$X", "shell")) == ("BLOCK", "no-etc")
    assert decide(policy, command_action("ls", "shell")) == ("ALLOW", "anything")
    assert decide(policy, command_action("cat /tmp/x", "shell")) == ("ALLOW", "anything")
