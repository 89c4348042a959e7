-- Consent remembered per patient as well as per user, app and scopes (issue 9): approving app X
-- for patient A must not silently approve it for patient B. '' = a grant without a patient in
-- context (e.g. a standalone clinician app with user/ scopes). Approvals remembered before this
-- migration carry '' and so still skip the consent screen only for grants without a patient;
-- a grant with a patient asks once more.
ALTER TABLE consent_approval ADD COLUMN patient text NOT NULL DEFAULT '';
ALTER TABLE consent_approval DROP CONSTRAINT consent_approval_pkey;
ALTER TABLE consent_approval ADD PRIMARY KEY (tenant, user_id, client_id, patient, scope);
