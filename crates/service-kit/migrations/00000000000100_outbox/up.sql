-- Messages waiting to be published: written in the same transaction as the change they
-- announce, deleted by the relay once the broker has confirmed them. A relay leases the rows it
-- is publishing (claimed_until); a relay that dies leaves a lease that simply expires.
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    routing_key TEXT NOT NULL,
    body TEXT NOT NULL,
    traceparent TEXT,
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed_until TIMESTAMP
);
