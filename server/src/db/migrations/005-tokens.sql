-- SMART App Launch back channel: grants, refresh tokens, revocations.
-- Secrets (refresh tokens) are stored as sha256 (base64url) only.

-- One grant per authorization-code exchange: the family every access and refresh token issued
-- from that code (and from its refreshes) belongs to. Revoking the grant revokes them all.
-- access_type: 'offline' (offline_access), 'online' (online_access: ends with the session) or
-- 'none' (no refresh token).
CREATE TABLE token_grant (
  tenant text NOT NULL REFERENCES tenant (id),
  id text NOT NULL,
  client_id text NOT NULL,
  user_id text NOT NULL,
  code_hash text,
  scope text NOT NULL,
  context jsonb NOT NULL DEFAULT '{}',
  access_type text NOT NULL,
  session_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz,
  PRIMARY KEY (id)
);
CREATE INDEX token_grant_code ON token_grant (code_hash);
CREATE INDEX token_grant_tenant_user ON token_grant (tenant, user_id);

-- Refresh tokens (RFC 6749 §6), rotated on every use: a used one presented again revokes the
-- whole family (OAuth 2.0 Security BCP §4.14.2).
CREATE TABLE refresh_token (
  token_hash text NOT NULL,
  tenant text NOT NULL REFERENCES tenant (id),
  grant_id text NOT NULL,
  scope text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  PRIMARY KEY (token_hash)
);
CREATE INDEX refresh_token_grant ON refresh_token (grant_id);
CREATE INDEX refresh_token_expiry ON refresh_token (expires_at);

-- Revoked grant ids and access-token jtis, kept until every access token they cover has expired.
-- authenticate() looks here (one primary-key lookup) when a person token is not in its cache.
CREATE TABLE revoked_token (
  id text NOT NULL,
  tenant text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (id)
);
CREATE INDEX revoked_token_expiry ON revoked_token (expires_at);
