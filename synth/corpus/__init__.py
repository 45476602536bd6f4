"""Getting pages in: local HTML directories, WARC files, text corpora, the polite crawler, extraction."""
