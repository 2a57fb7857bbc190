"""Create the database named in DATABASE_URL if it does not exist (for `make migrate`)."""

from __future__ import annotations

import asyncio

import asyncpg

from shared.settings import Settings


async def main() -> None:
    url = Settings().database_url
    base, _, name = url.rpartition("/")
    name = name.split("?")[0]
    try:
        conn = await asyncpg.connect(url)
    except asyncpg.InvalidCatalogNameError:
        admin = await asyncpg.connect(f"{base}/postgres")
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        print(f"created database {name}")
        return
    await conn.close()


asyncio.run(main())
