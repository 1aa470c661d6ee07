"""PostgreSQL (harbor-db): db/env. Written even with an external database, as upstream."""

from .. import context as ctx
from ..files import env_file


def files(s, keys, paths):
    db = ctx.database(s, keys)
    return [env_file("config/db/env", {"POSTGRES_PASSWORD": db["password"]}, uid=ctx.DB_UID)]
