"""`python -m labsim.nixtool`: the nix test double's entry point."""

from __future__ import annotations

import sys

from labsim.nixtool.cli import main

if __name__ == "__main__":
    sys.exit(main())
