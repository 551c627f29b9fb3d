"""Generates the asr.v1 gRPC stubs before setuptools looks for packages (metadata: pyproject.toml).

The stubs live in the `asr` package at the project root, generated, never committed; generating
here means `pip install .` and `pip install -e .` ship them without a separate step.
"""
import runpy
from pathlib import Path

from setuptools import setup

runpy.run_path(str(Path(__file__).resolve().parent / "proto" / "generate.py"))["generate"]()
setup()
