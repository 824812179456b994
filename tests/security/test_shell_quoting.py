"""Issue 13, shell quoting: a submitted value is one literal word in a command script.

Variables and the goal may come from a request, so fabro quotes them for the shell where they
are expanded into a `script` (with `shlex.quote`, adapted to the quotes the author wrote around
the reference); the author's own text is unchanged. Hostile values run through real command
stages of the real engine (and once through the API): the marker file never appears and the
program receives each value as one argument, exactly as submitted.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from quart.typing import TestClientProtocol as Client

from fabro.workflow.errors import WorkflowInputError
from fabro.workflow.prepare import prepare
from tests.api.runs_helpers import wait_for
from tests.engine.harness import Harness

# Each value tries to run `touch MARKER`; `{m}` is replaced by the marker's path.
HOSTILE = (
    "x; touch {m}",
    "$(touch {m})",
    "`touch {m}`",
    "a\ntouch {m}",
    "'; touch {m}; '",
    '"; touch {m}; "',
    "\\'\"; touch {m} #",
    "$'\\''; touch {m}",
    "a  b * ? [c] ~ {{d,e}} $HOME",
    "",
)
# (script written by the author, what the program prints for a value V)
CONTEXTS = (
    ("printf '<%s>\\n' $v", "<{v}>\n"),
    ("printf '<%s>\\n' \"got $v\"", "<got {v}>\n"),
    ("printf '<%s>\\n' 'got $v'", "<got {v}>\n"),
    ("printf '<%s>\\n' \"$v\"$v'$v'", "<{v}{v}{v}>\n"),
    ("printf '<%s>\\n' \"$(printf '%s' \"[$v]\")\"", "<[{v}]>\n"),
    ("printf '<%s>\\n' $goal", "<{g}>\n"),
    ("printf '<%s>\\n' ok # note $v", "<ok>\n"),
)


def dot_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def flow(script: str) -> str:
    return f"""digraph Q {{
  start [shape=Mdiamond]
  cmd [shape=parallelogram, script="{dot_string(script)}"]
  exit [shape=Msquare]
  start -> cmd -> exit
}}"""


async def output_of(harness: Harness, run_id: str) -> object:
    values = (await harness.checkpoint(run_id))["context_values"]
    return values["command.output"]


@pytest.mark.parametrize(("script", "expected"), CONTEXTS)
async def test_hostile_values_never_execute(
    harness: Harness, tmp_path: Path, script: str, expected: str
) -> None:
    marker = tmp_path / "MARKER"
    for template in HOSTILE:
        value = template.format(m=marker)
        goal = f"goal {value}"  # submitted with `$` escaped, as the goal expands $variables
        submitted = goal.replace("$", "$$")
        run, result = await harness.run(flow(script), goal=submitted, vars={"v": value})
        assert result.status == "completed", (value, result.error)
        assert not marker.exists(), (script, value)
        assert await output_of(harness, run.id) == expected.format(v=value, g=goal), value


async def test_author_text_is_unchanged(harness: Harness) -> None:
    script = 'a=$(echo one two); echo "$a" $$ > /dev/null; echo $v-$v'
    graph = prepare(flow(script), vars={"v": "x y"}).graph
    assert (
        graph.nodes["cmd"].script
        == "a=$(echo one two); echo \"$a\" $$ > /dev/null; echo 'x y'-'x y'"
    )
    plain = prepare(flow("echo \"$v\" '$v' $v"), vars={"v": "plain-1.0"}).graph
    assert plain.nodes["cmd"].script == "echo \"plain-1.0\" 'plain-1.0' plain-1.0"


async def test_a_broken_line_never_runs_the_rest_of_a_value(
    harness: Harness, tmp_path: Path
) -> None:
    # After a syntax error bash skips the rest of the line and reads on: a value with newlines
    # is written on one line ($'...'), so none of its lines is there to be read as a command.
    marker = tmp_path / "MARKER"
    value = f"x\ntouch {marker}\n"
    run, _ = await harness.run(flow("x=(() $v"), vars={"v": value})
    values = (await harness.checkpoint(run.id))["context_values"]
    assert values["command.exit_code"] != 0, values  # bash: syntax error
    assert not marker.exists()


# Found by fuzzing the lexer against bash: broken lines make bash skip to the next line and
# read it afresh; array subscripts and assignments are evaluated as arithmetic.
TRICKY = (
    ('x=(( "\n $v', '"; touch {m}; "'),
    ("x=(( '\n\\} $'# c '[[ a ==  $v", "a[$(touch {m})]"),
    ("{ x=(( '\n]=1  $v", "}$(touch {m})"),
    ("a[\n)true ${x:-<<EOF\n}|$v]=1 ", "')$(touch {m})('"),
    ("x=((){ } $$ $v", "\nEOF\ntouch {m}\n"),
    ("x=(( \"[[ a == )} '\n $v", "$(touch {m})"),
    (' $(($vcase a in a) )# c echo "$v" $v', "$(touch {m})"),
    ("x=$(( cat <<EOF\n) )\n$v\nEOF", "$(touch {m})"),
    ('echo a\\ #"$v"', '"; touch {m}; "'),
)


@pytest.mark.parametrize(("script", "template"), TRICKY)
def test_scripts_that_trip_bash_never_run_a_value(
    tmp_path: Path, script: str, template: str
) -> None:
    marker = tmp_path / "MARKER"
    try:
        graph = prepare(flow(script), vars={"v": template.replace("{m}", str(marker))}).graph
    except WorkflowInputError:
        return  # refused: nothing runs
    expanded = graph.nodes["cmd"].script or ""
    subprocess.run(["bash", "-c", expanded], cwd=tmp_path, capture_output=True, check=False)
    assert not marker.exists(), expanded


@pytest.mark.parametrize(
    "script",
    [
        "echo `echo $v`",
        "echo ${v:-$v}",
        "echo $(( $v + 1 ))",
        "[[ $v -eq 1 ]] && echo one",
        "cat <<EOF\n$v\nEOF",
        "let n=$v+1",
        "a[$v]=1",
        "a[\n)true ${x:-}|$v]=1",
        'echo "two\nlines $v"',
        "x=(( '\n\\} $'# c '[[ a == $v",
    ],
)
async def test_unquotable_places_take_only_plain_words(harness: Harness, script: str) -> None:
    # Here the shell would evaluate the text again; fabro refuses rather than guess.
    with pytest.raises(WorkflowInputError, match=r"\$v"):
        prepare(flow(script), vars={"v": "a[$(touch X)]"})
    assert prepare(flow(script), vars={"v": "1"}).ok


async def test_python_scripts_take_only_plain_words() -> None:
    dot = flow('print("$v")').replace("parallelogram,", 'parallelogram, language="python",')
    with pytest.raises(WorkflowInputError, match=r"\$v"):
        prepare(dot, vars={"v": '"); import os; os.system("touch X"); print("'})
    assert prepare(dot, vars={"v": "plain"}).graph.nodes["cmd"].script == 'print("plain")'


async def test_through_the_api(
    client: Client, auth_headers: dict[str, str], tmp_path: Path
) -> None:
    marker = tmp_path / "MARKER"
    value = f"x; touch {marker}; $(touch {marker}) `touch {marker}`\n'\"touch {marker}"
    dot = flow("printf '<%s>\\n' $v \"$goal\"")
    body = {"dot_source": dot, "goal": f"g; touch {marker}", "vars": {"v": value}}
    response = await client.post("/runs", json=body, headers=auth_headers)
    assert response.status_code == 201, await response.get_data(as_text=True)
    run_id = (await response.get_json())["id"]
    await wait_for(client, auth_headers, run_id, {"completed"})
    context = await (await client.get(f"/runs/{run_id}/context", headers=auth_headers)).get_json()
    assert context["command.output"] == f"<{value}>\n<g; touch {marker}>\n"
    await asyncio.sleep(0)
    assert not marker.exists()
