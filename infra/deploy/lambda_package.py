"""What goes into the Lambda artifacts `sam build` makes; the Makefile's build targets run this file.

    python3 infra/deploy/lambda_package.py requirements     the layer's requirements (pyproject.toml's)
    python3 infra/deploy/lambda_package.py prune DIR        drop from an installed layer what nothing loads
    python3 infra/deploy/lambda_package.py code DEST        a function's code: handlers/ and pipeline/
    python3 infra/deploy/lambda_package.py sizes BUILD_DIR  each artifact's size, unpacked and zipped

One layer (DependenciesLayer) holds the dependencies for the four functions; each function holds
only the project's own code. Left out of the layer:

- boto3, and botocore and s3transfer with it: Lambda's python3.12 runtime has them (/var/runtime,
  after the layer on sys.path), and the pipeline calls no API newer than that runtime's first
  botocore (1.34); see docs/deploying.md.
- click, rich and PyYAML (and what only they pull in): only the `ews-pipeline` command imports
  them, and no handler imports pipeline.cli, which is left out of the functions too.

Pruned from what is installed (`prune`), because nothing the functions run ever reads it:

- babel's locale data (35 MiB): python-liquid imports babel's modules, but only its babel filters
  read a locale, and the pipeline's Liquid environments register none of them.
- lxml's C sources and headers (.pyx, .pxd, .pxi, .h): for compiling against lxml, never imported.
- bin/ (the dependencies' console scripts) and any __pycache__ (bytecode of the build's Python).

Standard library only: `sam build` runs it from its copy of the checkout, before anything is
installed. tests/integration/test_deploying_doc.py and bench/cold_start.py import it for `sizes`.
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import sys
import tomllib
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CODE_PACKAGES",
    "COMMAND_ONLY",
    "RUNTIME_PROVIDED",
    "ArtifactSize",
    "artifact_size",
    "copy_code",
    "layer_requirements",
    "prune_layer",
]

ROOT = Path(__file__).resolve().parents[2]
# Distributions the Lambda runtime provides (python3.12: boto3, botocore, s3transfer, jmespath,
# dateutil, six, urllib3). jmespath, dateutil, six and urllib3 stay in the layer: other
# dependencies need them too, and the layer's come first on sys.path.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer"})
# Dependencies only the ews-pipeline command imports.
COMMAND_ONLY = frozenset({"click", "rich", "pyyaml"})
# The project's code in each function: the handlers and the pipeline package, without its CLI.
CODE_PACKAGES = ("handlers", "pipeline")
LEFT_OUT_OF_CODE = (Path("pipeline") / "cli",)
# Inside the installed layer, relative to its python/ folder.
PRUNED_DIRECTORIES = (Path("babel") / "locale-data", Path("lxml") / "includes", Path("bin"))
PRUNED_SUFFIXES = {"lxml": (".pyx", ".pxd", ".pxi", ".h")}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return _normalized(match.group(1))


def layer_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """pyproject.toml's dependencies, without the runtime's and the command line's own."""
    dependencies: list[str] = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    left_out = RUNTIME_PROVIDED | COMMAND_ONLY
    return [requirement for requirement in dependencies if _requirement_name(requirement) not in left_out]


def _distributions(target: Path) -> Iterator[tuple[str, Path]]:
    for info in sorted(target.glob("*.dist-info")):
        metadata = (info / "METADATA").read_text(errors="replace")
        found = re.search(r"^Name:\s*(\S+)", metadata, re.MULTILINE)
        if found:
            yield _normalized(found.group(1)), info


def _remove_distribution(target: Path, info: Path) -> None:
    """Every file the distribution's RECORD lists, then the folders it leaves empty."""
    folders: set[Path] = set()
    for line in (info / "RECORD").read_text().splitlines():
        relative = line.rsplit(",", 2)[0]
        if not relative:
            continue
        path = (target / relative).resolve()
        if target.resolve() not in path.parents:
            continue  # a RECORD path outside the layer (../bin/...): never touched
        path.unlink(missing_ok=True)
        folders.update(parent for parent in path.parents if target.resolve() in parent.parents)
    shutil.rmtree(info, ignore_errors=True)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir():
            shutil.rmtree(folder / "__pycache__", ignore_errors=True)
            if not any(folder.iterdir()):
                folder.rmdir()


def prune_layer(target: Path) -> list[str]:
    """Remove from an installed layer (its python/ folder) what the functions never load; what went."""
    removed: list[str] = []
    for name, info in _distributions(target):
        if name in RUNTIME_PROVIDED | COMMAND_ONLY:
            _remove_distribution(target, info)
            removed.append(name)
    for relative in PRUNED_DIRECTORIES:
        if (target / relative).is_dir():
            shutil.rmtree(target / relative)
            removed.append(str(relative))
    for package, suffixes in PRUNED_SUFFIXES.items():
        for path in sorted((target / package).rglob("*")):
            if path.is_file() and path.suffix in suffixes:
                path.unlink()
                removed.append(str(path.relative_to(target)))
    for cache in sorted(target.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache, ignore_errors=True)
    return removed


def copy_code(destination: Path, source: Path = ROOT) -> None:
    """handlers/ and pipeline/ into a function's artifact: .py files only, without the CLI."""
    left_out = {source / relative for relative in LEFT_OUT_OF_CODE}
    for package in CODE_PACKAGES:
        for path in sorted((source / package).rglob("*.py")):
            if any(folder in path.parents for folder in left_out):
                continue
            target = destination / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


@dataclass(frozen=True)
class ArtifactSize:
    """One artifact folder of a build: its files, bytes unpacked, bytes zipped as `sam deploy` zips."""

    name: str
    files: int
    unpacked_bytes: int
    zipped_bytes: int
    # The same without bytecode (__pycache__), as issue 11's figures were taken.
    zipped_bytes_without_bytecode: int


def _files(folder: Path) -> Iterable[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


def _zipped(folder: Path, files: Iterable[Path]) -> int:
    # SAM zips each artifact with zipfile's ZIP_DEFLATED at its default level (samcli.lib.package.utils).
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(folder))
    return len(buffer.getvalue())


def artifact_size(folder: Path) -> ArtifactSize:
    """The size of one artifact folder (a function's, or the layer's)."""
    files = list(_files(folder))
    source = [path for path in files if "__pycache__" not in path.parts]
    return ArtifactSize(folder.name, len(files), sum(path.stat().st_size for path in files),
                        _zipped(folder, files), _zipped(folder, source))


def build_sizes(build_dir: Path) -> list[ArtifactSize]:
    """Every artifact folder `sam build` left in build_dir (functions and layers)."""
    return [artifact_size(folder) for folder in sorted(build_dir.iterdir()) if folder.is_dir()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("requirements", help="print the layer's requirements, one a line")
    prune = commands.add_parser("prune", help="remove what nothing loads from an installed layer")
    prune.add_argument("target", type=Path)
    code = commands.add_parser("code", help="copy the project's code into a function's artifact")
    code.add_argument("destination", type=Path)
    sizes = commands.add_parser("sizes", help="each artifact's size in a sam build folder")
    sizes.add_argument("build_dir", type=Path)
    args = parser.parse_args(argv)
    if args.command == "requirements":
        print("\n".join(layer_requirements()))
    elif args.command == "prune":
        removed = prune_layer(args.target)
        print(f"lambda_package: pruned {len(removed)} distributions, folders and files from {args.target}",
              file=sys.stderr)
    elif args.command == "code":
        copy_code(args.destination)
    else:
        for size in build_sizes(args.build_dir):
            print(f"{size.name}: {size.files} files, {size.unpacked_bytes / 2**20:.1f} MiB unpacked, "
                  f"{size.zipped_bytes / 2**20:.1f} MiB zipped "
                  f"({size.zipped_bytes_without_bytecode / 2**20:.1f} MiB without bytecode)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
