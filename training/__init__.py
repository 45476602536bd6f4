"""DeepSpeed training jobs over published shards (later issues)."""
