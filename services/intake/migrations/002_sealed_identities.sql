-- Identity data is sealed by intake itself (AES-256-GCM, services/intake/identity.py): the keys
-- never reach the database. `key_id` names the key a row is sealed with, `sealed` holds the
-- random nonce and the ciphertext (bound to the case id), `bsn_hash` a keyed hash (HMAC) that
-- finds a BSN without revealing it. Rows stored before are sealed by intake on its next start,
-- which then drops the plaintext columns `birth_date` and `timeout_address`.
ALTER TABLE identities
    ADD COLUMN key_id   text,
    ADD COLUMN sealed   bytea,
    ADD COLUMN bsn_hash bytea,
    ALTER COLUMN birth_date DROP NOT NULL;
CREATE INDEX identities_bsn_hash ON identities (bsn_hash) WHERE bsn_hash IS NOT NULL;
