"""From published shards to token rows: versions by name, chat templates with label masks, CPT text,
packing, and the mixing of CPT stages."""
