"""The database: SQLAlchemy engine, tables and Alembic migrations."""
