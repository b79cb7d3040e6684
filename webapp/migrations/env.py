"""Alembic environment: runs on the connection that `webapp.core.db.migrate` opened
(already inside its locked transaction), or on DATABASE_URL when alembic is
called directly."""

from alembic import context
from sqlmodel import SQLModel

from webapp import models  # noqa: F401  (registers the tables)
from webapp.core.config import Settings
from webapp.core.db import create_db_engine, include_in_comparison

target_metadata = SQLModel.metadata


def run_migrations(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_in_comparison,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    engine = create_db_engine(Settings(), for_migrations=True)
    with engine.connect() as fresh:
        run_migrations(fresh)
    engine.dispose()
