"""Build shim: all metadata lives in pyproject.toml; this only names the cffi module."""

from setuptools import setup

setup(cffi_modules=["native/build_core.py:ffibuilder"])
