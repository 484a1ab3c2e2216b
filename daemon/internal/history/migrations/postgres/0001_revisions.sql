CREATE TABLE revisions (
	id BIGSERIAL PRIMARY KEY,
	time_us BIGINT NOT NULL,
	source TEXT NOT NULL,
	source_revision TEXT,
	actor TEXT NOT NULL DEFAULT '',
	rejected BOOLEAN NOT NULL DEFAULT FALSE,
	problems JSONB NOT NULL DEFAULT '[]',
	UNIQUE (source, source_revision)
);
CREATE INDEX revisions_time ON revisions (time_us, id);
CREATE TABLE revision_changes (
	revision_id BIGINT NOT NULL REFERENCES revisions (id) ON DELETE CASCADE,
	position INTEGER NOT NULL,
	flag TEXT NOT NULL,
	kind TEXT NOT NULL,
	diff JSONB NOT NULL DEFAULT '[]',
	PRIMARY KEY (revision_id, position)
);
CREATE INDEX revision_changes_flag ON revision_changes (flag, revision_id);
