-- Fixed-window request counters shared by every server process and node (auth/rate-limit.ts):
-- token, introspection, revocation and registration limits, and the sign-in throttles. One row
-- per (bucket, key): its window began at the key's first request and ends at expires_at; a hit
-- is one INSERT ... ON CONFLICT DO UPDATE ... RETURNING count that counts on or starts a new
-- window. `key` is a SHA-256 digest: no address or typed username is stored. Times are epoch
-- milliseconds; rows past expires_at are swept now and then. UNLOGGED: counters need no crash
-- safety or replication, and every hit is a write.
CREATE UNLOGGED TABLE rate_limit_window (
  bucket text NOT NULL,
  key text NOT NULL,
  expires_at bigint NOT NULL,
  count integer NOT NULL,
  PRIMARY KEY (bucket, key)
);
