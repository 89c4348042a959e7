-- People who log in (SMART App Launch for people, issue 3): practitioners, patients and related
-- persons, each tied to its FHIR resource (fhir_user) in one tenant. Secrets stay in these
-- tables and never pass through the FHIR API.

-- password_hash: "scrypt$N$r$p$salt$hash" (base64url). totp_secret: base32 RFC 6238 secret, kept
-- readable because the server must compute codes; totp_last_step stops a used code being
-- replayed. failed_count / locked_until: 5 consecutive failures lock for 15 minutes.
CREATE TABLE app_user (
  tenant text NOT NULL REFERENCES tenant (id),
  id text NOT NULL,
  username text NOT NULL,
  password_hash text NOT NULL,
  roles text[] NOT NULL,
  fhir_user text NOT NULL,
  display_name text,
  totp_secret text,
  totp_last_step bigint,
  failed_count integer NOT NULL DEFAULT 0,
  locked_until timestamptz,
  disabled boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, id)
);
CREATE UNIQUE INDEX app_user_username ON app_user (tenant, lower(username));
-- authorization_code.user_id and sessions name a user by id alone; ids are random UUIDs.
CREATE UNIQUE INDEX app_user_id ON app_user (id);

-- Single-use recovery codes (10 per enrolment), sha256 of a high-entropy random code.
CREATE TABLE user_recovery_code (
  tenant text NOT NULL,
  user_id text NOT NULL,
  code_hash text NOT NULL,
  used_at timestamptz,
  PRIMARY KEY (tenant, user_id, code_hash)
);

-- Browser sessions. The cookie holds a random value; only its sha256 is stored (cookie_hash).
-- id is the public handle (authorization_code.context.sessionId) so online_access refresh tokens
-- can end with the session. stage: 'mfa' (password ok, second factor due), 'enrol' (practitioner
-- must enrol TOTP; pending_totp_secret holds the secret being shown), 'active'.
CREATE TABLE user_session (
  tenant text NOT NULL,
  id text NOT NULL,
  cookie_hash text NOT NULL,
  user_id text NOT NULL,
  stage text NOT NULL,
  pending_totp_secret text,
  auth_time timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  ended_at timestamptz,
  PRIMARY KEY (id)
);
CREATE UNIQUE INDEX user_session_cookie ON user_session (cookie_hash);
CREATE INDEX user_session_user ON user_session (tenant, user_id);

-- An /authorize request between its checks and the code: the validated parameters, the user who
-- took it over (bound at the first step after login) and the patient picked.
CREATE TABLE authorize_request (
  tenant text NOT NULL,
  id text NOT NULL,
  client_id text NOT NULL,
  params jsonb NOT NULL,
  user_id text,
  patient text,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (id)
);
CREATE INDEX authorize_request_expiry ON authorize_request (expires_at);

-- Consent remembered: the same user, client and (sorted) scopes skip the consent screen.
CREATE TABLE consent_approval (
  tenant text NOT NULL,
  user_id text NOT NULL,
  client_id text NOT NULL,
  scope text NOT NULL,
  approved_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, user_id, client_id, scope)
);
