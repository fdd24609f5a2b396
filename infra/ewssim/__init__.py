"""A local Exchange Web Services simulator that exchangelib talks to over real HTTP."""

from infra.ewssim.faults import FaultKind, FaultPlan, FaultRule
from infra.ewssim.server import EwsSimulator, SoapOutcome

__all__ = ["EwsSimulator", "FaultKind", "FaultPlan", "FaultRule", "SoapOutcome"]
