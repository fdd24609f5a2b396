"""`python -m infra.short_lease SECONDS (-m MODULE | SCRIPT) [ARGS...]`: a consumer with a shorter lease.

A running job's lease in the results table is the job timeout plus `LEASE_MARGIN_SECONDS` (60 s,
which covers clock skew between machines and the final table write); a redelivery may take the job
over only once it lapses. Local runs that SIGKILL consumers on purpose
(tests/integration/test_worker_crash.py, bench/chaos.py) wait out that margin at every takeover,
though their processes share one clock. This launcher sets the margin to SECONDS in the consumer's
process and then runs MODULE (as `python -m` does) or SCRIPT (as `python SCRIPT` does), so that a
takeover comes SECONDS after the job timeout instead of a minute after it:

    python -m infra.short_lease 10 -m pipeline.cli worker --threads 4
    python -m infra.short_lease 10 bench/lambda_container.py --pollers 8

Every process that may take over another's jobs must run with the same margin.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pipeline.config

__all__ = ["main", "short_lease_command"]


def short_lease_command(margin_s: int, command: list[str]) -> list[str]:
    """`command` (`[python, "-m", MODULE, ...]` or `[python, SCRIPT, ...]`) run through this launcher."""
    python, *rest = command
    return [python, "-m", "infra.short_lease", str(margin_s), *rest]


def main(argv: list[str] | None = None) -> None:
    """Set the lease margin in this process, then run the module or script with its arguments."""
    args = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: python -m infra.short_lease SECONDS (-m MODULE | SCRIPT) [ARGS...]"
    if len(args) < 2 or not args[0].isdigit() or int(args[0]) < 1 or (args[1] == "-m" and len(args) < 3):
        raise SystemExit(usage)
    pipeline.config.LEASE_MARGIN_SECONDS = int(args[0])
    if args[1] == "-m":
        module = args[2]
        sys.argv = [module, *args[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return
    script = Path(args[1])
    sys.argv = [str(script), *args[2:]]
    sys.path.insert(0, str(script.resolve().parent))  # as `python SCRIPT` puts the script's folder first
    runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main()
