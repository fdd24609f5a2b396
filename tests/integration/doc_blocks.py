"""Running the fenced blocks of a Markdown doc as written, in order, as one shell session would.

Every fenced block has an info string that says what it is:

- `bash` (also `sh`, `shell`, `console`: its `$ ` lines) and `python` blocks are commands: each one
  is run, and must exit 0, unless the HTML comment right before it says otherwise;
- `json`, `jsonl`, `yaml`, `text` blocks are data or sample output, never run;
- `powershell` blocks are commands for another machine: they must be marked `not run`.

Markers, HTML comments on the lines right before the opening fence (one or more, `;`-separated):

    <!-- not run: needs AWS -->       not run, counted; the reason is required
    <!-- exit: 1 -->                  run; must exit 1 (an expected failure)
    <!-- needs: rabbitmq -->          run when RabbitMQ listens on 127.0.0.1:5672; else skipped,
                                      or a failure with PIPELINE_REQUIRE_BROKERS=1
    <!-- file: acme.yaml -->          the block's text is written to that file when it is reached
                                      (data blocks: not run; commands: not run either)
    <!-- run: last -->                run after every other block of every doc (stopping things)

A block without an info string, or with one not listed above, fails the run: every block is run,
data, or marked; so does a command block that would run nothing (a `console` block without a `$ `
line, an empty one). `unrun_commands` lists the command blocks of a set of docs that no run
covers. The exported variables, shell functions and working directory a bash block
leaves are the next block's (as in one terminal; plain shell variables do not carry over). Python
blocks run with `python3` in that environment. Processes a block leaves in the background are
stopped at the end, by process group.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BlockResult", "DocBlock", "DocRun", "parse_blocks", "run_docs", "unrun_commands"]

SHELL = frozenset({"bash", "sh", "shell", "console"})
PYTHON = frozenset({"python", "py"})
DATA = frozenset({"json", "jsonl", "yaml", "yml", "text"})
ELSEWHERE = frozenset({"powershell", "pwsh", "ps1"})
KNOWN_NEEDS = frozenset({"rabbitmq"})

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_COMMENT = re.compile(r"^\s*<!--(?P<body>.*?)-->\s*$")
_MARKER = re.compile(r"^(?P<key>not run|exit|needs|file|run)\s*:\s*(?P<value>.*)$")


class DocError(ValueError):
    """A doc block the runner cannot classify: no info string, an unknown one, a bad marker."""


@dataclass(frozen=True)
class DocBlock:
    """One fenced block, where it is, and what its markers say."""

    doc: Path
    line: int  # of the opening fence, counting from 1
    language: str
    text: str
    not_run: str | None = None
    exit_code: int = 0
    needs: frozenset[str] = frozenset()
    file: str | None = None
    last: bool = False

    @property
    def where(self) -> str:
        return f"{self.doc.name}:{self.line}"

    @property
    def is_command(self) -> bool:
        return self.language in SHELL | PYTHON | ELSEWHERE

    @property
    def runs(self) -> bool:
        """A command the runner executes (unless a broker it needs is missing)."""
        return self.language in SHELL | PYTHON and self.not_run is None and self.file is None


def parse_blocks(doc: Path) -> list[DocBlock]:
    """The doc's fenced blocks with their markers; raises DocError for one that is not classified."""
    lines = doc.read_text().splitlines()
    blocks: list[DocBlock] = []
    number = 0
    while number < len(lines):
        opening = _FENCE.match(lines[number])
        if opening is None:
            number += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        language = opening["info"].strip().split(" ")[0].lower() if opening["info"].strip() else ""
        body: list[str] = []
        end = number + 1
        while end < len(lines) and not _closes(lines[end], fence):
            body.append(lines[end][indent:] if lines[end][:indent].strip() == "" else lines[end])
            end += 1
        if end == len(lines):
            raise DocError(f"{doc.name}:{number + 1}: the block is never closed")
        blocks.append(_block(doc, number + 1, language, "\n".join(body) + "\n", _markers(lines, number)))
        number = end + 1
    return blocks


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return len(stripped) >= len(fence) and set(stripped) == {fence[0]}


def _markers(lines: Sequence[str], fence_index: int) -> dict[str, str]:
    markers: dict[str, str] = {}
    above = fence_index - 1
    while above >= 0 and (comment := _COMMENT.match(lines[above])):
        parts: list[str] = []
        for part in comment["body"].split(";"):
            # A `;` that starts no marker belongs to the reason before it.
            if parts and _MARKER.match(part.strip()) is None:
                parts[-1] += ";" + part
            else:
                parts.append(part)
        for part in parts:
            found = _MARKER.match(part.strip())
            if found is None:
                raise DocError(f"line {above + 1}: unknown marker {part.strip()!r}")
            markers[found["key"]] = found["value"].strip()
        above -= 1
    return markers


def _block(doc: Path, line: int, language: str, text: str, markers: Mapping[str, str]) -> DocBlock:
    where = f"{doc.name}:{line}"
    if not language:
        raise DocError(f"{where}: a block needs an info string (bash, python, json, yaml, text, ...)")
    if language not in SHELL | PYTHON | DATA | ELSEWHERE:
        raise DocError(f"{where}: unknown info string {language!r}")
    if "not run" in markers and not markers["not run"]:
        raise DocError(f"{where}: `not run` needs a reason")
    if language in SHELL | PYTHON and "not run" not in markers and "file" not in markers:
        runs = _console_commands(text) if language == "console" else text
        if not runs.strip():
            raise DocError(f"{where}: the {language} block runs nothing"
                           + (" (a console block runs its `$ ` lines)" if language == "console" else ""))
    if language in ELSEWHERE and "not run" not in markers:
        raise DocError(f"{where}: {language} cannot run here: mark it `<!-- not run: REASON -->`")
    needs = frozenset(n.strip() for n in markers.get("needs", "").split(",") if n.strip())
    if needs - KNOWN_NEEDS:
        raise DocError(f"{where}: unknown needs {sorted(needs - KNOWN_NEEDS)}")
    if markers.get("run", "last") != "last":
        raise DocError(f"{where}: `run:` takes `last` only")
    try:
        exit_code = int(markers.get("exit", "0"))
    except ValueError:
        raise DocError(f"{where}: `exit:` takes a number") from None
    return DocBlock(doc=doc, line=line, language=language, text=text, not_run=markers.get("not run"),
                    exit_code=exit_code, needs=needs, file=markers.get("file"), last="run" in markers)


@dataclass(frozen=True)
class BlockResult:
    block: DocBlock
    returncode: int
    seconds: float
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == self.block.exit_code

    def describe(self) -> str:
        def tail(text: str) -> str:
            return "\n".join(text.strip().splitlines()[-25:])

        return (f"{self.block.where} ({self.block.language}) exited {self.returncode}, expected "
                f"{self.block.exit_code}, after {self.seconds:.1f} s\n{self.block.text}"
                f"--- stdout\n{tail(self.stdout)}\n--- stderr\n{tail(self.stderr)}")


@dataclass
class DocRun:
    """What running the docs did: each block run, and the ones marked or skipped."""

    results: list[BlockResult] = field(default_factory=list)
    not_run: list[DocBlock] = field(default_factory=list)
    skipped: list[tuple[DocBlock, str]] = field(default_factory=list)
    files: list[DocBlock] = field(default_factory=list)
    data: list[DocBlock] = field(default_factory=list)

    @property
    def failures(self) -> list[BlockResult]:
        return [result for result in self.results if not result.ok]

    def summary(self) -> str:
        seconds = sum(r.seconds for r in self.results)
        return (f"{len(self.results)} command blocks run ({seconds:.1f} s), {len(self.not_run)} marked "
                f"not run, {len(self.skipped)} skipped, {len(self.files)} written as files, "
                f"{len(self.data)} data blocks")


# A bash block runs in a fresh bash that first loads what the previous block left, and saves its
# own state on exit: the exported variables, the functions and the working directory.
_PRELUDE = """\
source "$__DOC_STATE_IN"
__doc_save() {{
  __doc_rc=$?
  {{ declare -px; declare -f; printf 'cd %q\\n' "$PWD"; }} > "$__DOC_STATE_OUT.tmp" 2>/dev/null || true
  if [ "$__doc_rc" -eq {expected} ]; then
    mv "$__DOC_STATE_OUT.tmp" "$__DOC_STATE_OUT" && pwd > "$__DOC_STATE_OUT.pwd"
  fi
  exit "$__doc_rc"
}}
trap __doc_save EXIT
set -euo pipefail
"""


class _Session:
    """The shell session the blocks share: its state file, work directory, and process groups."""

    def __init__(self, workdir: Path, env: Mapping[str, str], timeout: float) -> None:
        self.workdir = workdir
        self.env = dict(env)
        self.timeout = timeout
        self.state = workdir / ".doc-state.sh"
        self.state.write_text(f"cd {_quote(str(workdir))}\n")
        self.groups: list[int] = []
        self.count = 0

    def run(self, block: DocBlock) -> BlockResult:
        self.count += 1
        scratch = self.workdir / ".doc-blocks"
        scratch.mkdir(exist_ok=True)
        stem = scratch / f"{self.count:03d}"
        if block.language in PYTHON:
            source = stem.with_suffix(".py")
            source.write_text(block.text)
            body = f"python3 {_quote(str(source))}\n"
        else:
            body = _console_commands(block.text) if block.language == "console" else block.text
        script = stem.with_suffix(".sh")
        script.write_text(_PRELUDE.format(expected=block.exit_code) + body)
        out, err = stem.with_suffix(".out"), stem.with_suffix(".err")
        env = {**self.env, "__DOC_STATE_IN": str(self.state), "__DOC_STATE_OUT": str(self.state)}
        started = time.monotonic()
        # Files, not pipes: a process the block leaves in the background keeps its output open.
        with out.open("w") as stdout, err.open("w") as stderr:
            process = subprocess.Popen(["bash", str(script)], cwd=self.workdir, env=env, stdout=stdout,
                                       stderr=stderr, stdin=subprocess.DEVNULL, start_new_session=True)
            self.groups.append(process.pid)
            try:
                returncode = process.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                returncode = process.wait()
                stderr.write(f"\n[doc runner] killed after {self.timeout:.0f} s\n")
        return BlockResult(block, returncode, time.monotonic() - started, out.read_text(), err.read_text())

    def write(self, block: DocBlock) -> None:
        assert block.file is not None
        (self.cwd() / block.file).write_text(block.text)

    def cwd(self) -> Path:
        """The working directory the last block left."""
        saved = self.state.with_name(self.state.name + ".pwd")
        return Path(saved.read_text().strip()) if saved.exists() else self.workdir

    def stop_all(self, grace: float = 15.0) -> None:
        """Stop what the blocks left running: SIGTERM to each process group, SIGKILL after `grace`."""
        for group in self.groups:
            _signal_group(group, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_group_alive(group) for group in self.groups):
            time.sleep(0.2)
        for group in self.groups:
            _signal_group(group, signal.SIGKILL)


def run_docs(docs: Iterable[Path], workdir: Path, env: Mapping[str, str], *, timeout: float = 90.0,
             available: frozenset[str] = frozenset(), require_all: bool = False) -> DocRun:
    """Run every command block of `docs` in order (blocks marked `run: last` after all others).

    A failed block stops the run: the blocks after it usually build on it. `available` names
    what `needs:` may ask for; with `require_all`, a block that needs something missing fails.
    """
    blocks = [block for doc in docs for block in parse_blocks(doc)]
    ordered = [b for b in blocks if not b.last] + [b for b in blocks if b.last]
    run = DocRun()
    session = _Session(workdir, env, timeout)
    try:
        for block in _in_order(ordered, run, available, require_all):
            if block.file is not None:
                session.write(block)
                run.files.append(block)
                continue
            result = session.run(block)
            run.results.append(result)
            if not result.ok:
                break
    finally:
        session.stop_all()
    return run


def unrun_commands(docs: Iterable[Path], run: Iterable[Path]) -> list[DocBlock]:
    """The command blocks of `docs` that nothing runs: neither marked `not run` (or written as a
    file) nor in one of the docs that a test runs (`run`). Raises DocError for a doc that the
    runner would refuse."""
    covered = {doc.resolve() for doc in run}
    return [block for doc in docs for block in parse_blocks(doc)
            if block.runs and doc.resolve() not in covered]


def _in_order(blocks: list[DocBlock], run: DocRun, available: frozenset[str],
              require_all: bool) -> Iterator[DocBlock]:
    for block in blocks:
        if block.not_run is not None:
            run.not_run.append(block)
        elif block.file is not None:
            yield block
        elif block.language in DATA:
            run.data.append(block)
        elif missing := block.needs - available:
            if require_all:
                raise DocError(f"{block.where} needs {', '.join(sorted(missing))}, which is not running "
                               "(PIPELINE_REQUIRE_BROKERS=1 requires it)")
            run.skipped.append((block, f"needs {', '.join(sorted(missing))}"))
        else:
            yield block


def _console_commands(text: str) -> str:
    return "".join(line[2:] + "\n" for line in text.splitlines() if line.startswith("$ "))


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True
