-- Durable escalation timers of the crisis-risk workflow (server/src/clinical/risk/README.md).
-- One row per open risk Task that waits for acknowledgement (status requested, received or
-- ready): due_at is the Task's deadline (restriction.period.end), step the escalation rung
-- reached (0 = first owner, 1 = backup on call, 2 = supervisor, 3 = clinic lead, 4+ = again).
-- Rows are written in the Task's own transaction (the Task write hook), so a committed Task
-- always has its timer; an accepted, in-progress, completed or cancelled Task has none.
-- The escalation loop claims due rows with FOR UPDATE SKIP LOCKED, comparing due_at with the
-- server's clock passed as a parameter (never SQL now()), so each fires once across processes.
CREATE TABLE risk_timer (
  tenant text NOT NULL,
  task_id text NOT NULL,
  due_at timestamptz NOT NULL,
  step integer NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant, task_id)
);
-- The loop looks across tenants for what is due; tenant follows so a distributed (Citus) table
-- can still be probed per tenant.
CREATE INDEX risk_timer_due ON risk_timer (due_at, tenant);
