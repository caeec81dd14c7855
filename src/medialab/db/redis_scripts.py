"""Every Redis script of the product, loaded one way.

A script is a `.lua` file, one per operation, in the `lua/` folder of the package that calls it
(billing's account steps, the job queue's enqueue, the chat lock). `lua_script` reads and hashes
it once per process; callers send it by EVALSHA through the batches of db/redis_pipelining.py,
which loads it into Redis when the server does not have it. The keys a script touches come from
db/redis_keys.py. The files ship in the wheel as package data (pyproject.toml).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class LuaScript:
    """A script's source and its SHA1, computed once: what EVALSHA and SCRIPT LOAD need."""

    source: str
    sha: str

    @classmethod
    def of(cls, source: str) -> LuaScript:
        return cls(source, hashlib.sha1(source.encode()).hexdigest())


@cache
def lua_script(package: str, name: str) -> LuaScript:
    """`<package>/lua/<name>.lua`, e.g. `lua_script("medialab.billing", "reserve")`."""
    return LuaScript.of((resources.files(package) / "lua" / f"{name}.lua").read_text(encoding="utf-8"))
