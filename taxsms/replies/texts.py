"""The texts of automatic replies, without the signature (the admission policy adds the unit's). Pure functions."""

from __future__ import annotations

from taxsms.replies.inbox import TOPIC, TicketKind
from taxsms.replies.providers import InvoiceResult, Lookup, StatusResult

SUBSCRIBED = "您已成功开通税务短信服务。回复TD可退订。"
UNSUBSCRIBED = "您已退订税务短信服务。回复KT可重新开通。"
INVOICE_HELP = "发票查验请发送：FP 发票代码 发票号码，例如 FP 041001900111 12345678；全电发票直接发送20位发票号码。"
STATUS_HELP = "进度查询请发送：CX 受理编号，例如 CX 2026-000123。"
VOID_STATES = frozenset({"void", "voided", "作废", "红冲", "cancelled"})


def _invoice_name(code: str, number: str) -> str:
    return f"代码{code}，号码{number}" if code else f"号码{number}"


def invoice_reply(result: InvoiceResult) -> str:
    """Genuine (with date and amount when known), voided, not found, or the service's unavailable message."""
    name = _invoice_name(result.code, result.number)
    if result.lookup is Lookup.UNAVAILABLE:
        return result.message
    if result.lookup is Lookup.NOT_FOUND:
        return f"未查询到发票（{name}）的信息，请核对后重新发送，或拨打12366咨询。"
    fields = result.fields
    if fields.get("state", "").lower() in VOID_STATES:
        return f"您查询的发票（{name}）已作废或红冲，请谨慎使用。"
    details = "".join(
        f"，{label}{fields[key]}{unit}"
        for key, label, unit in (("date", "开票日期", ""), ("amount", "金额", "元"))
        if fields.get(key)
    )
    return f"您查询的发票（{name}）信息相符{details}。"


def status_reply(result: StatusResult) -> str:
    if result.lookup is Lookup.UNAVAILABLE:
        return result.message
    if result.lookup is Lookup.NOT_FOUND or not result.status:
        return f"未查询到受理编号{result.reference}的办理信息，请核对后重新发送，或拨打12366咨询。"
    return f"受理编号{result.reference}：{result.status}"


def ticket_reply(kind: TicketKind, ticket_id: str) -> str:
    return f"您的{TOPIC[kind]}已收到，受理编号{ticket_id}，我们将尽快答复。"
