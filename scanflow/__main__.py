"""``python -m scanflow ...``: the `scanflow` command (see `scanflow.cli`)."""

import sys

from scanflow.cli import main

if __name__ == "__main__":
    sys.exit(main())
