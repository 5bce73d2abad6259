"""Fitting of simulated profiles to measured ToF-SIMS depth profiles.

This package is reserved in the layout of INTERFACES.md; it holds no code yet (the fitting
capability is tracked as its own issue).
"""
