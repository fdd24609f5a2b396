"""`python -m pipeline.cli ...`, as the worker's child processes are started."""

import sys

from pipeline.cli import main

sys.exit(main())
