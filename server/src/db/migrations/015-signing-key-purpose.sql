-- Signing keys by purpose (auth/keys.ts): 'access-token' (ES256), 'id-token' (RS256) and 'note'
-- (ES256, signed Compositions). Token keys are retired hours after rotation; note keys stay
-- published for as long as the notes they signed must verify, i.e. always.
ALTER TABLE signing_key ADD COLUMN purpose text;
UPDATE signing_key SET purpose = CASE alg WHEN 'RS256' THEN 'id-token' ELSE 'access-token' END;
ALTER TABLE signing_key ALTER COLUMN purpose SET NOT NULL;

-- Before this migration notes were signed with the access-token key: those keys stay published
-- (even once retired for tokens) so the notes they signed still verify.
ALTER TABLE signing_key ADD COLUMN signed_notes boolean NOT NULL DEFAULT false;
UPDATE signing_key SET signed_notes = true WHERE alg = 'ES256';

-- private_jwk is now encrypted with the server key (db/secret-box.ts), as are
-- app_user.totp_secret and user_session.pending_totp_secret: plain text left by older versions
-- is encrypted when the server starts (db/secret-columns.ts).
