"""What one simulated command gets: its argv, the node's files, who runs it, and its streams.

Shared by the command modules of the node shell; holds no command logic itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import BinaryIO, TextIO

from labsim.nodes.nodestate import NodeFiles, NodeIdentity
from labsim.nodes.rootfs import NodeRoot


@dataclass
class Invocation:
    """One command to run on the simulated node."""

    argv: list[str]
    root: NodeRoot
    files: NodeFiles
    user: str
    privileged: bool
    stdin: BinaryIO
    out: TextIO
    err: TextIO
    now: float = field(default_factory=time.time)

    @cached_property
    def identity(self) -> NodeIdentity:
        """The node's static identity."""
        return self.files.identity()

    @property
    def effective_user(self) -> str:
        """The user the command runs as (root under sudo)."""
        return "root" if self.privileged else self.user

    def say(self, text: str) -> None:
        """Print a line on stdout."""
        self.out.write(text + "\n")

    def warn(self, text: str) -> None:
        """Print a line on stderr."""
        self.err.write(text + "\n")

    def with_argv(self, argv: list[str], *, privileged: bool | None = None) -> Invocation:
        """The same context for another argv (sudo, env, sh -c)."""
        return Invocation(
            argv=argv,
            root=self.root,
            files=self.files,
            user=self.user,
            privileged=self.privileged if privileged is None else privileged,
            stdin=self.stdin,
            out=self.out,
            err=self.err,
            now=self.now,
        )


Handler = Callable[[Invocation], int]
