"""Governance: the unit tree, real-name operators, sending scope, the admission policy, campaign approval,
audit log, accounting."""

from taxsms.governance.accounting import Accounting, QuotaCheck, QuotaLevel, UsageReport, quota_level, roll_up
from taxsms.governance.audit import Action, AuditEntry, AuditLog, Verification
from taxsms.governance.campaigns import Campaign, CampaignBook, CampaignState, CampaignStatus, sign
from taxsms.governance.errors import NotFound, OutOfScope, PermissionDenied
from taxsms.governance.operators import Operator, OperatorBook, Role, Status, manage_refusal
from taxsms.governance.scope import UpstreamCredential, authorize_upstream, check_send, send_refusal
from taxsms.governance.units import Level, Unit, UnitError, UnitTree, load_units, save_units

__all__ = [
    "Accounting",
    "Action",
    "AuditEntry",
    "AuditLog",
    "Campaign",
    "CampaignBook",
    "CampaignState",
    "CampaignStatus",
    "Level",
    "NotFound",
    "Operator",
    "OperatorBook",
    "OutOfScope",
    "PermissionDenied",
    "QuotaCheck",
    "QuotaLevel",
    "Role",
    "Status",
    "Unit",
    "UnitError",
    "UnitTree",
    "UpstreamCredential",
    "UsageReport",
    "Verification",
    "authorize_upstream",
    "check_send",
    "load_units",
    "manage_refusal",
    "quota_level",
    "roll_up",
    "save_units",
    "send_refusal",
    "sign",
]
