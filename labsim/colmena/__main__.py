"""`python -m labsim.colmena`: the colmena test double's entry point."""

from __future__ import annotations

import sys

from labsim.colmena.cli import main

if __name__ == "__main__":
    sys.exit(main())
