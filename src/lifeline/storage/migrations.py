"""Schema migrations, applied in order by `lifeline db upgrade` (and at server start).

Each migration is forward-only and never drops data. Most only add (tables, columns with defaults,
indexes), so that processes of the version before keep working on the newer schema; one that
builds record tables again in a new shape (`rewrites`, keeping every value) is applied by
`lifeline db upgrade` with the processes stopped. The applied versions are recorded in
`schema_migration`.
A migration is one SQL script for both dialects; `{json}`, `{real}`, `{autoinc_pk}`, `{sequence_pk}` and
`{pattern_ops}` (an index operator class that lets PostgreSQL use an index for a prefix LIKE)
differ between them.
"""

from __future__ import annotations

from dataclasses import dataclass

from lifeline.storage import param_numbers
from lifeline.storage.packing import PACK_JSON_STATE


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str  # dialect placeholders: {json} {real} {pattern_ops} {autoinc_pk}
    postgresql: str = ""  # run after `sql` on PostgreSQL only (planner statistics and the like)
    sqlite: str = ""  # run after `sql` on SQLite only (where the two read JSON differently)
    # Builds record tables again in a shape older code cannot write: applied by `lifeline db
    # upgrade` (with the database's processes stopped), never by a serving process's start on a
    # database that holds resources (storage/migrate.py).
    rewrites: bool = False


_INDEX_TABLES = {
    "search_string": "normalized TEXT NOT NULL, exact TEXT NOT NULL",
    "search_token": "system TEXT, code TEXT, text TEXT",
    "search_date": "low BIGINT NOT NULL, high BIGINT NOT NULL",
    "search_number": "value {real} NOT NULL, low {real} NOT NULL, high {real} NOT NULL",
    "search_quantity": (
        "value {real} NOT NULL, low {real} NOT NULL, high {real} NOT NULL, system TEXT, code TEXT, unit TEXT"
    ),
    "search_reference": "target_type TEXT, target_id TEXT, url TEXT",
    "search_uri": "value TEXT NOT NULL",
}

_INDEX_LOOKUPS = {
    "search_string": "param, normalized {pattern_ops}",
    "search_token": "param, code, system",
    "search_date": "param, low, high",
    "search_number": "param, value",
    "search_quantity": "param, code, value",
    "search_reference": "param, target_id, target_type",
    "search_uri": "param, value",
}


def _initial_schema() -> str:
    parts = [
        # The current version of every resource: the row a read-by-id hits.
        """
        CREATE TABLE resource (
            res_type TEXT NOT NULL,
            res_id TEXT NOT NULL,
            version_id BIGINT NOT NULL,
            last_updated TEXT NOT NULL,
            deleted BOOLEAN NOT NULL,
            content {json},
            PRIMARY KEY (res_type, res_id)
        );
        CREATE INDEX resource_type_updated ON resource (res_type, last_updated);
        """,
        # Every version ever written: at once the history (ordered by write_id, the order writes
        # began) and the change feed site nodes replicate from (ordered by change_seq, the one
        # gap-free global change number). See storage/sequencing.py for how numbers are given.
        """
        CREATE TABLE resource_version (
            write_id {autoinc_pk},
            change_seq BIGINT UNIQUE,
            res_type TEXT NOT NULL,
            res_id TEXT NOT NULL,
            version_id BIGINT NOT NULL,
            last_updated TEXT NOT NULL,
            deleted BOOLEAN NOT NULL,
            method TEXT NOT NULL,
            node_id TEXT NOT NULL,
            content {json},
            UNIQUE (res_type, res_id, version_id)
        );
        CREATE INDEX resource_version_unnumbered ON resource_version (write_id) WHERE change_seq IS NULL;
        CREATE INDEX resource_version_updated ON resource_version (last_updated);
        CREATE INDEX resource_version_type_updated ON resource_version (res_type, last_updated);
        """,
        # One row holding the last change number handed out.
        """
        CREATE TABLE change_counter (
            id INTEGER PRIMARY KEY,
            last_seq BIGINT NOT NULL
        );
        INSERT INTO change_counter (id, last_seq) VALUES (1, 0);
        """,
    ]
    for table, columns in _INDEX_TABLES.items():
        parts.append(
            f"""
            CREATE TABLE {table} (
                res_type TEXT NOT NULL,
                res_id TEXT NOT NULL,
                param TEXT NOT NULL,
                {columns}
            );
            CREATE INDEX {table}_owner ON {table} (res_type, res_id);
            CREATE INDEX {table}_lookup ON {table} (res_type, {_INDEX_LOOKUPS[table]});
            """
        )
    return "\n".join(parts)


# https://hl7.org/fhir/R4/search.html#composite — one row per combination of component values
# found in one element, so that `code-value-quantity` pairs a code with its own value. Component k
# fills the c{k}_ columns of its type (lifeline.storage.index_rows.COMPOSITE_LAYOUT; the order of
# the columns is that of COMPOSITE_COLUMNS, which COPY relies on). Written out here rather than
# generated, so that the migration stays what it was when applied. The lookup index ends in the
# second component's number, the value of the common `code-value-quantity=…|…$gt140`.
_COMPOSITE_INDEX = """
CREATE TABLE search_composite (
    res_type TEXT NOT NULL,
    res_id TEXT NOT NULL,
    param TEXT NOT NULL,
    c1_system TEXT,
    c1_code TEXT,
    c1_target_type TEXT,
    c1_target_id TEXT,
    c1_url TEXT,
    c2_system TEXT,
    c2_code TEXT,
    c2_value {real},
    c2_low {real},
    c2_high {real},
    c2_unit TEXT,
    c2_date_low BIGINT,
    c2_date_high BIGINT,
    c2_normalized TEXT,
    c2_exact TEXT,
    c2_target_type TEXT,
    c2_target_id TEXT,
    c2_url TEXT,
    c2_uri TEXT,
    c3_value {real},
    c3_low {real},
    c3_high {real}
);
CREATE INDEX search_composite_owner ON search_composite (res_type, res_id);
CREATE INDEX search_composite_lookup ON search_composite (res_type, param, c1_code, c1_system, c2_value);
"""

# "This patient's glucose results, newest first" (`Observation?subject=Patient/1&code=…|…&_sort=-date`)
# in one index range read a page at a time, however many results the patient or the region holds
# of that code (issue 27; storage/index_rows.SubjectCodeEntry, search/extract/subject_code.py).
# One row per typed subject and coded concept (system and code) of the resources of the types
# that have all three parameters, `latest` being the largest end of their `date` values, or one
# below every date (NO_DATE) without one. The backfill reads the rows the other index tables
# already hold; written out rather than generated, as the migrations are.
_SUBJECT_CODE_INDEX = """
CREATE TABLE search_subject_code (
    res_type TEXT NOT NULL,
    res_id TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    system TEXT NOT NULL,
    code TEXT NOT NULL,
    latest BIGINT NOT NULL
);
INSERT INTO search_subject_code
    SELECT DISTINCT s.res_type, s.res_id, s.target_type, s.target_id, t.system, t.code,
        COALESCE(
            (SELECT MAX(d.high) FROM search_date d
             WHERE d.res_type = s.res_type AND d.res_id = s.res_id AND d.param = 'date'),
            -4611686018427387905)
    FROM search_reference s
    JOIN search_token t ON t.res_type = s.res_type AND t.res_id = s.res_id AND t.param = 'code'
    WHERE s.param = 'subject' AND s.target_type IS NOT NULL AND s.target_id IS NOT NULL
        AND t.system IS NOT NULL AND t.code IS NOT NULL
        AND s.res_type IN ('DiagnosticReport', 'List', 'MedicationRequest', 'Observation', 'Procedure');
CREATE INDEX search_subject_code_owner ON search_subject_code (res_type, res_id);
CREATE INDEX search_subject_code_latest
    ON search_subject_code (res_type, subject_id, code, system, subject_type, latest DESC, res_id);
"""

# audit_append(node, recorded, contents): the records' first seq. `sha256(text)` is PostgreSQL's
# own (11+); the hashed text is audit/chain.py's: prev "\n" node "\n" seq "\n" recorded "\n" content.
_AUDIT_APPEND = """
CREATE FUNCTION audit_append(p_node TEXT, p_recorded TEXT, p_contents TEXT[]) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    v_seq BIGINT;
    v_prev TEXT;
    v_first BIGINT;
    v_seqs BIGINT[] := '{}';
    v_prevs TEXT[] := '{}';
    v_hashes TEXT[] := '{}';
    v_content TEXT;
BEGIN
    SELECT seq, hash INTO v_seq, v_prev FROM audit_head WHERE node_id = p_node FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO audit_head (node_id, seq, hash) VALUES (p_node, 0, repeat('0', 64))
            ON CONFLICT (node_id) DO NOTHING;
        SELECT seq, hash INTO v_seq, v_prev FROM audit_head WHERE node_id = p_node FOR UPDATE;
    END IF;
    v_first := v_seq + 1;
    FOREACH v_content IN ARRAY p_contents LOOP
        v_seq := v_seq + 1;
        v_seqs := v_seqs || v_seq;
        v_prevs := v_prevs || v_prev;
        v_prev := encode(sha256(convert_to(
            v_prev || E'\\n' || p_node || E'\\n' || v_seq::TEXT || E'\\n' || p_recorded || E'\\n' || v_content,
            'UTF8')), 'hex');
        v_hashes := v_hashes || v_prev;
    END LOOP;
    INSERT INTO audit_event (node_id, seq, recorded, content, prev_hash, hash)
        SELECT p_node, r.seq, p_recorded, r.content, r.prev_hash, r.hash
        FROM unnest(v_seqs, p_contents, v_prevs, v_hashes) AS r(seq, content, prev_hash, hash);
    UPDATE audit_head SET seq = v_seq, hash = v_prev WHERE node_id = p_node;
    RETURN v_first;
END
$$
"""


# Index rows keyed by parameter number (issue 27, storage/param_numbers.py): each table but
# search_subject_code (which has no parameter) is built again with `pid` where `param` was, its
# lookup index beginning with the number in place of type and code. `search_param` lists the
# numbers for people reading the database. Indexes an interrupted first load left to build later
# (deferred_indexes.py) named the old columns; the new tables come with theirs.
_NUMBERED_LOOKUPS = {
    "search_string": "normalized {pattern_ops}",
    "search_token": "code, system",
    "search_date": "low, high",
    "search_number": "value",
    "search_quantity": "code, value",
    "search_reference": "target_id, target_type",
    "search_uri": "value",
    "search_composite": "c1_code, c1_system, c2_value",
}
_COMPOSITE_VALUE_COLUMNS = """
    c1_system TEXT, c1_code TEXT, c1_target_type TEXT, c1_target_id TEXT, c1_url TEXT,
    c2_system TEXT, c2_code TEXT, c2_value {real}, c2_low {real}, c2_high {real}, c2_unit TEXT,
    c2_date_low BIGINT, c2_date_high BIGINT, c2_normalized TEXT, c2_exact TEXT, c2_target_type TEXT,
    c2_target_id TEXT, c2_url TEXT, c2_uri TEXT, c3_value {real}, c3_low {real}, c3_high {real}
"""


def _column_names(columns: str) -> str:
    return ", ".join(f"s.{part.split()[0]}" for part in columns.split(","))


def _numbered_index_rows() -> str:
    pairs = ",\n".join(
        f"({number}, '{res_type}', '{code.replace(chr(39), chr(39) * 2)}')"
        for number, (res_type, code) in enumerate(param_numbers.numbered(), start=1)
    )
    parts = [
        "CREATE TABLE search_param (pid SMALLINT PRIMARY KEY, res_type TEXT NOT NULL, code TEXT NOT NULL)",
        f"INSERT INTO search_param (pid, res_type, code) VALUES\n{pairs}",
        "CREATE UNIQUE INDEX search_param_code ON search_param (res_type, code)",
    ]
    tables = {**_INDEX_TABLES, "search_composite": _COMPOSITE_VALUE_COLUMNS}
    for table, columns in tables.items():
        parts += [
            f"CREATE TABLE {table}_numbered (res_type TEXT NOT NULL, res_id TEXT NOT NULL, pid SMALLINT NOT NULL,"
            f" {columns})",
            f"INSERT INTO {table}_numbered SELECT s.res_type, s.res_id, p.pid, {_column_names(columns)} FROM {table} s"
            " JOIN search_param p ON p.res_type = s.res_type AND p.code = s.param",
            f"DROP TABLE {table}",
            f"ALTER TABLE {table}_numbered RENAME TO {table}",
            f"CREATE INDEX {table}_owner ON {table} (res_type, res_id)",
            f"CREATE INDEX {table}_lookup ON {table} (pid, {_NUMBERED_LOOKUPS[table]})",
            f"DELETE FROM deferred_index WHERE name IN ('{table}_owner', '{table}_lookup')",
        ]
    parts += [
        "CREATE INDEX search_reference_target ON search_reference (target_id, target_type)",
        "DELETE FROM deferred_index WHERE name = 'search_reference_target'",
    ]
    return ";\n".join(parts)


MIGRATIONS: list[Migration] = [
    Migration(1, "resources, versions, change sequence and search indexes", _initial_schema()),
    Migration(2, "composite search index", _COMPOSITE_INDEX),
    # $everything, _revinclude and _has look references up by their target, whatever the source
    # type. PostgreSQL also learns that type, parameter and target type go together: without
    # these statistics it estimated 188 rows where 20,000 matched and chose nested loops.
    Migration(
        3,
        "reference lookup by target",
        "CREATE INDEX search_reference_target ON search_reference (target_id, target_type)",
        postgresql="CREATE STATISTICS search_reference_kinds (dependencies, ndistinct)"
        " ON res_type, param, target_type FROM search_reference",
    ),
    # A first load drops the secondary indexes and builds them at its end (storage/
    # deferred_indexes.py); their definitions wait here meanwhile.
    Migration(
        4,
        "indexes deferred by a first load",
        "CREATE TABLE deferred_index (name TEXT PRIMARY KEY, definition TEXT NOT NULL)",
    ),
    # No query filters on a resource's JSON, so its statistics only made each ANALYZE (run after
    # every import) read and summarise every sampled document: a third of its time.
    Migration(
        5,
        "no planner statistics on resource content",
        "",
        postgresql="ALTER TABLE resource ALTER COLUMN content SET STATISTICS 0;"
        " ALTER TABLE resource_version ALTER COLUMN content SET STATISTICS 0",
    ),
    # What one node keeps to itself and never replicates (identity/state.py): its sealed private
    # signing key, web sessions, login counters, issued codes and refresh tokens, used assertion
    # ids. `expires_at` in seconds since 1970; NULL never.
    Migration(
        6,
        "node-local state",
        "CREATE TABLE node_state (name TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at BIGINT);"
        " CREATE INDEX node_state_expiry ON node_state (expires_at)",
    ),
    # The tamper-evident audit trail (audit/): one hash chain per node, so that a site node cut
    # off from the centre keeps its own and the region's trail merges by (node_id, seq). Content
    # is plain TEXT, never JSONB: the hash covers the exact canonical text, which JSONB would
    # rewrite. The primary keys are all that verification needs: it walks (node_id, seq) in order.
    Migration(
        7,
        "tamper-evident audit trail",
        """
        CREATE TABLE audit_event (
            node_id TEXT NOT NULL,
            seq BIGINT NOT NULL,
            recorded TEXT NOT NULL,
            content TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL,
            PRIMARY KEY (node_id, seq)
        );
        CREATE TABLE audit_head (node_id TEXT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL);
        CREATE TABLE audit_checkpoint (
            node_id TEXT NOT NULL,
            seq BIGINT NOT NULL,
            hash TEXT NOT NULL,
            signed_at TEXT NOT NULL,
            signature TEXT NOT NULL,
            PRIMARY KEY (node_id, seq)
        );
        """,
    ),
    # Replication between the centre and the hospitals' site nodes (replication/). A site writes
    # every local change to its outbox in the change's own transaction, and pushes the outbox to
    # the centre (at once while connected, on healing after a cut); the centre remembers each
    # (site, local_seq) it has taken, in the transaction that takes it, so a push that is cut off
    # half-way and sent again applies nothing twice. Outbox numbers are never handed out twice
    # (rows are deleted once sent); `node_id` there is the site and its database's incarnation,
    # so a site rebuilt from scratch starts a new series.
    Migration(
        8,
        "replication outbox and applied site changes",
        """
        CREATE TABLE replication_outbox (
            local_seq {sequence_pk},
            request_tag TEXT,
            res_type TEXT NOT NULL,
            res_id TEXT NOT NULL,
            version_id BIGINT NOT NULL,
            deleted BOOLEAN NOT NULL,
            method TEXT NOT NULL,
            last_updated TEXT NOT NULL,
            content TEXT
        );
        CREATE TABLE replication_applied (
            node_id TEXT NOT NULL,
            local_seq BIGINT NOT NULL,
            outcome TEXT NOT NULL,
            PRIMARY KEY (node_id, local_seq)
        );
        """,
    ),
    # AuditEvent search (audit/index.py): each record's patients, agents, action, outcome and
    # kinds as (param, value) rows, keyed to be read newest first for one value; written after
    # the records commit (never on an answer's path) up to `audit_indexed` per node.
    Migration(
        9,
        "audit search index",
        """
        CREATE TABLE audit_index (
            param TEXT NOT NULL,
            value TEXT NOT NULL,
            recorded TEXT NOT NULL,
            node_id TEXT NOT NULL,
            seq BIGINT NOT NULL,
            PRIMARY KEY (param, value, recorded, node_id, seq)
        );
        CREATE TABLE audit_indexed (node_id TEXT PRIMARY KEY, seq BIGINT NOT NULL);
        CREATE INDEX audit_event_recorded ON audit_event (recorded, node_id, seq);
        """,
    ),
    # Retention (audit/prune.py): where each chain now begins, once records older than the
    # retention period were removed by `lifeline audit prune`, signed by the node that pruned.
    Migration(
        10,
        "audit retention anchors",
        """
        CREATE TABLE audit_pruned (
            node_id TEXT PRIMARY KEY,
            seq BIGINT NOT NULL,
            hash TEXT NOT NULL,
            before TEXT NOT NULL,
            signature TEXT NOT NULL
        );
        """,
    ),
    # The audit chain's append, on PostgreSQL, in the database (audit/store.py): one statement
    # locks the node's head, numbers and hashes the records by the rule of audit/chain.py, writes
    # them and moves the head. A group commit is one round trip, and the head is locked only
    # while the database works, never across a round trip to the server. SQLite appends in
    # Python (its one writer never waits for a lock). Verification always hashes in Python, so a
    # record hashed here that differed from the rule would fail every chain check.
    Migration(11, "audit append in the database", "", postgresql=_AUDIT_APPEND),
    # A write's audit record, in the write's own transaction (audit/outbox.py): committed with the
    # write or not at all, so a write that commits is never without its record, and the write
    # does not wait on the chain's head. The recorder moves these rows into the node's chain,
    # deleting them in the transaction that appends them.
    Migration(
        12,
        "audit outbox of writes",
        "CREATE TABLE audit_outbox (id {sequence_pk}, node_id TEXT NOT NULL, content TEXT NOT NULL)",
    ),
    # The open conflicts (fhir/conflicts.py), counted for the public /status.json and
    # /metrics from this partial index alone (Session.open_conflict_count), never by reading every
    # conflict ever recorded (issue 20). Its condition must stay written as that count writes it.
    Migration(
        13,
        "open conflicts counted by an index",
        "",
        postgresql="CREATE INDEX resource_open_conflict ON resource (res_type, res_id)"
        " WHERE res_type = '_Conflict' AND content->>'status' = 'open'",
        sqlite="CREATE INDEX resource_open_conflict ON resource (res_type, res_id)"
        " WHERE res_type = '_Conflict' AND json_extract(content, '$.status') = 'open'",
    ),
    # Incidents and their timeline (status/incidents.py, issue 23): node-local, never versioned
    # nor replicated, written by operators through `lifeline incidents`. The open ones are read
    # for every /status answer and page banner by the partial index alone.
    Migration(
        14,
        "incidents and their updates",
        """
        CREATE TABLE status_incident (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            impact TEXT NOT NULL,
            status TEXT NOT NULL,
            components TEXT NOT NULL,
            began TEXT NOT NULL,
            resolved_at TEXT,
            expected_back TEXT
        );
        CREATE INDEX status_incident_open ON status_incident (began) WHERE resolved_at IS NULL;
        CREATE INDEX status_incident_resolved ON status_incident (resolved_at);
        CREATE TABLE status_incident_update (
            incident_id TEXT NOT NULL,
            seq BIGINT NOT NULL,
            at TEXT NOT NULL,
            status TEXT NOT NULL,
            text TEXT NOT NULL,
            author TEXT NOT NULL,
            PRIMARY KEY (incident_id, seq)
        );
        """,
    ),
    # Downtime identifiers (downtime/reentry.py, issue 23): those each label sheet issued, the
    # patient each was linked to afterwards (by whom, when), and what was entered against each
    # from paper. Node-local like the incidents: the sheet is printed by, and re-entered at, the
    # node that made it; what is entered is FHIR, written through the core and replicated.
    Migration(
        15,
        "downtime identifiers and their re-entry",
        """
        CREATE TABLE downtime_label (
            identifier TEXT PRIMARY KEY,
            site TEXT NOT NULL,
            sheet TEXT NOT NULL,
            patient_id TEXT,
            linked_by TEXT,
            linked_at TEXT
        );
        CREATE INDEX downtime_label_sheet ON downtime_label (sheet);
        CREATE TABLE downtime_entry (
            identifier TEXT NOT NULL,
            form_key TEXT NOT NULL,
            kind TEXT NOT NULL,
            resources TEXT NOT NULL,
            care_time TEXT NOT NULL,
            entered_by TEXT NOT NULL,
            entered_at TEXT NOT NULL,
            PRIMARY KEY (identifier, form_key)
        );
        """,
    ),
    # FHIR Bulk Data $export (bulk/export_jobs.py, issue 26): each job's state, and its NDJSON
    # files in parts of at most a few thousand lines, in the database so that any process of the
    # node can answer a poll or a download and a restart loses nothing. Expired with the job.
    Migration(
        16,
        "bulk data export jobs and their files",
        """
        CREATE TABLE bulk_export_job (
            id TEXT PRIMARY KEY,
            client_id TEXT NOT NULL,
            request TEXT NOT NULL,
            parameters TEXT NOT NULL,
            status TEXT NOT NULL,
            transaction_time TEXT,
            created TEXT NOT NULL,
            expires TEXT NOT NULL,
            heartbeat TEXT,
            progress TEXT,
            error TEXT,
            manifest TEXT
        );
        CREATE INDEX bulk_export_job_expires ON bulk_export_job (expires);
        CREATE TABLE bulk_export_part (
            job_id TEXT NOT NULL,
            file_no INTEGER NOT NULL,
            part_no INTEGER NOT NULL,
            res_type TEXT NOT NULL,
            lines INTEGER NOT NULL,
            content TEXT NOT NULL,
            PRIMARY KEY (job_id, file_no, part_no)
        );
        """,
    ),
    # A read replica's read-your-writes (storage/postgres.py, issue 28): the WAL position after
    # each person's last write, so that whichever process serves their next read knows whether
    # the replica has it yet. PostgreSQL only: SQLite has no replica.
    Migration(
        17,
        "read fences for a read replica",
        "",
        postgresql="CREATE TABLE read_fence (who TEXT PRIMARY KEY, lsn pg_lsn NOT NULL);",
    ),
    Migration(18, "a subject's coded resources by date", _SUBJECT_CODE_INDEX),
    # Each version's JSON once (issue 27): the current version's lives in `resource`, so its
    # version row holds none (storage/write_session.py writes them so from now on).
    Migration(
        19,
        "each version's content stored once",
        """
        UPDATE resource_version SET content = NULL
        WHERE content IS NOT NULL AND EXISTS (
            SELECT 1 FROM resource r WHERE r.res_type = resource_version.res_type
            AND r.res_id = resource_version.res_id AND r.version_id = resource_version.version_id
        );
        """,
    ),
    # Each resource's JSON as the text it was written as (issue 27), on PostgreSQL as on SQLite:
    # JSONB cost PostgreSQL about 6 µs a resource to take in and 7 µs to give back as text,
    # 1,361 bytes for 1,105 of text, and wrote numbers out as `numeric` (`1e2` came back as 100,
    # `-0.0` as 0.0). The open-conflict index reads the status through a cast, as
    # Session.open_conflict_count writes it.
    Migration(
        20,
        "each resource's JSON kept as its text",
        "",
        postgresql="""
        DROP INDEX IF EXISTS resource_open_conflict;
        ALTER TABLE resource ALTER COLUMN content TYPE TEXT USING content::text;
        ALTER TABLE resource_version ALTER COLUMN content TYPE TEXT USING content::text;
        ALTER TABLE resource ALTER COLUMN content SET STATISTICS 0;
        ALTER TABLE resource_version ALTER COLUMN content SET STATISTICS 0;
        CREATE INDEX resource_open_conflict ON resource (res_type, res_id)
            WHERE res_type = '_Conflict' AND content::jsonb->>'status' = 'open';
        """,
    ),
    # Each resource's JSON packed (storage/packing.py, issue 27) from the start on a database
    # that holds none yet. One that does may still be served by processes of a version that
    # cannot read packed JSON (a rolling upgrade): its writes pack once `lifeline db repack`
    # turns this on, after every process is upgraded.
    Migration(
        21,
        "pack each resource's JSON on a new database",
        f"""
        INSERT INTO node_state (name, value, expires_at)
            SELECT '{PACK_JSON_STATE}', 'on', NULL WHERE NOT EXISTS (SELECT 1 FROM resource);
        """,
    ),
    # Index rows name their parameter by number (issue 27): older code cannot write them, so a
    # database in use is upgraded with its processes stopped (docs/operations.md, Upgrades).
    Migration(
        22,
        "index rows keyed by parameter number",
        _numbered_index_rows(),
        postgresql="CREATE STATISTICS search_reference_kinds (dependencies, ndistinct)"
        " ON pid, target_type FROM search_reference",
        rewrites=True,
    ),
]

# Every index table a resource's rows go to (and are deleted from when it changes).
INDEX_TABLES = (*_INDEX_TABLES, "search_composite", "search_subject_code")
