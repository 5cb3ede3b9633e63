"""Bimodal (audio + lyrics) training on MERGE: settings, data, Lightning module, task plugin and prediction.

Nothing is registered at import time: the runner finds the plugin in `sonolab.train.tasks.TASK_PLUGINS`.
"""
