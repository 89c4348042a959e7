-- Backend clients registered for purposes of use (auth/clients.ts): the organization that
-- receives what the client reads (a FHIR reference, 'Organization/<id>') and the v3-ActReason
-- codes it may ask for with a purpose/<CODE> scope. Existing clients get none: their tokens
-- carry no purpose, as before.
ALTER TABLE oauth_client ADD COLUMN organization text;
ALTER TABLE oauth_client ADD COLUMN purposes text[] NOT NULL DEFAULT '{}';
