/**
 * The registry's schema as forward-only migrations; `PRAGMA user_version`
 * records how many have run. A database from an older saescope migrates on
 * open; one from a newer saescope is refused rather than damaged.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE features (
     model TEXT NOT NULL,
     sae TEXT NOT NULL,
     feature INTEGER NOT NULL,
     name TEXT,
     description TEXT,
     confidence REAL,
     notes TEXT,
     tags TEXT NOT NULL DEFAULT '[]',
     examples TEXT NOT NULL DEFAULT '[]',
     updated_at TEXT NOT NULL,
     PRIMARY KEY (model, sae, feature)
   );
   CREATE TABLE explanations (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     model TEXT NOT NULL,
     sae TEXT NOT NULL,
     feature INTEGER NOT NULL,
     explanation TEXT NOT NULL,
     source TEXT NOT NULL,
     explainer_model TEXT,
     prompt_version TEXT,
     scores TEXT NOT NULL DEFAULT '{}',
     created_at TEXT NOT NULL
   );
   CREATE INDEX explanations_by_feature ON explanations (model, sae, feature);`,
  `CREATE TABLE dashboards (
     model TEXT NOT NULL,
     sae TEXT NOT NULL,
     feature INTEGER NOT NULL,
     data TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     PRIMARY KEY (model, sae, feature)
   );`,
  `CREATE TABLE steering (
     model TEXT NOT NULL,
     sae TEXT NOT NULL,
     feature INTEGER NOT NULL,
     calibration TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     PRIMARY KEY (model, sae, feature)
   );`,
  `CREATE TABLE llm_cache (
     key TEXT PRIMARY KEY,
     response TEXT NOT NULL,
     created_at TEXT NOT NULL
   );`,
  // Density and max beside each dashboard, so the registry can sort and page every scanned feature without parsing JSON.
  `ALTER TABLE dashboards ADD COLUMN density REAL;
   ALTER TABLE dashboards ADD COLUMN max_act REAL;
   UPDATE dashboards SET density = json_extract(data, '$.density'), max_act = json_extract(data, '$.maxAct');
   CREATE INDEX dashboards_by_sae ON dashboards (model, sae);`,
  // Steering descriptions (sweep --describe): what the LLM saw change, per feature, prompt and magnitude.
  `CREATE TABLE steering_descriptions (
     model TEXT NOT NULL,
     sae TEXT NOT NULL,
     feature INTEGER NOT NULL,
     prompt TEXT NOT NULL,
     magnitude REAL NOT NULL,
     description TEXT NOT NULL,
     similarity REAL,
     method TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     PRIMARY KEY (model, sae, feature, prompt, magnitude)
   );`,
  // Identity (issue 27): models and SAEs by content or hub revision, every location each was seen at, and file hashes by stat signature.
  // Rows keyed by paths are re-keyed to these ids right after this step (migrateKeys.ts).
  `CREATE TABLE models (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     hf_id TEXT,
     revision TEXT,
     status TEXT NOT NULL DEFAULT 'ok',
     first_seen TEXT NOT NULL,
     last_seen TEXT NOT NULL
   );
   CREATE TABLE saes (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     hook TEXT,
     d_in INTEGER,
     d_sae INTEGER,
     architecture TEXT,
     model_name TEXT,
     status TEXT NOT NULL DEFAULT 'ok',
     first_seen TEXT NOT NULL,
     last_seen TEXT NOT NULL
   );
   CREATE TABLE locations (
     kind TEXT NOT NULL,
     identity TEXT NOT NULL,
     path TEXT NOT NULL,
     first_seen TEXT NOT NULL,
     last_seen TEXT NOT NULL,
     PRIMARY KEY (kind, identity, path)
   );
   CREATE INDEX locations_by_path ON locations (kind, path);
   CREATE TABLE file_hashes (
     path TEXT PRIMARY KEY,
     signature TEXT NOT NULL,
     sha256 TEXT NOT NULL
   );`,
  // The word a confidence was given as (low/medium/high), kept beside the number it maps to.
  `ALTER TABLE features ADD COLUMN confidence_label TEXT;`,
  // Calibrations are versioned: every sweep's result is kept with its settings, and presets follow only the one
  // applied last (an application log, so an apply can be undone). The old table held applied calibrations.
  `CREATE TABLE calibrations (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     model TEXT NOT NULL,
     sae TEXT NOT NULL,
     feature INTEGER NOT NULL,
     calibration TEXT NOT NULL,
     settings TEXT NOT NULL DEFAULT '{}',
     created_at TEXT NOT NULL
   );
   CREATE INDEX calibrations_by_feature ON calibrations (model, sae, feature);
   CREATE TABLE calibration_applied (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     model TEXT NOT NULL,
     sae TEXT NOT NULL,
     feature INTEGER NOT NULL,
     calibration_id INTEGER NOT NULL REFERENCES calibrations (id),
     applied_at TEXT NOT NULL
   );
   CREATE INDEX calibration_applied_by_feature ON calibration_applied (model, sae, feature, seq);
   INSERT INTO calibrations (model, sae, feature, calibration, settings, created_at) SELECT model, sae, feature, calibration, '{"migrated":true}', updated_at FROM steering;
   INSERT INTO calibration_applied (model, sae, feature, calibration_id, applied_at) SELECT model, sae, feature, id, created_at FROM calibrations;
   DROP TABLE steering;`,
];

/** The migration after which rows are keyed by identities rather than paths. */
export const IDENTITY_MIGRATION = 7;
