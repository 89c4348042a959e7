-- Break-glass (issue 10 item 4): a signed-in clinician states a reason and gets emergency
-- treatment access (purpose of use ETREAT) until expires_at. The access decision point reads the
-- open window of a user once per verified token (access/purpose.ts); the reason is also in the
-- AuditEvent and in the Communication sent to the supervisors. Times are the server clock's
-- (clock.ts), written by the server, never SQL now(), so tests can move time forward.
CREATE TABLE break_glass (
  tenant text NOT NULL REFERENCES tenant (id),
  id text NOT NULL,
  user_id text NOT NULL,
  reason text NOT NULL,
  started_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (tenant, id)
);
CREATE INDEX break_glass_user ON break_glass (tenant, user_id, expires_at);
