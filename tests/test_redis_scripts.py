"""db/redis_scripts.py: every Redis script is a `.lua` file in a package's lua/ folder, read
once, and one that the real Redis compiles; no product module writes a script inline."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from redis.asyncio import Redis

from medialab.db.redis_scripts import lua_script

PRODUCT = Path(str(resources.files("medialab")))


def every_script() -> list[tuple[str, str]]:
    """(package, name) of every .lua file the product has."""
    found = [("medialab." + lua.parent.parent.relative_to(PRODUCT).as_posix().replace("/", "."), lua.stem)
             for lua in PRODUCT.rglob("lua/*.lua")]
    return sorted(found)


def test_the_scripts_are_beside_their_callers_and_read_once() -> None:
    assert {package for package, _ in every_script()} == {"medialab.billing", "medialab.bot", "medialab.jobs"}
    assert lua_script("medialab.jobs", "enqueue") is lua_script("medialab.jobs", "enqueue")


async def test_redis_compiles_every_script(redis: Redis) -> None:
    for package, name in every_script():
        script = lua_script(package, name)
        assert (await redis.script_load(script.source)) == script.sha, (package, name)


def test_no_script_is_written_inline() -> None:
    def writes_one(path: Path) -> bool:
        text = path.read_text(encoding="utf-8")
        return "LuaScript.of(" in text or "register_script(" in text

    inline = [path.relative_to(PRODUCT).as_posix() for path in PRODUCT.rglob("*.py") if writes_one(path)]
    assert inline == ["db/redis_scripts.py"]
