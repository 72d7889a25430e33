"""Fault and size knobs of the colmena double: `<hive dir>/.labsim-colmena.json` and env vars.

Keys (file) / variables (env, which win):
  extra_lines  / LABSIM_COLMENA_EXTRA_LINES  build log lines added per node (default 0)
  line_delay   / LABSIM_COLMENA_LINE_DELAY   seconds slept before each extra line (default 0)
  build_delay  / LABSIM_COLMENA_BUILD_DELAY  seconds each node's build takes (default 0): the
                                             time nix spends realising a node's system, inside
                                             the node's `--parallel` permit as in colmena
  fail_build   / LABSIM_COLMENA_FAIL_BUILD   node names whose build fails (list / comma list)
  foreign_build / LABSIM_COLMENA_FOREIGN_BUILD  node names this machine cannot build for (Nix
                                             refuses their aarch64-linux derivations)
  fail_eval    / LABSIM_COLMENA_FAIL_EVAL    evaluation error text (fails every selected node)
  flavor       / LABSIM_COLMENA_FLAVOR       "0.4.0" (default) or "main" (log prefixes, RUST_LOG)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

KNOB_FILE = ".labsim-colmena.json"


@dataclass(frozen=True)
class ColmenaKnobs:
    """The double's knobs for one run."""

    extra_lines: int = 0
    line_delay: float = 0.0
    build_delay: float = 0.0
    fail_build: tuple[str, ...] = ()
    foreign_build: tuple[str, ...] = ()
    fail_eval: str | None = None
    flavor: str = "0.4.0"

    @classmethod
    def load(cls, hive_dir: Path | None, environ: dict[str, str] | None = None) -> ColmenaKnobs:
        """Read the knob file (if any) and apply environment overrides."""
        env = dict(os.environ if environ is None else environ)
        raw: dict[str, object] = {}
        if hive_dir is not None and (hive_dir / KNOB_FILE).is_file():
            raw = dict(json.loads((hive_dir / KNOB_FILE).read_text()))
        fail_build = raw.get("fail_build", [])
        names = list(fail_build) if isinstance(fail_build, list) else []
        if "LABSIM_COLMENA_FAIL_BUILD" in env:
            names = [n.strip() for n in env["LABSIM_COLMENA_FAIL_BUILD"].split(",") if n.strip()]
        foreign = raw.get("foreign_build", [])
        foreign_names = list(foreign) if isinstance(foreign, list) else []
        if "LABSIM_COLMENA_FOREIGN_BUILD" in env:
            text = env["LABSIM_COLMENA_FOREIGN_BUILD"]
            foreign_names = [n.strip() for n in text.split(",") if n.strip()]
        fail_eval = env.get("LABSIM_COLMENA_FAIL_EVAL", raw.get("fail_eval"))
        flavor = str(env.get("LABSIM_COLMENA_FLAVOR", raw.get("flavor", "0.4.0")))
        return cls(
            extra_lines=int(str(env.get("LABSIM_COLMENA_EXTRA_LINES", raw.get("extra_lines", 0)))),
            line_delay=float(str(env.get("LABSIM_COLMENA_LINE_DELAY", raw.get("line_delay", 0)))),
            build_delay=float(
                str(env.get("LABSIM_COLMENA_BUILD_DELAY", raw.get("build_delay", 0)))
            ),
            fail_build=tuple(str(n) for n in names),
            foreign_build=tuple(str(n) for n in foreign_names),
            fail_eval=str(fail_eval) if fail_eval else None,
            flavor="main" if flavor == "main" else "0.4.0",
        )
