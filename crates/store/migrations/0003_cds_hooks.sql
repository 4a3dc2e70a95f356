-- CDS Hooks (crates/server): the JWT ids already accepted (so that none is accepted twice before
-- it expires, across replicas), the cards issued (so that feedback joins to the model version and
-- task that gave the card), and the clinicians' feedback per tenant. Portable SQL: TEXT and
-- BIGINT only. No patient identifier is stored.

CREATE TABLE cds_jti (
    issuer TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, jti)
);

CREATE TABLE cds_cards (
    uuid TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    service TEXT NOT NULL,
    model_version TEXT NOT NULL,
    task TEXT NOT NULL,
    band TEXT NOT NULL,
    issued_at TEXT NOT NULL
);

-- One row per card outcome reported. The clinician's free-text comment may name the patient: it
-- is not stored, only whether there was one.
CREATE TABLE cds_feedback (
    tenant TEXT NOT NULL,
    client TEXT NOT NULL,
    service TEXT NOT NULL,
    card TEXT NOT NULL,
    outcome TEXT NOT NULL,
    override_reason TEXT,
    commented TEXT NOT NULL,
    outcome_at TEXT,
    received_at TEXT NOT NULL
);

CREATE INDEX cds_feedback_by_tenant ON cds_feedback (tenant, service);
