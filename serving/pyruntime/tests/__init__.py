"""Tests of Atelier's Python serving runtime (serve.py and model_service).

Run from the repository root:

    python3 -m unittest discover -s serving/pyruntime -t serving/pyruntime
"""
