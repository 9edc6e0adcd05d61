"""The chaos soak's parts, run by ``bench/chaos.py``: users, fault schedule, oracle."""
