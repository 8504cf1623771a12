"""Prune to a speed target (SPDY's formulation, Frantar & Alistarh 2022): a measured per-layer
speed profile of the device (profile.py, ``edge-transfer profile``), and the allocation of each
layer's sparsity that meets a target speedup at the least cost (solve.py, ``prune
--target-speedup X --profile P``)."""

from .record import PROFILE_SCHEMA, ProfileKey, SpeedProfile
from .solve import Allocation, allocate

__all__ = ["PROFILE_SCHEMA", "Allocation", "ProfileKey", "SpeedProfile", "allocate"]
