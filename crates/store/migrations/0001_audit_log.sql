-- The audit log (crates/audit): records in append order, the tree's right edge, signed checkpoints.
-- Portable SQL for SQLite and PostgreSQL: TEXT and BIGINT only, ids made by the application.

-- One row per record. `body` is the record's canonical JSON, the bytes its leaf hash covers;
-- `leaf` and `root` (hex) are the leaf hash and the root of the tree the record completed.
CREATE TABLE audit_records (
    idx BIGINT PRIMARY KEY,
    body TEXT NOT NULL,
    leaf TEXT NOT NULL,
    root TEXT NOT NULL
);

-- The single row every append locks first: the log's size and the roots of the perfect subtrees
-- on its right edge (hex, largest first), from which the next root is had without the leaves.
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY,
    size BIGINT NOT NULL,
    peaks TEXT NOT NULL
);
INSERT INTO audit_head (id, size, peaks) VALUES (1, 0, '');

-- Checkpoints the operator signed: the C2SP signed note as written, one per size.
CREATE TABLE audit_checkpoints (
    size BIGINT PRIMARY KEY,
    root TEXT NOT NULL,
    note TEXT NOT NULL,
    signed_at TEXT NOT NULL
);
