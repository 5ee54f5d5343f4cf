"""The fixed vocabulary of the access policy: roles, levels, categories, actions, codes.

Every value here is a stable snake_case code that is part of the API contract: it is
stored in the audit ledger, sent to the UI and matched by the authorization-matrix test.
Renaming one is a data migration, not a refactor.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Role(StrEnum):
    """Who the actor is in the firm (or outside it)."""

    ADMIN = "admin"
    MANAGER = "manager"  # 主管
    ACCOUNTANT = "accountant"  # 会计
    COMPLIANCE = "compliance"  # 保密专员
    INTERNAL_AUDITOR = "internal_auditor"  # 内部审计
    EXTERNAL_AUDITOR = "external_auditor"  # 外部审计: read-only, time-boxed
    PARTNER = "partner"  # 外部合作方
    CLIENT = "client"  # 客户 (portal user)


class Level(StrEnum):
    """Classification level (分级), ordered public < internal < confidential < secret."""

    PUBLIC = "public"  # 公开
    INTERNAL = "internal"  # 内部
    CONFIDENTIAL = "confidential"  # 机密
    SECRET = "secret"  # noqa: S105 - 绝密, a level name, not a password


# Levels in ascending order; the index is the rank. A dict lookup is the cheapest way to
# compare two levels on the hot path (an ordered enum would need a Python-level __lt__).
LEVELS: tuple[Level, ...] = (Level.PUBLIC, Level.INTERNAL, Level.CONFIDENTIAL, Level.SECRET)
LEVEL_RANK: dict[Level, int] = {level: rank for rank, level in enumerate(LEVELS)}

LEVEL_ZH: dict[Level, str] = {
    Level.PUBLIC: "公开",
    Level.INTERNAL: "内部",
    Level.CONFIDENTIAL: "机密",
    Level.SECRET: "绝密",
}


class Category(StrEnum):
    """Classification category (分类)."""

    FINANCIAL = "financial"  # 财务数据
    BUSINESS_PLAN = "business_plan"  # 业务计划
    PERSONAL = "personal"  # 个人信息
    TRADE_SECRET = "trade_secret"  # noqa: S105 - 公司机密, a category name
    TRANSACTION = "transaction"  # 交易记录
    CONTACT = "contact"  # 联系方式
    OTHER = "other"  # 其他


class Action(StrEnum):
    """What the actor wants to do. Reads of content are the ones that need a purpose."""

    CLIENT_LIST = "client.list"
    CLIENT_VIEW = "client.view"
    CLIENT_CREATE = "client.create"
    CLIENT_UPDATE = "client.update"
    CLIENT_SENSITIVE_READ = "client.sensitive.read"  # decrypt protected record fields
    DOCUMENT_LIST = "document.list"
    DOCUMENT_METADATA = "document.metadata"
    DOCUMENT_READ = "document.read"  # content / stream
    DOCUMENT_DOWNLOAD = "document.download"  # file download, watermarked
    DOCUMENT_UPLOAD = "document.upload"
    DOCUMENT_VERSION = "document.version"
    DOCUMENT_CLASSIFY = "document.classify"
    STAFF_VIEW = "staff.view"
    STAFF_MANAGE = "staff.manage"
    ASSIGNMENT_MANAGE = "assignment.manage"
    AUTHORIZATION_GRANT = "authorization.grant"
    AUTHORIZATION_REVOKE = "authorization.revoke"
    QUERY_REQUEST_CREATE = "query_request.create"
    QUERY_REQUEST_APPROVE = "query_request.approve"
    LEDGER_VIEW = "ledger.view"
    LEDGER_VIEW_CLIENT = "ledger.view_client"  # one client's access history
    ACCESS_REVIEW_MANAGE = "access_review.manage"
    EXPORT_CREATE = "export.create"
    BREAK_GLASS_READ = "break_glass.read"


class ObjectKind(StrEnum):
    """The type of the object an action is applied to."""

    CLIENT = "client"
    RECORD = "record"  # a protected client record (field group) with its own label
    DOCUMENT = "document"
    STAFF = "staff"
    ASSIGNMENT = "assignment"
    AUTHORIZATION = "authorization"
    QUERY_REQUEST = "query_request"
    LEDGER = "ledger"
    ACCESS_REVIEW = "access_review"
    EXPORT = "export"


class ActorStatus(StrEnum):
    """Employment / account status. Only `active` actors can do anything."""

    ACTIVE = "active"
    LEFT = "left"  # 离职
    SUSPENDED = "suspended"


class QueryStatus(StrEnum):
    """Lifecycle of a query request (查询申请). Only `approved` grants anything."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVOKED = "revoked"
    EXPIRED = "expired"


class Obligation(StrEnum):
    """Duties the caller (the vault door) must carry out when it acts on a decision."""

    WATERMARK = "watermark"
    RECORD_PURPOSE = "record_purpose"
    ALERT_COMPLIANCE = "alert_compliance"
    POST_REVIEW = "post_review"
    APPROVAL_REQUIRED = "approval_required"


class Rule(StrEnum):
    """The rule that decided. Stable codes: the ledger stores them and the UI keys on them."""

    # Allowed, and by which path.
    ALLOW_FIRM = "allow_firm"  # role may do this for any client of the firm
    ALLOW_ASSIGNED = "allow_assigned"  # through assignment (manager: department)
    ALLOW_QUERY_REQUEST = "allow_query_request"  # through an approved query request
    ALLOW_AUTHORIZATION = "allow_authorization"  # through a client authorization
    ALLOW_OWN = "allow_own"  # a client reading its own company's data
    ALLOW_BREAK_GLASS = "allow_break_glass"  # emergency read, reviewed afterwards

    # Refused.
    BAD_REQUEST = "bad_request"
    ACTOR_DEPARTED = "actor_departed"
    ACTOR_INACTIVE = "actor_inactive"
    ENGAGEMENT_WINDOW = "engagement_window"
    ROLE_NOT_PERMITTED = "role_not_permitted"
    SELF_APPROVAL = "self_approval"
    NOT_ASSIGNED = "not_assigned"
    NOT_OWN_CLIENT = "not_own_client"
    APPROVAL_REQUIRED = "approval_required"
    AUTHORIZATION_REQUIRED = "authorization_required"
    AUTHORIZATION_REVOKED = "authorization_revoked"
    AUTHORIZATION_EXPIRED = "authorization_expired"
    OUTSIDE_AUTHORIZATION_SCOPE = "outside_authorization_scope"
    CLEARANCE_INSUFFICIENT = "clearance_insufficient"
    MFA_REQUIRED = "mfa_required"
    AGREEMENT_MISSING = "agreement_missing"
    TRAINING_LAPSED = "training_lapsed"
    PURPOSE_REQUIRED = "purpose_required"
    PURPOSE_NOT_ALLOWED = "purpose_not_allowed"
    # A query request covers the object, but was approved for another purpose (F08).
    PURPOSE_NOT_APPROVED = "purpose_not_approved"
    BREAK_GLASS_REASON_REQUIRED = "break_glass_reason_required"
    BREAK_GLASS_NOT_PERMITTED = "break_glass_not_permitted"


# Actions that reveal protected content. They need a stated purpose from `internal` up,
# and they are the only ones an approved query request or break-glass can unlock.
CONTENT_READS: frozenset[Action] = frozenset(
    {
        Action.DOCUMENT_READ,
        Action.DOCUMENT_DOWNLOAD,
        Action.CLIENT_SENSITIVE_READ,
        Action.EXPORT_CREATE,
        Action.BREAK_GLASS_READ,
    }
)

# Actions whose output leaves the system as a file, so it must carry a watermark (F11).
WATERMARKED: frozenset[Action] = frozenset({Action.DOCUMENT_DOWNLOAD, Action.EXPORT_CREATE})

# Purposes offered in the UI (查询目的). Free text is accepted unless a deployment turns
# it off in `PolicyConfig`.
DEFAULT_PURPOSES: tuple[str, ...] = ("记账", "报税", "审计", "工商变更", "客户请求")


#: Role names as the firm says them: (Chinese, English), for reasons people read; the
#: same as the role labels of the accounts app (a test holds them equal).
ROLE_NAMES: Mapping[Role, tuple[str, str]] = MappingProxyType({
    Role.ADMIN: ("管理员", "Administrator"),
    Role.MANAGER: ("主管", "Manager"),
    Role.ACCOUNTANT: ("会计", "Accountant"),
    Role.COMPLIANCE: ("保密专员", "Compliance officer"),
    Role.INTERNAL_AUDITOR: ("内部审计", "Internal auditor"),
    Role.EXTERNAL_AUDITOR: ("外部审计", "External auditor"),
    Role.PARTNER: ("外部合作方", "Partner staff"),
    Role.CLIENT: ("客户", "Client user"),
})

#: Each rule in a few words: (Chinese, English), for lists of decisions such as the audit
#: log, where the full reason (`reasons.reason`, with its role, action and level) is not
#: kept: the ledger stores the rule's code.
RULE_TITLES: Mapping[Rule, tuple[str, str]] = MappingProxyType({
    Rule.ALLOW_FIRM: ("全所权限", "firm-wide role"),
    Rule.ALLOW_ASSIGNED: ("已分配的客户", "assigned client"),
    Rule.ALLOW_QUERY_REQUEST: ("已批准的查询申请", "approved query request"),
    Rule.ALLOW_AUTHORIZATION: ("客户授权", "client authorization"),
    Rule.ALLOW_OWN: ("本企业数据", "own company's data"),
    Rule.ALLOW_BREAK_GLASS: ("紧急访问", "break-glass read"),
    Rule.BAD_REQUEST: ("请求无效", "invalid request"),
    Rule.ACTOR_DEPARTED: ("已离职", "has left the firm"),
    Rule.ACTOR_INACTIVE: ("账号已停用", "account deactivated"),
    Rule.ENGAGEMENT_WINDOW: ("不在审计委托期内", "outside the engagement period"),
    Rule.ROLE_NOT_PERMITTED: ("角色无此权限", "role not permitted"),
    Rule.SELF_APPROVAL: ("不能批准自己的申请", "own request"),
    Rule.NOT_ASSIGNED: ("未分配该客户", "not assigned to the client"),
    Rule.NOT_OWN_CLIENT: ("非本企业", "not the user's own company"),
    Rule.APPROVAL_REQUIRED: ("需经批准的查询申请", "approved query request needed"),
    Rule.AUTHORIZATION_REQUIRED: ("需客户授权", "client authorization needed"),
    Rule.AUTHORIZATION_REVOKED: ("客户授权已撤销", "client authorization revoked"),
    Rule.AUTHORIZATION_EXPIRED: ("客户授权已过期", "client authorization expired"),
    Rule.OUTSIDE_AUTHORIZATION_SCOPE: ("超出授权范围", "outside the authorization's scope"),
    Rule.CLEARANCE_INSUFFICIENT: ("涉密许可不足", "clearance too low"),
    Rule.MFA_REQUIRED: ("需双因素认证", "two-factor session needed"),
    Rule.AGREEMENT_MISSING: ("无有效保密协议", "no valid confidentiality agreement"),
    Rule.TRAINING_LAPSED: ("保密培训已过期", "confidentiality training lapsed"),
    Rule.PURPOSE_REQUIRED: ("需说明查询目的", "purpose needed"),
    Rule.PURPOSE_NOT_ALLOWED: ("查询目的不在允许之列", "purpose not allowed"),
    Rule.PURPOSE_NOT_APPROVED: ("与批准的查询目的不符", "not the approved purpose"),
    Rule.BREAK_GLASS_REASON_REQUIRED: ("紧急访问须说明理由", "break-glass reason needed"),
    Rule.BREAK_GLASS_NOT_PERMITTED: ("不允许紧急访问", "break-glass not permitted"),
})

#: Actions as verb phrases: (Chinese, English), e.g. "may not <phrase>".
ACTION_NAMES: Mapping[Action, tuple[str, str]] = MappingProxyType({
    Action.CLIENT_LIST: ("查看客户列表", "list clients"),
    Action.CLIENT_VIEW: ("查看客户", "view clients"),
    Action.CLIENT_CREATE: ("新建客户", "create clients"),
    Action.CLIENT_UPDATE: ("修改客户资料", "change clients"),
    Action.CLIENT_SENSITIVE_READ: ("查看受保护字段", "open protected fields"),
    Action.DOCUMENT_LIST: ("查看文件列表", "list documents"),
    Action.DOCUMENT_METADATA: ("查看文件信息", "view document details"),
    Action.DOCUMENT_READ: ("读取文件内容", "read document content"),
    Action.DOCUMENT_DOWNLOAD: ("下载文件", "download documents"),
    Action.DOCUMENT_UPLOAD: ("上传文件", "upload documents"),
    Action.DOCUMENT_VERSION: ("上传文件新版本", "add document versions"),
    Action.DOCUMENT_CLASSIFY: ("修改文件分级", "reclassify documents"),
    Action.STAFF_VIEW: ("查看员工名录", "view the staff directory"),
    Action.STAFF_MANAGE: ("管理员工账户", "manage staff accounts"),
    Action.ASSIGNMENT_MANAGE: ("分配客户", "assign clients"),
    Action.AUTHORIZATION_GRANT: ("授予客户授权", "grant client authorizations"),
    Action.AUTHORIZATION_REVOKE: ("撤销客户授权", "revoke client authorizations"),
    Action.QUERY_REQUEST_CREATE: ("提交查询申请", "submit query requests"),
    Action.QUERY_REQUEST_APPROVE: ("审批查询申请", "approve query requests"),
    Action.LEDGER_VIEW: ("查看审计日志", "view the audit log"),
    Action.LEDGER_VIEW_CLIENT: ("查看客户的访问记录", "view a client's access history"),
    Action.ACCESS_REVIEW_MANAGE: ("管理权限复核", "manage access reviews"),
    Action.EXPORT_CREATE: ("导出数据", "export data"),
    Action.BREAK_GLASS_READ: ("发起紧急访问", "make emergency reads"),
})
