-- e911ctl store, migration 1: the provisioning objects and their revisions.
-- Every object table is temporal: a row lives from rev_added until rev_removed (NULL while current).
-- An update closes the old row and inserts a new one, so any past revision can be read back,
-- diffed and restored. `key` is the object's identity (composite keys joined with '|').
-- Indexes are few on purpose: each one is paid for by every row of a million-row import.

CREATE TABLE revision (
  rev        INTEGER PRIMARY KEY,
  time       TEXT NOT NULL,
  user       TEXT NOT NULL,
  command    TEXT NOT NULL,
  summary    TEXT NOT NULL,
  added      INTEGER NOT NULL DEFAULT 0,
  changed    INTEGER NOT NULL DEFAULT 0,
  removed    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE pstn_usage (
  row_id      INTEGER PRIMARY KEY,
  key         TEXT NOT NULL,
  rev_added   INTEGER NOT NULL,
  rev_removed INTEGER,
  name TEXT,
  position INTEGER,
  description TEXT
);
CREATE UNIQUE INDEX pstn_usage_key ON pstn_usage(key) WHERE rev_removed IS NULL;
CREATE INDEX pstn_usage_removed ON pstn_usage(rev_removed) WHERE rev_removed IS NOT NULL;

CREATE TABLE trunk (
  row_id      INTEGER PRIMARY KEY,
  key         TEXT NOT NULL,
  rev_added   INTEGER NOT NULL,
  rev_removed INTEGER,
  name TEXT,
  description TEXT,
  host TEXT,
  port INTEGER,
  transport TEXT,
  accepts_pidf_lo INTEGER,
  strip_plus INTEGER,
  forward_pai INTEGER,
  request_uri_form TEXT,
  failover_seconds INTEGER,
  options_ping INTEGER,
  options_interval INTEGER
);
CREATE UNIQUE INDEX trunk_key ON trunk(key) WHERE rev_removed IS NULL;
CREATE INDEX trunk_removed ON trunk(rev_removed) WHERE rev_removed IS NOT NULL;

CREATE TABLE voice_route (
  row_id      INTEGER PRIMARY KEY,
  key         TEXT NOT NULL,
  rev_added   INTEGER NOT NULL,
  rev_removed INTEGER,
  name TEXT,
  description TEXT,
  number_pattern TEXT,
  priority INTEGER,
  pstn_usages TEXT,
  trunks TEXT,
  enabled INTEGER
);
CREATE UNIQUE INDEX voice_route_key ON voice_route(key) WHERE rev_removed IS NULL;
CREATE INDEX voice_route_removed ON voice_route(rev_removed) WHERE rev_removed IS NOT NULL;

CREATE TABLE location (
  row_id      INTEGER PRIMARY KEY,
  key         TEXT NOT NULL,
  rev_added   INTEGER NOT NULL,
  rev_removed INTEGER,
  id TEXT,
  description TEXT,
  location TEXT,
  company_name TEXT,
  house_number TEXT,
  house_number_suffix TEXT,
  pre_directional TEXT,
  street_name TEXT,
  street_suffix TEXT,
  post_directional TEXT,
  city TEXT,
  state TEXT,
  postal_code TEXT,
  country TEXT,
  building TEXT,
  floor TEXT,
  unit TEXT,
  room TEXT,
  seat TEXT,
  landmark TEXT,
  elins TEXT,
  latitude REAL,
  longitude REAL,
  validation_status TEXT,
  validated_at TEXT
);
CREATE UNIQUE INDEX location_key ON location(key) WHERE rev_removed IS NULL;
CREATE INDEX location_removed ON location(rev_removed) WHERE rev_removed IS NOT NULL;

CREATE TABLE location_policy (
  row_id      INTEGER PRIMARY KEY,
  key         TEXT NOT NULL,
  rev_added   INTEGER NOT NULL,
  rev_removed INTEGER,
  identity TEXT,
  description TEXT,
  enhanced_emergency_services INTEGER,
  location_required TEXT,
  disclaimer TEXT,
  use_location_for_e911_only INTEGER,
  pstn_usage TEXT,
  emergency_dial_string TEXT,
  emergency_dial_mask TEXT,
  emergency_numbers TEXT,
  notification_uris TEXT,
  conference_uri TEXT,
  conference_mode TEXT,
  location_refresh_interval INTEGER,
  default_location TEXT
);
CREATE UNIQUE INDEX location_policy_key ON location_policy(key) WHERE rev_removed IS NULL;
CREATE INDEX location_policy_removed ON location_policy(rev_removed) WHERE rev_removed IS NOT NULL;
CREATE INDEX location_policy_pstn_usage ON location_policy(pstn_usage) WHERE rev_removed IS NULL AND pstn_usage IS NOT NULL;
CREATE INDEX location_policy_default_location ON location_policy(default_location) WHERE rev_removed IS NULL AND default_location IS NOT NULL;

CREATE TABLE network_region (
  row_id      INTEGER PRIMARY KEY,
  key         TEXT NOT NULL,
  rev_added   INTEGER NOT NULL,
  rev_removed INTEGER,
  name TEXT,
  description TEXT,
  central_site TEXT
);
CREATE UNIQUE INDEX network_region_key ON network_region(key) WHERE rev_removed IS NULL;
CREATE INDEX network_region_removed ON network_region(rev_removed) WHERE rev_removed IS NOT NULL;

CREATE TABLE network_site (
  row_id      INTEGER PRIMARY KEY,
  key         TEXT NOT NULL,
  rev_added   INTEGER NOT NULL,
  rev_removed INTEGER,
  name TEXT,
  description TEXT,
  region TEXT,
  location_policy TEXT,
  default_location TEXT
);
CREATE UNIQUE INDEX network_site_key ON network_site(key) WHERE rev_removed IS NULL;
CREATE INDEX network_site_removed ON network_site(rev_removed) WHERE rev_removed IS NOT NULL;
CREATE INDEX network_site_region ON network_site(region) WHERE rev_removed IS NULL AND region IS NOT NULL;
CREATE INDEX network_site_location_policy ON network_site(location_policy) WHERE rev_removed IS NULL AND location_policy IS NOT NULL;
CREATE INDEX network_site_default_location ON network_site(default_location) WHERE rev_removed IS NULL AND default_location IS NOT NULL;

CREATE TABLE subnet (
  row_id      INTEGER PRIMARY KEY,
  key         TEXT NOT NULL,
  rev_added   INTEGER NOT NULL,
  rev_removed INTEGER,
  subnet TEXT,
  description TEXT,
  site TEXT,
  location TEXT
);
CREATE UNIQUE INDEX subnet_key ON subnet(key) WHERE rev_removed IS NULL;
CREATE INDEX subnet_removed ON subnet(rev_removed) WHERE rev_removed IS NOT NULL;
CREATE INDEX subnet_site ON subnet(site) WHERE rev_removed IS NULL AND site IS NOT NULL;
CREATE INDEX subnet_location ON subnet(location) WHERE rev_removed IS NULL AND location IS NOT NULL;

CREATE TABLE wap (
  row_id      INTEGER PRIMARY KEY,
  key         TEXT NOT NULL,
  rev_added   INTEGER NOT NULL,
  rev_removed INTEGER,
  bssid TEXT,
  description TEXT,
  location TEXT
);
CREATE UNIQUE INDEX wap_key ON wap(key) WHERE rev_removed IS NULL;
CREATE INDEX wap_removed ON wap(rev_removed) WHERE rev_removed IS NOT NULL;
CREATE INDEX wap_location ON wap(location) WHERE rev_removed IS NULL AND location IS NOT NULL;

CREATE TABLE switch (
  row_id      INTEGER PRIMARY KEY,
  key         TEXT NOT NULL,
  rev_added   INTEGER NOT NULL,
  rev_removed INTEGER,
  chassis_id TEXT,
  description TEXT,
  location TEXT
);
CREATE UNIQUE INDEX switch_key ON switch(key) WHERE rev_removed IS NULL;
CREATE INDEX switch_removed ON switch(rev_removed) WHERE rev_removed IS NOT NULL;
CREATE INDEX switch_location ON switch(location) WHERE rev_removed IS NULL AND location IS NOT NULL;

CREATE TABLE port (
  row_id      INTEGER PRIMARY KEY,
  key         TEXT NOT NULL,
  rev_added   INTEGER NOT NULL,
  rev_removed INTEGER,
  chassis_id TEXT,
  port_id TEXT,
  port_id_subtype INTEGER,
  description TEXT,
  location TEXT
);
CREATE UNIQUE INDEX port_key ON port(key) WHERE rev_removed IS NULL;
CREATE INDEX port_removed ON port(rev_removed) WHERE rev_removed IS NOT NULL;
CREATE INDEX port_location ON port(location) WHERE rev_removed IS NULL AND location IS NOT NULL;

CREATE TABLE dial_plan (
  row_id      INTEGER PRIMARY KEY,
  key         TEXT NOT NULL,
  rev_added   INTEGER NOT NULL,
  rev_removed INTEGER,
  name TEXT,
  description TEXT,
  rules TEXT
);
CREATE UNIQUE INDEX dial_plan_key ON dial_plan(key) WHERE rev_removed IS NULL;
CREATE INDEX dial_plan_removed ON dial_plan(rev_removed) WHERE rev_removed IS NOT NULL;

CREATE TABLE sip_user (
  row_id      INTEGER PRIMARY KEY,
  key         TEXT NOT NULL,
  rev_added   INTEGER NOT NULL,
  rev_removed INTEGER,
  sip_uri TEXT,
  display_name TEXT,
  line_uri TEXT,
  location_policy TEXT
);
CREATE UNIQUE INDEX sip_user_key ON sip_user(key) WHERE rev_removed IS NULL;
CREATE INDEX sip_user_removed ON sip_user(rev_removed) WHERE rev_removed IS NOT NULL;
CREATE INDEX sip_user_location_policy ON sip_user(location_policy) WHERE rev_removed IS NULL AND location_policy IS NOT NULL;
