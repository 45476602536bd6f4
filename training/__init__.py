"""DeepSpeed training jobs over published shards (DESIGN §9): data (versions, chat masks, packing, CPT
mixing), the engine, CPT and SFT trainers, RL (training/rl), merging, launchers and the tiny test model.

Plain Python: never imports prefect or flows (the flows in flows/train.py wrap it).
"""
