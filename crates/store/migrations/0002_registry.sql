-- The model registry (crates/registry): versions, their transitions (never edited), gate
-- evaluations, and current deployments. Portable SQL: TEXT and BIGINT only.

-- One row per registered model version. `state` is the latest transition's, kept here so that
-- serving can read it in one lookup; the transitions are the record.
CREATE TABLE registry_versions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    version BIGINT NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    bundle TEXT NOT NULL,
    signed_by TEXT NOT NULL,
    owner TEXT NOT NULL,
    state TEXT NOT NULL,
    registered_by TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    UNIQUE (name, version)
);

-- Every change of state, in order per version: who, in which role, when, why, from what.
CREATE TABLE registry_transitions (
    version_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    action TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (version_id, seq)
);

-- Every gate evaluation, passed or not: the policy (its text's SHA-256 and the policy as read),
-- each gate's figure and verdict.
CREATE TABLE registry_evaluations (
    version_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    policy_name TEXT NOT NULL,
    policy_sha256 TEXT NOT NULL,
    policy TEXT NOT NULL,
    passed BIGINT NOT NULL,
    gates TEXT NOT NULL,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (version_id, seq)
);

-- Where each version answers now: one row per version and site; `mode` is `active` (its answers
-- are returned) or `shadow` (scored and logged beside the active one, never returned).
CREATE TABLE registry_deployments (
    version_id TEXT NOT NULL,
    site TEXT NOT NULL,
    mode TEXT NOT NULL,
    deployed_by TEXT NOT NULL,
    deployed_at TEXT NOT NULL,
    PRIMARY KEY (version_id, site)
);
