"""Corpus ingestion, extraction and (later) graph, tasks, agents, teachers and tools."""
