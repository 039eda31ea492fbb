-- Signed-in people. The cookie holds a random session id; only its SHA-256 is kept here, so a
-- copy of this table signs nobody in. `tokens`: the identity provider's access and refresh token
-- (OpenID Connect); null on the embedded default, where the board signs short API tokens itself.
CREATE TABLE board_sessions (
    id_hash     bytea       PRIMARY KEY,
    person      text        NOT NULL,
    csrf        text        NOT NULL,
    language    text,
    tokens      jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    seen_at     timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX board_sessions_expiry ON board_sessions (expires_at);

-- One-time sign-in links (`thuisbest login`): a link's token id, once used, never signs in again.
CREATE TABLE board_signin_links (
    jti      text        PRIMARY KEY,
    person   text        NOT NULL,
    used_at  timestamptz NOT NULL DEFAULT now()
);

-- OpenID Connect sign-ins under way: the state and the PKCE code verifier until the provider
-- sends the person back (at most 10 minutes).
CREATE TABLE board_pending_signins (
    state          text        PRIMARY KEY,
    code_verifier  text        NOT NULL,
    nonce          text        NOT NULL,
    return_to      text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
