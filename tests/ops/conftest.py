"""Fixtures of the ops suite (metrics, dashboards, alerts against a real Prometheus)."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
