-- Ids of messages already handled, so that a redelivered message changes nothing twice.
CREATE TABLE inbox (
    message_id TEXT PRIMARY KEY,
    message_type TEXT NOT NULL,
    handled_at TIMESTAMP NOT NULL
);
CREATE INDEX inbox_handled_at ON inbox (handled_at);
