"""Workflows that combine prediction (:mod:`dronefast.inference`) and landing analysis (:mod:`dronefast.landing`):
landing spots along a drone video (:mod:`.video`)."""
