"""``edge-transfer demo`` (run.py: the stages and ``run_demo``; options.py; report.py)."""

from .options import DEMO_MARKER, DemoOptions, DemoResult
from .report import summary_table
from .run import run_demo

__all__ = ["DEMO_MARKER", "DemoOptions", "DemoResult", "run_demo", "summary_table"]
