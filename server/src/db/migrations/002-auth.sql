-- Secrets live here, never in FHIR resources and never through the FHIR API.

-- The server's own token-signing keys. Rotation adds a key; old public keys stay published until
-- every token they signed has expired.
CREATE TABLE signing_key (
  kid text PRIMARY KEY,
  alg text NOT NULL,
  private_jwk text NOT NULL,
  public_jwk text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  retired_at timestamptz
);

-- Registered OAuth clients. Backend-service clients authenticate with private_key_jwt against
-- a JWKS given inline (jwks) or by URL (jwks_uri), never both.
CREATE TABLE oauth_client (
  tenant text NOT NULL REFERENCES tenant (id),
  id text NOT NULL,
  name text NOT NULL,
  kind text NOT NULL,
  jwks text,
  jwks_uri text,
  scope text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  disabled boolean NOT NULL DEFAULT false,
  PRIMARY KEY (id)
);
CREATE INDEX oauth_client_tenant ON oauth_client (tenant, id);

-- Client-assertion jti values already seen, kept until the assertion would have expired anyway
-- (SMART Backend Services: the server must refuse a replayed jti).
CREATE TABLE used_jti (
  client_id text NOT NULL,
  jti text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (client_id, jti)
);
CREATE INDEX used_jti_expiry ON used_jti (expires_at);
