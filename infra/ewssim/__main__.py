"""`python -m infra.ewssim`: run the simulator as a command."""

import sys

from infra.ewssim.cli import main

sys.exit(main())
