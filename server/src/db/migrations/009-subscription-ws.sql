-- Websocket binding tokens (Subscriptions R5 Backport IG 1.1, $get-ws-binding-token:
-- http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-get-ws-binding-token).
-- A token is a bearer secret for binding a websocket to one or more Subscriptions the caller may
-- read. It lives in the database, not in a process, so any server process accepts it. Only its
-- sha256 (base64url) is stored. The tenant leads the key: the token carries its tenant in clear
-- (`<tenant>.<secret>`), so a bind looks up one tenant's rows only.
CREATE TABLE subscription_ws_token (
  tenant text NOT NULL REFERENCES tenant (id),
  token_hash text NOT NULL,
  -- Subscription ids the token binds (checked readable by the caller when it was issued).
  subscriptions text[] NOT NULL,
  -- Who asked (client id and the person's fhirUser, if any): accountability, never PHI.
  client_id text,
  subject text,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (tenant, token_hash)
);
CREATE INDEX subscription_ws_token_expiry ON subscription_ws_token (tenant, expires_at);
