-- SMART App Launch (issue 3): apps that act for people. Shared by the browser-facing half of the
-- authorization server (/authorize, login, consent) and the back channel (token, refresh,
-- introspection, revocation, registration).

-- Clients now come in SMART's kinds: 'backend-service' (as before) and 'smart-app'.
-- auth_method: 'none' (public, PKCE only), 'client_secret_basic' (secret_hash = scrypt of the
-- secret) or 'private_key_jwt' (jwks / jwks_uri). status: 'approved', or 'pending' for a
-- dynamic registration (RFC 7591) a tenant admin has not yet approved.
ALTER TABLE oauth_client ADD COLUMN auth_method text NOT NULL DEFAULT 'private_key_jwt';
ALTER TABLE oauth_client ADD COLUMN redirect_uris text[] NOT NULL DEFAULT '{}';
ALTER TABLE oauth_client ADD COLUMN secret_hash text;
ALTER TABLE oauth_client ADD COLUMN status text NOT NULL DEFAULT 'approved';
ALTER TABLE oauth_client ADD COLUMN launch_uri text;
ALTER TABLE oauth_client ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}';

-- EHR launch: the EHR (our launcher, or an admin tool) creates an opaque launch id bound to a
-- context; the app passes it back as `launch` to /authorize.
-- context: { patient?, encounter?, fhirContext?: [...], need_patient_banner?, smart_style_url? }
CREATE TABLE launch_context (
  tenant text NOT NULL REFERENCES tenant (id),
  id text NOT NULL,
  context jsonb NOT NULL,
  created_by text,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (id)
);
CREATE INDEX launch_context_expiry ON launch_context (expires_at);

-- Authorization codes (RFC 6749 §4.1.2): stored hashed (sha256, base64url), single use, short.
-- context: what the token response carries beside the token, decided at /authorize:
-- { patient?, encounter?, fhirContext?, need_patient_banner?, smart_style_url?, fhirUser?,
--   roles?: [...], nonce?, auth_time? }
CREATE TABLE authorization_code (
  code_hash text NOT NULL,
  tenant text NOT NULL REFERENCES tenant (id),
  client_id text NOT NULL,
  user_id text NOT NULL,
  redirect_uri text NOT NULL,
  scope text NOT NULL,
  code_challenge text NOT NULL,
  context jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  PRIMARY KEY (code_hash)
);
CREATE INDEX authorization_code_expiry ON authorization_code (expires_at);
