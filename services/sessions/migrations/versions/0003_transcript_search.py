"""Full-text search over transcripts, with each database's own engine:
SQLite's FTS5 (an external-content index kept by triggers) and PostgreSQL's
tsvector (a GIN index on the expression). Both are in step with every
append, in its transaction.

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_sessions_transcript_search ON sessions_transcript "
                   "USING GIN (to_tsvector('simple', content))")
        return
    op.execute("CREATE VIRTUAL TABLE sessions_transcript_fts USING fts5("
               "content, content='sessions_transcript', content_rowid='id', tokenize='unicode61')")
    op.execute("CREATE TRIGGER sessions_transcript_fts_insert AFTER INSERT ON sessions_transcript BEGIN "
               "INSERT INTO sessions_transcript_fts(rowid, content) VALUES (new.id, new.content); END")
    op.execute("CREATE TRIGGER sessions_transcript_fts_delete AFTER DELETE ON sessions_transcript BEGIN "
               "INSERT INTO sessions_transcript_fts(sessions_transcript_fts, rowid, content) "
               "VALUES ('delete', old.id, old.content); END")
    op.execute("CREATE TRIGGER sessions_transcript_fts_update AFTER UPDATE OF content ON sessions_transcript BEGIN "
               "INSERT INTO sessions_transcript_fts(sessions_transcript_fts, rowid, content) "
               "VALUES ('delete', old.id, old.content); "
               "INSERT INTO sessions_transcript_fts(rowid, content) VALUES (new.id, new.content); END")
    op.execute("INSERT INTO sessions_transcript_fts(sessions_transcript_fts) VALUES ('rebuild')")  # what is there


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_sessions_transcript_search")
        return
    for trigger in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER sessions_transcript_fts_{trigger}")
    op.execute("DROP TABLE sessions_transcript_fts")
