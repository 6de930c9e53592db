"""`python -m engine ...`: the command line lives in engine.tools.cli."""

import sys

from engine.tools.cli import main

if __name__ == "__main__":
    sys.exit(main())
