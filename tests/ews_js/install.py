"""Install the second EWS client (ews-javascript-api, pinned in package-lock.json) for the test suite.

`python3 -m tests.ews_js.install` (what .ci/run calls) and the test session both run
`npm ci --prefix tests/ews_js` once per lock file: node_modules/ remembers the hash of the
package-lock.json it was installed from, and a second call with the same lock does nothing.
npm's own cache (~/.npm) is used first (`--prefer-offline`), the registry for what it lacks.

Exit codes of the command: 0 installed (or already), 1 npm failed, 2 Node or npm is missing.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["HERE", "NodeMissing", "NpmFailed", "ensure_installed", "installed", "node_executable"]

HERE = Path(__file__).resolve().parent
LOCK = HERE / "package-lock.json"
MODULES = HERE / "node_modules"
# Written last, by this installer, into the folder npm filled: what the folder was installed from.
STAMP = MODULES / ".ews-pipeline-lock.sha256"
MINIMUM_NODE = 18


class NodeMissing(RuntimeError):
    """Node.js (or npm) is not installed, or is older than the client supports."""


class NpmFailed(RuntimeError):
    """`npm ci` did not install the locked packages."""


def node_executable() -> str:
    """The `node` on PATH (NODE env var overrides), or NodeMissing with the reason."""
    node = os.environ.get("NODE") or shutil.which("node")
    if not node:
        raise NodeMissing("Node.js is not installed (no `node` on PATH)")
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
        major = int(version.strip().lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        raise NodeMissing(f"cannot run {node} --version: {exc}") from exc
    if major < MINIMUM_NODE:
        raise NodeMissing(f"Node.js {version.strip()} is older than {MINIMUM_NODE}")
    return node


def _lock_hash() -> str:
    return hashlib.sha256(LOCK.read_bytes()).hexdigest()


def installed() -> bool:
    """True when node_modules/ holds what package-lock.json pins."""
    return STAMP.is_file() and STAMP.read_text().strip() == _lock_hash()


def ensure_installed(timeout: float = 300.0) -> Path:
    """node_modules/ for the pinned client, running `npm ci` first when the lock changed; its path."""
    node_executable()
    if installed():
        return MODULES
    # One installer at a time (two test sessions on a fresh clone): the second finds it done.
    # (The lock file lives outside the tree: `npm ci` empties node_modules/ first.)
    tag = hashlib.sha256(str(HERE).encode()).hexdigest()[:12]
    with (Path(tempfile.gettempdir()) / f"ews-pipeline-ews-js-{tag}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not installed():
            _npm_ci(timeout)
    return MODULES


def _npm_ci(timeout: float) -> None:
    npm = shutil.which("npm")
    if not npm:
        raise NodeMissing("npm is not installed (no `npm` on PATH)")
    command = [npm, "ci", "--prefix", str(HERE), "--no-audit", "--no-fund", "--prefer-offline"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise NpmFailed(f"`npm ci` took more than {timeout:.0f} s") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise NpmFailed(f"`npm ci --prefix {HERE}` exited {done.returncode}:\n{tail}")
    STAMP.write_text(_lock_hash() + "\n")


def main() -> int:
    try:
        where = ensure_installed()
    except NodeMissing as exc:
        print(f"ews_js: {exc}", file=sys.stderr)
        return 2
    except NpmFailed as exc:
        print(f"ews_js: {exc}", file=sys.stderr)
        return 1
    print(f"ews_js: ews-javascript-api installed in {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
